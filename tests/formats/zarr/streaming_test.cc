// Streamed chunks (one-chunk Orbax arrays of several GiB): the reader's
// ChunkReader / StreamChunk path and the writer's StreamEncodeChunk /
// WriteArrays(ValueSink) path give the same values as the whole-chunk
// paths, for zarr v2 (none, zstd, zlib, gzip, big-endian) and v3 shards of
// one inner chunk; damage is kDataLoss.

#include <catch2/catch.hpp>

#include <cstring>

#include "formats/zarr/zarr_array.h"
#include "formats/zarr/zarr_writer.h"
#include "lib/compression/compression.h"
#include "tests/formats/zarr/zarr_test_util.h"

namespace ockpt::zarr {
namespace {

using testing::MemoryKvStore;
using testing::ReadAll;

Bytes Values(size_t n) {
  Bytes data(n, '\0');
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>((i * 7) ^ (i >> 9));
  return data;
}

// Reads through whole chunks, then streamed (threshold 0), and checks they
// agree with `want`.
void CheckBothPaths(const ZarrArray& a, const Bytes& want) {
  ReadOptions whole;
  whole.stream_chunks_above = uint64_t{1} << 62;
  ReadOptions streamed;
  streamed.stream_chunks_above = 0;
  REQUIRE(a.CanStreamChunks());
  CHECK(a.StreamsChunks(streamed));
  if (a.summary().compressor != "none") CHECK_FALSE(a.StreamsChunks(whole));
  Result<Bytes> w = ReadAll(a, whole);
  REQUIRE(w.ok());
  CHECK(*w == want);
  Result<Bytes> s = ReadAll(a, streamed);
  REQUIRE(s.ok());
  CHECK(*s == want);
}

std::string V2Metadata(const char* dtype, const char* compressor, const char* shape,
                       const char* chunks) {
  return fmt::format(
      R"({{"chunks":{},"compressor":{},"dtype":"{}","fill_value":null,"filters":null,)"
      R"("order":"C","shape":{},"zarr_format":2}})",
      chunks, compressor, dtype, shape);
}

TEST_CASE("streamed reads equal whole-chunk reads: v2 codecs, edge chunks, missing chunks") {
  // 37 x 6 int16, chunks of 8 rows: 5 chunks, the last one partial.
  const Bytes le = Values(37 * 6 * 2);
  struct Codec {
    const char* json;
    std::function<Bytes(const Bytes&)> encode;
  };
  const Codec codecs[] = {
      {"null", [](const Bytes& b) { return b; }},
      {R"({"id":"zstd","level":1})", [](const Bytes& b) { return *ZstdCompress(b, 1); }},
      {R"({"id":"zlib","level":1})", [](const Bytes& b) { return *ZlibCompress(b, 1, false); }},
      {R"({"id":"gzip","level":1})", [](const Bytes& b) { return *ZlibCompress(b, 1, true); }},
  };
  for (const Codec& codec : codecs) {
    for (bool big_endian : {false, true}) {
      INFO(codec.json << (big_endian ? " >i2" : " <i2"));
      MemoryKvStore store;
      store.values[".zarray"] = V2Metadata(big_endian ? ">i2" : "<i2", codec.json, "[37,6]", "[8,6]");
      for (int c = 0; c < 5; ++c) {
        if (c == 2) continue;  // missing: fill value (0)
        Bytes chunk(8 * 6 * 2, '\0');
        const size_t rows = std::min(8, 37 - 8 * c);
        std::memcpy(chunk.data(), le.data() + c * 8 * 12, rows * 12);
        if (big_endian) {
          for (size_t i = 0; i < chunk.size(); i += 2) std::swap(chunk[i], chunk[i + 1]);
        }
        store.values[std::to_string(c) + ".0"] = codec.encode(chunk);
      }
      Bytes want = le;
      std::memset(want.data() + 2 * 8 * 12, 0, 8 * 12);
      auto a = ZarrArray::Open(&store, "");
      REQUIRE(a.ok());
      CheckBothPaths(*a, want);

      // Missing chunks are errors when asked.
      ReadOptions strict;
      strict.stream_chunks_above = 0;
      strict.missing_chunks_are_errors = true;
      {
        testing::RecordingWriter w(want.size());
        CHECK(a->Read(w, strict).code() == StatusCode::kDataLoss);
      }
      // A chunk one byte short or one byte long, streamed, is kDataLoss
      // naming the chunk.
      for (int delta : {-1, +1}) {
        MemoryKvStore bad = store;
        Bytes raw(8 * 6 * 2 + (delta > 0 ? 1 : 0), '\x01');
        if (delta < 0) raw.resize(raw.size() - 2);
        bad.values["1.0"] = codec.encode(raw);
        auto b = ZarrArray::Open(&bad, "");
        REQUIRE(b.ok());
        ReadOptions streamed;
        streamed.stream_chunks_above = 0;
        testing::RecordingWriter w(want.size());
        Status st = b->Read(w, streamed);
        CHECK(st.code() == StatusCode::kDataLoss);
        CHECK(st.message().find("'1.0'") != std::string::npos);
      }
    }
  }
}

TEST_CASE("ChunkReader reads and skips in pieces; chains that cannot stream say so") {
  MemoryKvStore store;
  store.values[".zarray"] = V2Metadata("<u1", R"({"id":"zstd","level":3})", "[4000]", "[1000]");
  const Bytes data = Values(4000);
  for (int c = 0; c < 4; ++c) store.values[std::to_string(c)] = *ZstdCompress(data.substr(c * 1000, 1000), 3);
  auto a = ZarrArray::Open(&store, "");
  REQUIRE(a.ok());
  CHECK(a->ChunkBytes() == 1000);
  auto r = a->OpenChunkReader({2});
  REQUIRE(r.ok());
  CHECK((*r)->size() == 1000);
  REQUIRE((*r)->Skip(100).ok());
  Bytes buf(50, '\0');
  REQUIRE((*r)->Read(buf.data(), 50).ok());
  CHECK(buf == data.substr(2100, 50));
  CHECK((*r)->position() == 150);
  CHECK(a->OpenChunkReader({4}).status().code() == StatusCode::kInvalidArgument);

  // Chunks that do not span the trailing dimensions cannot stream.
  MemoryKvStore tiles;
  tiles.values[".zarray"] = V2Metadata("<u1", "null", "[4,4]", "[2,2]");
  auto t = ZarrArray::Open(&tiles, "");
  REQUIRE(t.ok());
  CHECK_FALSE(t->CanStreamChunks());
  CHECK(t->OpenChunkReader({0, 0}).status().code() == StatusCode::kInternal);
}

// The writer's output, through a ValueSink that keeps streamed values.
struct StoreSink {
  MemoryKvStore store;
  int streamed = 0;
  ValueSink Sink() {
    ValueSink sink;
    sink.put = [this](const std::string& key, ByteView value) {
      store.values[key] = Bytes(value);
      return Status::Ok();
    };
    sink.put_streamed = [this](const std::string& key, uint64_t bound,
                               const std::function<Status(const ValueSink::Append&)>& produce) {
      ++streamed;
      Bytes value;
      OCKPT_RETURN_IF_ERROR(produce([&](ByteView piece) {
        value.append(piece.data(), piece.size());
        return Status::Ok();
      }));
      if (value.size() > bound) return InternalError("{} bytes over the bound {}", value.size(), bound);
      store.values[key] = std::move(value);
      return Status::Ok();
    };
    return sink;
  }
};

TEST_CASE("streamed writes read back as the source: v2 and v3, zstd and none, edge chunks") {
  // 3 MiB of float32 rows (shape 768 x 1024), chunks of 300 rows: 3 chunks,
  // the last one padded. Pieces of 1 MiB cross chunk and row boundaries.
  const Shape shape{768, 1024};
  const Bytes data = Values(768 * 1024 * 4);
  for (int format : {2, 3}) {
    for (std::optional<int> level : {std::optional<int>(1), std::optional<int>()}) {
      INFO("zarr " << format << (level ? " zstd" : " none"));
      WriteSpec spec;
      spec.zarr_format = format;
      spec.dtype = DType::kFloat32;
      spec.shape = shape;
      spec.chunk_shape = {300, 1024};
      spec.zstd_level = level;
      REQUIRE(CanStreamEncode(spec));
      std::vector<ArrayToWrite> arrays(1);
      arrays[0].spec = spec;
      arrays[0].prefix = "w/";
      arrays[0].name = "w";
      arrays[0].open = [&]() -> Result<std::unique_ptr<ArraySource>> {
        return std::unique_ptr<ArraySource>(new MemoryArraySource(data));
      };
      StoreSink streamed, whole;
      WriteOptions options;
      options.stream_chunks_above = 0;
      options.threads = 2;
      REQUIRE(WriteArrays(arrays, streamed.Sink(), options).ok());
      CHECK(streamed.streamed == 3);
      options.stream_chunks_above = uint64_t{1} << 62;
      REQUIRE(WriteArrays(arrays, whole.Sink(), options).ok());
      CHECK(whole.streamed == 0);
      REQUIRE(streamed.store.values.size() == whole.store.values.size());
      for (const auto& [key, value] : whole.store.values) {
        INFO(key);
        // Uncompressed chunks and shards are byte-identical; zstd frames
        // may be cut into blocks differently but decode the same.
        if (!level) CHECK(streamed.store.values[key] == value);
        // Both paths set the content checksum flag (the default).
        if (level && key.find(".zarray") == std::string::npos &&
            key.find("zarr.json") == std::string::npos) {
          CHECK((static_cast<uint8_t>(streamed.store.values[key][4]) & 0x04) != 0);
          CHECK((static_cast<uint8_t>(value[4]) & 0x04) != 0);
        }
      }
      auto a = ZarrArray::Open(&streamed.store, "w/");
      REQUIRE(a.ok());
      CheckBothPaths(*a, data);
    }
  }
}

TEST_CASE("streamed writes: source errors name the chunk; tiles cannot stream") {
  WriteSpec spec;
  spec.dtype = DType::kUInt8;
  spec.shape = {10, 10};
  spec.chunk_shape = {5, 5};
  CHECK_FALSE(CanStreamEncode(spec));
  spec.chunk_shape = {5, 10};
  REQUIRE(CanStreamEncode(spec));
  MemoryArraySource short_src(Bytes(99, 'x'));
  Status st = StreamEncodeChunk(spec, {0, 0}, short_src, 1, [](ByteView) { return Status::Ok(); });
  CHECK(st.code() == StatusCode::kInvalidArgument);
  MemoryArraySource src(Bytes(100, 'x'));
  st = StreamEncodeChunk(spec, {1, 0}, src, 1, [](ByteView) { return IoError("disk full"); });
  CHECK(st.code() == StatusCode::kIoError);
}

// A concurrent source (gathered from on the workers) that fails at one offset.
class FailingConcurrentSource final : public ArraySource {
 public:
  FailingConcurrentSource(Bytes data, uint64_t bad) : data_(std::move(data)), bad_(bad) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset <= bad_ && bad_ < offset + n) return IoError("bad sector at {}", bad_);
    std::memcpy(dst, data_.data() + offset, n);
    return Status::Ok();
  }
  bool concurrent() const override { return true; }

