// Batched chunk reads: ZarrArray::ReadChunks / ReadBatchSize and Read's
// batches of small chunks, from an OCDBT database (whose ReadMany reads
// neighbouring values with one read), agree with chunk-by-chunk reads;
// missing and damaged chunks inside a batch fail alone, naming their key.

#include <catch2/catch.hpp>
#include <cstring>

#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/ocdbt/ocdbt_writer.h"
#include "formats/zarr/zarr_array.h"
#include "lib/compression/compression.h"
#include "tests/formats/zarr/zarr_test_util.h"
#include "tests/support/temp_dir.h"

namespace ockpt::zarr {
namespace {

using testing::MemoryKvStore;

constexpr int kChunks = 300;
constexpr int kRows = 4;  // rows of 256 int32 per chunk: 4 KiB chunks

Bytes ChunkValues(int c) {
  Bytes data(kRows * 256 * 4, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 13 + c * 7) ^ (i >> 7));
  return data;
}

// An OCDBT database holding a zarr v2 array of kChunks zstd chunks, chunk
// `missing` left out and chunk `damaged` stored as garbage (-1: none).
std::unique_ptr<ocdbt::OcdbtKvStore> MakeStore(const std::string& dir, int missing, int damaged) {
  auto writer = ocdbt::OcdbtWriter::Create(dir).value();
  REQUIRE(writer
              ->Put("a/.zarray",
                    fmt::format(R"({{"chunks":[{},256],"compressor":{{"id":"zstd","level":1}},)"
                                R"("dtype":"<i4","fill_value":0,"filters":null,"order":"C",)"
                                R"("shape":[{},256],"zarr_format":2}})",
                                kRows, kChunks * kRows))
              .ok());
  for (int c = 0; c < kChunks; ++c) {
    if (c == missing) continue;
    Bytes stored = c == damaged ? Bytes(3000, 'x') : *ZstdCompress(ChunkValues(c), 1);
    REQUIRE(writer->Put(fmt::format("a/{}.0", c), stored).ok());
  }
  REQUIRE(writer->Commit(1).ok());
  return ocdbt::OcdbtKvStore::Open(dir).value();
}

std::vector<Shape> AllIndices() {
  std::vector<Shape> out;
  for (int c = 0; c < kChunks; ++c) out.push_back({c, 0});
  return out;
}

TEST_CASE("ReadChunks and batched Read equal chunk-by-chunk reads") {
  ockpt::testing::TempDir tmp;
  auto store = MakeStore(tmp / "db", /*missing=*/17, /*damaged=*/-1);
  auto a = ZarrArray::Open(store.get(), "a/").value();
  CHECK(a.ChunkBytes() == 4096);
  CHECK(a.ReadBatchSize() == ZarrArray::kMaxReadBatchChunks);  // 4 MiB / 4 KiB = 1024, capped

  std::vector<Result<Bytes>> batch = a.ReadChunks(AllIndices());
  REQUIRE(batch.size() == kChunks);
  Bytes want;
  for (int c = 0; c < kChunks; ++c) {
    INFO("chunk " << c);
    Result<Bytes> one = a.ReadChunk({c, 0});
    REQUIRE(one.ok());
    REQUIRE(batch[c].ok());
    CHECK(*batch[c] == *one);
    CHECK(*one == (c == 17 ? Bytes(4096, '\0') : ChunkValues(c)));
    want += *one;
  }
  for (int threads : {1, 3}) {
    ReadOptions options;
    options.threads = threads;
    Result<Bytes> all = testing::ReadAll(a, options);
    REQUIRE(all.ok());
    CHECK(*all == want);
  }
  // Indices outside the grid fail the whole call, as ReadChunk does.
  std::vector<Result<Bytes>> bad = a.ReadChunks({{0, 0}, {kChunks, 0}});
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].status().code() == StatusCode::kInvalidArgument);
  CHECK(bad[1].status().code() == StatusCode::kInvalidArgument);
  // Missing chunks are errors when asked, in their own slot.
  ReadOptions strict;
  strict.missing_chunks_are_errors = true;
  std::vector<Result<Bytes>> s = a.ReadChunks(AllIndices(), strict);
  for (int c = 0; c < kChunks; ++c) CHECK(s[c].ok() == (c != 17));
  CHECK(s[17].status().code() == StatusCode::kDataLoss);
  CHECK_THAT(s[17].status().ToString(), Catch::Contains("a/17.0"));
}

TEST_CASE("a damaged chunk inside a read batch fails alone, naming its key") {
  ockpt::testing::TempDir tmp;
  auto store = MakeStore(tmp / "db", /*missing=*/-1, /*damaged=*/123);
  auto a = ZarrArray::Open(store.get(), "a/").value();
  std::vector<Result<Bytes>> batch = a.ReadChunks(AllIndices());
  for (int c = 0; c < kChunks; ++c) {
    INFO("chunk " << c);
    REQUIRE(batch[c].ok() == (c != 123));
    if (c != 123) CHECK(*batch[c] == ChunkValues(c));
  }
  CHECK(batch[123].status().code() == StatusCode::kDataLoss);
  CHECK_THAT(batch[123].status().ToString(), Catch::Contains("a/123.0"));
  for (int threads : {1, 3}) {
    ReadOptions options;
    options.threads = threads;
    testing::RecordingWriter w(kChunks * 4096);
    Status st = a.Read(w, options);
    CHECK(st.code() == StatusCode::kDataLoss);
    CHECK_THAT(st.ToString(), Catch::Contains("a/123.0"));
  }
}

TEST_CASE("chunks larger than a MiB are read one by one") {
  MemoryKvStore store;
  store.values[".zarray"] =
      R"({"chunks":[1048577],"compressor":null,"dtype":"|u1","fill_value":0,"filters":null,)"
      R"("order":"C","shape":[3000000],"zarr_format":2})";
  auto a = ZarrArray::Open(&store, "").value();
  CHECK(a.ReadBatchSize() == 1);
  store.values[".zarray"] =
      R"({"chunks":[1048576],"compressor":null,"dtype":"|u1","fill_value":0,"filters":null,)"
      R"("order":"C","shape":[3000000],"zarr_format":2})";
  CHECK(ZarrArray::Open(&store, "").value().ReadBatchSize() == 4);
}

}  // namespace
}  // namespace ockpt::zarr
