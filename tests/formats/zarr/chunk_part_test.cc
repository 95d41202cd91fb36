// Multi-process saves: ChunkPart cuts the chunks of a WriteArrays call into
// contiguous runs of about equal bytes, and WriteArrays with part/parts
// writes exactly its run (metadata only where asked), so that the parts of
// all processes together are the single-process output, key for key.

#include <catch2/catch.hpp>

#include <map>

#include "formats/zarr/zarr_writer.h"
#include "tests/formats/zarr/zarr_test_util.h"

namespace ockpt::zarr {
namespace {

WriteSpec Spec(Shape shape, Shape chunks, DType dtype = DType::kFloat32) {
  WriteSpec s;
  s.dtype = dtype;
  s.shape = std::move(shape);
  s.chunk_shape = std::move(chunks);
  s.zstd_level = 1;
  return s;
}

TEST_CASE("ChunkPart: contiguous runs covering every chunk once, balanced by bytes") {
  // 4 chunks of 400 B, 1 chunk of 4000 B, 10 chunks of 40 B: 6000 B.
  std::vector<WriteSpec> specs = {Spec({400}, {100}), Spec({1000}, {1000}), Spec({100}, {10})};
  for (int parts : {1, 2, 3, 4, 7, 20}) {
    INFO(parts << " parts");
    uint64_t next = 0;
    for (int p = 0; p < parts; ++p) {
      ChunkRun run = ChunkPart(specs, p, parts);
      CHECK(run.first == next);
      CHECK(run.end >= run.first);
      next = run.end;
    }
    CHECK(next == 15);
  }
  // Two parts: the byte midpoint (3000) falls in the big chunk, which starts
  // at 1600: part 0 is the four small chunks and the big one.
  CHECK(ChunkPart(specs, 0, 2).first == 0);
  CHECK(ChunkPart(specs, 0, 2).end == 5);
  CHECK(ChunkPart(specs, 1, 2).end == 15);
  // One part: everything.
  CHECK(ChunkPart(specs, 0, 1).end == 15);
  // Equal chunks split evenly.
  std::vector<WriteSpec> even = {Spec({64, 8}, {8, 8})};
  for (int p = 0; p < 4; ++p) {
    CHECK(ChunkPart(even, p, 4).first == uint64_t(2 * p));
    CHECK(ChunkPart(even, p, 4).end == uint64_t(2 * p + 2));
  }
}

std::map<std::string, Bytes> WriteAll(const std::vector<ArrayToWrite>& arrays, int part, int parts,
                                      bool metadata, int threads) {
  std::map<std::string, Bytes> out;
  WriteOptions options;
  options.threads = threads;
  options.part = part;
  options.parts = parts;
  options.write_metadata = metadata;
  options.stream_chunks_above = 1000;  // the big array streams
  ValueSink sink;
  sink.put = [&](const std::string& key, ByteView value) {
    REQUIRE(out.count(key) == 0);
    out[key] = Bytes(value);
    return Status::Ok();
  };
  sink.put_streamed = [&](const std::string& key, uint64_t,
                          const std::function<Status(const ValueSink::Append&)>& produce) {
    Bytes value;
    Status s = produce([&](ByteView piece) {
      value.append(piece.data(), piece.size());
      return Status::Ok();
    });
    REQUIRE(out.count(key) == 0);
    out[key] = std::move(value);
    return s;
  };
  REQUIRE(WriteArrays(arrays, sink, options).ok());
  return out;
}

TEST_CASE("WriteArrays part by part gives the single-process keys and values") {
  std::vector<Bytes> data;
  std::vector<ArrayToWrite> arrays;
  auto add = [&](const std::string& name, WriteSpec spec) {
    size_t n = 1;
    for (int64_t d : spec.shape) n *= static_cast<size_t>(d);
    Bytes b(n * SizeOf(spec.dtype), '\0');
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(i * 31 + name.size());
    data.push_back(std::move(b));
    const size_t index = data.size() - 1;
    arrays.push_back({spec, name + "/", name, [&data, index]() -> Result<std::unique_ptr<ArraySource>> {
                        return std::unique_ptr<ArraySource>(new MemoryArraySource(data[index]));
                      }});
  };
  add("a", Spec({37, 5}, {8, 5}));
  add("big", Spec({600}, {600}));  // 2400 B: streamed
  add("c", Spec({9}, {9}, DType::kInt16));
  add("d", Spec({20, 20}, {7, 20}));
  for (int threads : {1, 3}) {
    const auto whole = WriteAll(arrays, 0, 1, true, threads);
    for (int parts : {2, 3, 5, 16}) {
      INFO(parts << " parts, " << threads << " threads");
      std::map<std::string, Bytes> merged;
      for (int p = 0; p < parts; ++p) {
        for (auto& [k, v] : WriteAll(arrays, p, parts, p == 0, threads)) {
          CHECK(merged.count(k) == 0);
          merged[k] = v;
        }
      }
      CHECK(merged == whole);
      // Metadata comes from the process that asks for it only.
      auto part1 = WriteAll(arrays, 1, parts, false, threads);
      for (const auto& [k, v] : part1) CHECK(k.find(".zarray") == std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ockpt::zarr