 private:
  Bytes data_;
  uint64_t bad_;
};

TEST_CASE("WriteArrays gathers concurrent sources on the workers: same values; errors name the leaf") {
  const Bytes data = Values(64 * 1024 * 4);
  WriteSpec spec;
  spec.dtype = DType::kFloat32;
  spec.shape = {64, 1024};
  spec.chunk_shape = {4, 1024};
  spec.zstd_level = 1;
  for (uint64_t bad : {data.size(), uint64_t{40000}}) {
    std::vector<ArrayToWrite> arrays(1);
    arrays[0].spec = spec;
    arrays[0].prefix = "w/";
    arrays[0].name = "w";
    arrays[0].open = [&]() -> Result<std::unique_ptr<ArraySource>> {
      return std::unique_ptr<ArraySource>(new FailingConcurrentSource(data, bad));
    };
    StoreSink out;
    WriteOptions options;
    options.threads = 4;
    Status st = WriteArrays(arrays, out.Sink(), options);
    if (bad == data.size()) {
      REQUIRE(st.ok());
      auto a = ZarrArray::Open(&out.store, "w/");
      REQUIRE(a.ok());
      CheckBothPaths(*a, data);
    } else {
      CHECK(st.code() == StatusCode::kIoError);
      CHECK(st.message().find("writing leaf 'w'") != std::string::npos);
      CHECK(st.message().find("bad sector at 40000") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ockpt::zarr
