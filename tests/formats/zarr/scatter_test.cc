// ScatterChunk coalescing, chunk_layout helpers and streaming reads.

#include <catch2/catch.hpp>

#include "formats/zarr/chunk_layout.h"
#include "formats/zarr/zarr_array.h"
#include "tests/formats/zarr/zarr_test_util.h"

namespace ockpt::zarr {
namespace {

using testing::Hex;
using testing::MemoryKvStore;
using testing::RecordingWriter;

// A chunk whose element i holds byte value i (element size 1).
Bytes Iota(size_t n) {
  Bytes b(n, '\0');
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>(i);
  return b;
}

TEST_CASE("ScatterChunk: one WriteAt when the chunk spans the trailing dims") {
  RecordingWriter w(100 * 4);
  REQUIRE(ScatterChunk({10, 10}, {2, 10}, {1, 0}, 4, Bytes(80, 'x'), w).ok());
  REQUIRE(w.writes.size() == 1);
  CHECK(w.writes[0] == std::pair<uint64_t, uint64_t>{80, 80});

  RecordingWriter w3(3 * 4 * 5);
  REQUIRE(ScatterChunk({3, 4, 5}, {1, 4, 5}, {2, 0, 0}, 1, Iota(20), w3).ok());
  REQUIRE(w3.writes.size() == 1);
  CHECK(w3.writes[0] == std::pair<uint64_t, uint64_t>{40, 20});

  // Edge chunk along dim 0 only: still one run.
  RecordingWriter we(3 * 4 * 5);
  REQUIRE(ScatterChunk({3, 4, 5}, {2, 4, 5}, {1, 0, 0}, 1, Iota(40), we).ok());
  REQUIRE(we.writes.size() == 1);
  CHECK(we.writes[0] == std::pair<uint64_t, uint64_t>{40, 20});
  CHECK(we.data().substr(40, 20) == Iota(20));
}

TEST_CASE("ScatterChunk: partial trailing dims and edge chunks clip") {
  RecordingWriter w(3 * 4 * 5);
  REQUIRE(ScatterChunk({3, 4, 5}, {2, 2, 5}, {0, 1, 0}, 1, Iota(20), w).ok());
  REQUIRE(w.writes.size() == 2);
  CHECK(w.writes[0] == std::pair<uint64_t, uint64_t>{10, 10});
  CHECK(w.writes[1] == std::pair<uint64_t, uint64_t>{30, 10});
  CHECK(w.data().substr(30, 10) == Iota(20).substr(10, 10));

  // [10,10] array, [4,4] chunk at (2,2): a 2x2 corner.
  RecordingWriter c(100);
  REQUIRE(ScatterChunk({10, 10}, {4, 4}, {2, 2}, 1, Iota(16), c).ok());
  REQUIRE(c.writes.size() == 2);
  CHECK(c.writes[0] == std::pair<uint64_t, uint64_t>{88, 2});
  CHECK(c.writes[1] == std::pair<uint64_t, uint64_t>{98, 2});
  CHECK(c.data().substr(88, 2) == Hex("0001"));
  CHECK(c.data().substr(98, 2) == Hex("0405"));

  // Chunk larger than the array: one write of the clipped part.
  RecordingWriter big(8 * 2);
  REQUIRE(ScatterChunk({8}, {10}, {0}, 2, Iota(20), big).ok());
  REQUIRE(big.writes.size() == 1);
  CHECK(big.data() == Iota(16));

  // Rank 0.
  RecordingWriter r(8);
  REQUIRE(ScatterChunk({}, {}, {}, 8, Bytes(8, 'a'), r).ok());
  CHECK(r.writes.size() == 1);
}

TEST_CASE("ScatterChunk: bad arguments are kInvalidArgument") {
  RecordingWriter w(100);
  CHECK(ScatterChunk({10, 10}, {5, 5}, {2, 0}, 1, Bytes(25, 'x'), w).code() ==
        StatusCode::kInvalidArgument);
  CHECK(ScatterChunk({10, 10}, {5, 5}, {-1, 0}, 1, Bytes(25, 'x'), w).code() ==
        StatusCode::kInvalidArgument);
  CHECK(ScatterChunk({10, 10}, {5, 5}, {0, 0}, 1, Bytes(24, 'x'), w).code() ==
        StatusCode::kInvalidArgument);
  CHECK(ScatterChunk({10, 10}, {5}, {0, 0}, 1, Bytes(5, 'x'), w).code() ==
        StatusCode::kInvalidArgument);
  CHECK(w.writes.empty());
}

TEST_CASE("UndoTranspose and SwapBytes") {
  // Encoded [3,2] = transpose of decoded [2,3].
  CHECK(UndoTranspose(Hex("000301040205"), {2, 3}, {1, 0}, 1) == Hex("000102030405"));
  CHECK(UndoTranspose(Hex("000003000100040002000500"), {2, 3}, {1, 0}, 2) ==
        Hex("000001000200030004000500"));
  Bytes b = Hex("0102030405060708");
  SwapBytes(&b, 4);
  CHECK(b == Hex("0403020108070605"));
  SwapBytes(&b, 1);
  CHECK(b == Hex("0403020108070605"));
  CHECK(RepeatElement(Hex("0102"), 3) == Hex("010201020102"));
  CHECK(CheckedByteCount({1 << 20, 1 << 20}, 8, uint64_t{1} << 34, "x").status().code() ==
        StatusCode::kDataLoss);
  CHECK(*CheckedByteCount({0, int64_t{1} << 62}, 8, uint64_t{1} << 34, "x") == 0);
}

TEST_CASE("Read streams chunk by chunk with bounded writes") {
  MemoryKvStore store;
  store.values["a/zarr.json"] =
      R"({"chunk_grid":{"configuration":{"chunk_shape":[100,1000]},"name":"regular"},)"
      R"("chunk_key_encoding":{"name":"default"},"codecs":[{"name":"bytes"}],"data_type":"uint8",)"
      R"("fill_value":3,"node_type":"array","shape":[1000,1000],"zarr_format":3})";
  store.values["a/c/4/0"] = Bytes(100000, '\x09');
  auto a = ZarrArray::Open(&store, "a/");
  REQUIRE(a.ok());
  RecordingWriter w(1000000);
  REQUIRE(a->Read(w).ok());
  CHECK(w.Complete());
  REQUIRE(w.writes.size() == 10);
  for (const auto& [off, n] : w.writes) CHECK(n == 100000);
  CHECK(w.data()[399999] == '\x03');
  CHECK(w.data()[400000] == '\x09');
  CHECK(w.data()[500000] == '\x03');

  // Empty arrays write nothing.
  store.values["e/zarr.json"] =
      R"({"chunk_grid":{"configuration":{"chunk_shape":[4,4]},"name":"regular"},)"
      R"("codecs":[{"name":"bytes"}],"data_type":"uint8",)"
      R"("fill_value":0,"node_type":"array","shape":[0,8],"zarr_format":3})";
  auto e = ZarrArray::Open(&store, "e/");
  REQUIRE(e.ok());
  CHECK(e->ChunkGridShape() == Shape{0, 2});
  RecordingWriter we(0);
  REQUIRE(e->Read(we).ok());
  CHECK(we.writes.empty());
}

}  // namespace
}  // namespace ockpt::zarr
