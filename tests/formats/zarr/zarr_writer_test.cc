// The zarr writer: exact metadata and chunk bytes against the golden Orbax
// checkpoints (written by TensorStore), round trips through the reader for
// every dtype, rank 0..5, zarr 2 / 3, with and without zstd, and refusals.

#include "formats/zarr/zarr_writer.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <set>

#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/zarr/metadata.h"
#include "formats/zarr/metadata_v2.h"
#include "formats/zarr/metadata_v3.h"
#include "formats/zarr/zarr_array.h"
#include "lib/compression/compression.h"
#include "lib/dtype/narrow_int.h"
#include "tests/formats/zarr/zarr_test_util.h"
#include "tests/support/testdata.h"

namespace ockpt::zarr {
namespace {

using testing::Hex;
using testing::MemoryKvStore;
using testing::ReadAll;

constexpr std::string_view kGoldenV2 =
    R"({"chunks":[8],"compressor":{"id":"zstd","level":1},"dimension_separator":".",)"
    R"("dtype":"<i4","fill_value":null,"filters":null,"order":"C","shape":[8],"zarr_format":2})";
constexpr std::string_view kGoldenV3 =
    R"({"chunk_grid":{"configuration":{"chunk_shape":[8]},"name":"regular"},)"
    R"("chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[8],)"
    R"("codecs":[{"configuration":{"endian":"little"},"name":"bytes"},)"
    R"({"configuration":{"checksum":false,"level":3},"name":"zstd"}],)"
    R"("index_codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"name":"crc32c"}]},)"
    R"("name":"sharding_indexed"}],"data_type":"int32","fill_value":0,"node_type":"array",)"
    R"("shape":[8],"zarr_format":3})";

// zstd_checksum off: TensorStore's bytes, which the golden comparisons need
// (the checksummed default has its own test case).
WriteSpec Spec(int format, DType dtype, Shape shape, Shape chunks, std::optional<int> level,
               bool zstd_checksum = false) {
  WriteSpec s;
  s.zstd_checksum = zstd_checksum;
  s.zarr_format = format;
  s.dtype = dtype;
  s.shape = std::move(shape);
  s.chunk_shape = std::move(chunks);
  s.zstd_level = level;
  return s;
}

Bytes Int32s(std::initializer_list<int32_t> values) {
  Bytes out;
  for (int32_t v : values) PutU32LE(&out, static_cast<uint32_t>(v));
  return out;
}

// Writes metadata and every chunk into store; returns the chunk keys in the
// order the sink saw them.
Result<std::vector<std::string>> WriteInto(MemoryKvStore& store, const WriteSpec& spec,
                                           const std::string& prefix, const Bytes& data) {
  OCKPT_RETURN_IF_ERROR(ValidateWriteSpec(spec));
  store.values[MetadataKey(spec, prefix)] = EncodeMetadata(spec);
  std::vector<std::string> keys;
  MemoryArraySource src(data);
  OCKPT_RETURN_IF_ERROR(WriteArray(spec, prefix, src, [&](const std::string& key, ByteView v) {
    if (store.values.count(key)) return InternalError("key {} written twice", key);
    store.values[key] = Bytes(v);
    keys.push_back(key);
    return Status::Ok();
  }));
  return keys;
}

// The chunk as the writer must gather it: element by element, zeros outside
// the array.
Bytes ExpectedChunk(const WriteSpec& spec, const Shape& index, const Bytes& data) {
  const size_t rank = spec.shape.size();
  const size_t esize = SizeOf(spec.dtype);
  Bytes out;
  Shape pos(rank, 0);
  const int64_t n = NumElements(spec.chunk_shape);
  for (int64_t e = 0; e < n; ++e) {
    bool inside = true;
    uint64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t g = index[d] * spec.chunk_shape[d] + pos[d];
      inside &= g < spec.shape[d];
      offset = offset * static_cast<uint64_t>(spec.shape[d]) + static_cast<uint64_t>(g);
    }
    out += inside ? data.substr(offset * esize, esize) : Bytes(esize, '\0');
    for (size_t d = rank; d > 0; --d) {
      if (++pos[d - 1] < spec.chunk_shape[d - 1]) break;
      pos[d - 1] = 0;
    }
  }
  return out;
}

std::optional<int> LevelOf(const std::string& compressor) {
  if (compressor == "none") return std::nullopt;
  REQUIRE(compressor.rfind("zstd:", 0) == 0);
  return std::stoi(compressor.substr(5));
}

TEST_CASE("metadata: Orbax v0 / v1 golden bytes") {
  CHECK(EncodeMetadata(Spec(2, DType::kInt32, {8}, {8}, 1)) == kGoldenV2);
  CHECK(EncodeMetadata(Spec(3, DType::kInt32, {8}, {8}, 3)) == kGoldenV3);
  CHECK(MetadataKey(Spec(2, DType::kInt32, {8}, {8}, 1), "a/") == "a/.zarray");
  CHECK(MetadataKey(Spec(3, DType::kInt32, {8}, {8}, 1), "a/") == "a/zarr.json");
  CHECK(MetadataKey(Spec(3, DType::kInt32, {8}, {8}, 1), "") == "zarr.json");
}

TEST_CASE("metadata: dtypes, fill values, no compression, rank 0") {
  CHECK(EncodeMetadata(Spec(2, DType::kBFloat16, {3, 4}, {2, 4}, std::nullopt)) ==
        R"({"chunks":[2,4],"compressor":null,"dimension_separator":".","dtype":"bfloat16",)"
        R"("fill_value":null,"filters":null,"order":"C","shape":[3,4],"zarr_format":2})");
  CHECK(
      EncodeMetadata(Spec(2, DType::kFloat32, {}, {}, 5)) ==
      R"({"chunks":[],"compressor":{"id":"zstd","level":5},"dimension_separator":".",)"
      R"("dtype":"<f4","fill_value":null,"filters":null,"order":"C","shape":[],"zarr_format":2})");
  const std::pair<DType, std::string_view> v2_dtypes[] = {
      {DType::kBool, "|b1"},
      {DType::kInt8, "|i1"},
      {DType::kUInt8, "|u1"},
      {DType::kInt16, "<i2"},
      {DType::kUInt64, "<u8"},
      {DType::kFloat16, "<f2"},
      {DType::kFloat64, "<f8"},
      {DType::kComplex64, "<c8"},
      {DType::kComplex128, "<c16"},
      {DType::kInt4, "int4"},
      {DType::kFloat8E4M3FN, "float8_e4m3fn"},
      {DType::kFloat8E5M2, "float8_e5m2"},
  };
  for (const auto& [dtype, typestr] : v2_dtypes) {
    INFO(Name(dtype));
    CHECK_THAT(EncodeMetadata(Spec(2, dtype, {2}, {2}, 1)),
               Catch::Contains(fmt::format(R"("dtype":"{}",)", typestr)));
  }

  // 1-byte types: bytes codec without configuration; no zstd codec when
  // uncompressed.
  CHECK(
      EncodeMetadata(Spec(3, DType::kBool, {3, 4}, {2, 2}, std::nullopt)) ==
      R"({"chunk_grid":{"configuration":{"chunk_shape":[2,2]},"name":"regular"},)"
      R"("chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[2,2],)"
      R"("codecs":[{"name":"bytes"}],"index_codecs":[{"configuration":{"endian":"little"},)"
      R"("name":"bytes"},{"name":"crc32c"}]},"name":"sharding_indexed"}],"data_type":"bool",)"
      R"("fill_value":false,"node_type":"array","shape":[3,4],"zarr_format":3})");
  CHECK(EncodeMetadata(Spec(3, DType::kFloat64, {}, {}, 3)) ==
        R"({"chunk_grid":{"configuration":{"chunk_shape":[]},"name":"regular"},)"
        R"("chunk_key_encoding":{"name":"default"},"codecs":[{"configuration":{"chunk_shape":[],)"
        R"("codecs":[{"configuration":{"endian":"little"},"name":"bytes"},)"
        R"({"configuration":{"checksum":false,"level":3},"name":"zstd"}],)"
        R"("index_codecs":[{"configuration":{"endian":"little"},"name":"bytes"},)"
        R"({"name":"crc32c"}]},"name":"sharding_indexed"}],"data_type":"float64",)"
        R"("fill_value":0.0,"node_type":"array","shape":[],"zarr_format":3})");
  const std::pair<DType, std::string_view> v3_fills[] = {
      {DType::kInt8, R"("data_type":"int8","fill_value":0,)"},
      {DType::kUInt64, R"("data_type":"uint64","fill_value":0,)"},
      {DType::kFloat16, R"("data_type":"float16","fill_value":0.0,)"},
      {DType::kBFloat16, R"("data_type":"bfloat16","fill_value":0.0,)"},
      {DType::kFloat8E4M3FN, R"("data_type":"float8_e4m3fn","fill_value":0.0,)"},
      {DType::kFloat8E5M2, R"("data_type":"float8_e5m2","fill_value":0.0,)"},
      {DType::kComplex64, R"("data_type":"complex64","fill_value":[0.0,0.0],)"},
      {DType::kComplex128, R"("data_type":"complex128","fill_value":[0.0,0.0],)"},
      {DType::kInt4, R"("data_type":"int4","fill_value":0,)"},
  };
  for (const auto& [dtype, text] : v3_fills) {
    INFO(Name(dtype));
    const std::string md = EncodeMetadata(Spec(3, dtype, {2}, {2}, 3));
    CHECK_THAT(md, Catch::Contains(std::string(text)));
    const bool one_byte = SizeOf(dtype) == 1;
    CHECK_THAT(md, Catch::Contains(one_byte ? R"("codecs":[{"name":"bytes"},)"
                                            : R"("codecs":[{"configuration":{"endian":"little"},)"
                                              R"("name":"bytes"},)"));
  }
}

TEST_CASE("chunk keys") {
  const WriteSpec v2 = Spec(2, DType::kInt32, {4, 4}, {2, 2}, 1);
  const WriteSpec v3 = Spec(3, DType::kInt32, {4, 4}, {2, 2}, 3);
  CHECK(ChunkKeyFor(v2, "x/", {0, 1}) == "x/0.1");
  CHECK(ChunkKeyFor(v3, "x/", {0, 1}) == "x/c/0/1");
  CHECK(ChunkKeyFor(Spec(2, DType::kInt32, {}, {}, 1), "x/", {}) == "x/0");
  CHECK(ChunkKeyFor(Spec(3, DType::kInt32, {}, {}, 1), "x/", {}) == "x/c");
  CHECK(ChunkKeyFor(v2, "", {1, 0}) == "1.0");
  CHECK(ChunkGridShape(Spec(2, DType::kInt32, {5, 4, 1}, {2, 4, 3}, 1)) == Shape{3, 1, 1});
}

TEST_CASE("spec 13.5: zarr3 shard of int32[3] = 1,2,3 is 41 bytes") {
  const WriteSpec spec = Spec(3, DType::kInt32, {3}, {3}, 3);
  MemoryArraySource src(Int32s({1, 2, 3}));
  auto shard = EncodeChunk(spec, {0}, src);
  REQUIRE(shard.ok());
  CHECK(HexString(*shard) ==
        "28b52ffd200c610000010000000200000003000000"
        "0000000000000000"
        "1500000000000000"
        "146c27ae");
  // Uncompressed: the raw elements, then the index.
  auto raw = EncodeChunk(Spec(3, DType::kInt32, {3}, {3}, std::nullopt), {0}, src);
  REQUIRE(raw.ok());
  CHECK(raw->size() == 12 + 20);
  CHECK(raw->substr(0, 12) == Int32s({1, 2, 3}));
  CHECK(HexString(raw->substr(12, 16)) == "00000000000000000c00000000000000");
  // zarr v2 with zstd: one frame with the content size.
  auto v2 = EncodeChunk(Spec(2, DType::kInt32, {3}, {3}, 1), {0}, src);
  REQUIRE(v2.ok());
  CHECK(HexString(*v2) == "28b52ffd200c610000010000000200000003000000");
  auto plain = EncodeChunk(Spec(2, DType::kInt32, {3}, {3}, std::nullopt), {0}, src);
  REQUIRE(plain.ok());
  CHECK(*plain == Int32s({1, 2, 3}));
}

// The default: every zstd frame carries its content checksum, which the
// decoder checks, so a flipped payload byte is an error, not other values.
TEST_CASE("zstd_checksum: frames carry the content checksum") {
  WriteSpec v2 = Spec(2, DType::kInt32, {8}, {8}, 1);
  WriteSpec v3 = Spec(3, DType::kInt32, {8}, {8}, 3);
  CHECK(WriteSpec().zstd_checksum);
  v2.zstd_checksum = v3.zstd_checksum = true;
  // v2 metadata is unchanged (the frame header says it); v3 says so.
  CHECK(EncodeMetadata(v2) == kGoldenV2);
  std::string want_v3(kGoldenV3);
  want_v3.replace(want_v3.find(R"("checksum":false)"), 16, R"("checksum":true)");
  CHECK(EncodeMetadata(v3) == want_v3);
  Bytes data;
  for (int i = 0; i < 8; ++i) PutU32LE(&data, static_cast<uint32_t>(i * 7919));
  MemoryArraySource src(data);
  for (const WriteSpec& spec : {v2, v3}) {
    INFO(spec.zarr_format);
    auto chunk = EncodeChunk(spec, {0}, src);
    REQUIRE(chunk.ok());
    Bytes frame = spec.zarr_format == 2 ? *chunk : chunk->substr(0, chunk->size() - 20);
    CHECK((static_cast<uint8_t>(frame[4]) & 0x04) != 0);  // Content_Checksum_flag
    auto decoded = ZstdDecompress(frame, 1 << 20);
    REQUIRE(decoded.ok());
    CHECK(*decoded == data);
    // Every byte flip after the magic fails to decode (or to check).
    for (size_t i = 4; i < frame.size(); ++i) {
      Bytes bad = frame;
      bad[i] = static_cast<char>(bad[i] ^ 0x41);
      auto r = ZstdDecompress(bad, 1 << 20);
      INFO(i);
      CHECK((!r.ok() || *r == data));
      if (i != 4) CHECK(!r.ok());
    }
    // The frame is the TensorStore frame plus the 4-byte checksum.
    WriteSpec off = spec;
    off.zstd_checksum = false;
    auto plain = EncodeChunk(off, {0}, src);
    REQUIRE(plain.ok());
    CHECK(plain->size() + 4 == chunk->size());
  }
}

// Every array in every readable golden Orbax checkpoint: the metadata we
// encode from the parsed spec is byte-identical; v3 shards are
// byte-identical; v2 chunks (old TensorStore: frames without the content
// size) decode to the same bytes.
TEST_CASE("golden: re-encoding Orbax checkpoints") {
  namespace fs = std::filesystem;
  const std::string root = ockpt::testing::Golden("orbax_compat");
  int metadata_checked = 0, v2_chunks = 0, v3_chunks = 0;
  std::set<int> formats;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename() != "manifest.ocdbt") continue;
    const std::string dir = entry.path().parent_path().string();
    auto store = ocdbt::OcdbtKvStore::Open(dir);
    if (!store.ok()) continue;  // deliberately damaged checkpoints
    auto keys = (*store)->List("");
    if (!keys.ok()) continue;
    for (const KeyInfo& k : *keys) {
      const bool v2 = k.key.ends_with(".zarray");
      const bool v3 = k.key.ends_with("zarr.json");
      if (!v2 && !v3) continue;
      INFO(dir << " " << k.key);
      const std::string prefix = k.key.substr(0, k.key.size() - (v2 ? 7 : 9));
      auto text = (*store)->Read(k.key);
      if (!text.ok()) continue;
      auto md = v2 ? ParseZarrV2Metadata(*text) : ParseZarrV3Metadata(*text);
      REQUIRE(md.ok());
      const WriteSpec spec =
          Spec(v2 ? 2 : 3, md->dtype, md->shape, md->chunk_shape, LevelOf(md->compressor));
      REQUIRE(ValidateWriteSpec(spec).ok());
      CHECK(EncodeMetadata(spec) == *text);
      ++metadata_checked;
      formats.insert(spec.zarr_format);

      auto array = ZarrArray::Open(store->get(), prefix);
      if (!array.ok()) continue;
      auto data = ReadAll(*array, {.missing_chunks_are_errors = true});
      if (!data.ok()) continue;  // e.g. a data file deliberately removed
      MemoryArraySource src(*data);
      REQUIRE(WriteArray(spec, prefix, src, [&](const std::string& key, ByteView ours) {
                auto golden = (*store)->Read(key);
                REQUIRE(golden.ok());
                INFO(key);
                if (v3) {
                  CHECK(HexString(ours) == HexString(*golden));
                  ++v3_chunks;
                } else {
                  auto a = ZstdDecompress(ours, 1 << 20);
                  auto b = ZstdDecompress(*golden, 1 << 20);
                  REQUIRE(a.ok());
                  REQUIRE(b.ok());
                  CHECK(*a == *b);
                  // Ours carries the content size; old TensorStore's did not.
                  CHECK((static_cast<uint8_t>(ours[4]) & 0x20) != 0);
                  ++v2_chunks;
                }
                return Status::Ok();
              }).ok());
    }
  }
  CHECK(formats == std::set<int>{2, 3});
  CHECK(metadata_checked >= 40);
  CHECK(v2_chunks >= 20);
  CHECK(v3_chunks >= 20);
}

TEST_CASE("round trip: every dtype x rank 0..5 x zarr 2/3 x zstd/none") {
  const DType dtypes[] = {
      DType::kBool,
      DType::kInt8,
      DType::kInt16,
      DType::kInt32,
      DType::kInt64,
      DType::kUInt8,
      DType::kUInt16,
      DType::kUInt32,
      DType::kUInt64,
      DType::kFloat16,
      DType::kBFloat16,
      DType::kFloat32,
      DType::kFloat64,
      DType::kComplex64,
      DType::kComplex128,
      DType::kFloat8E4M3FN,
      DType::kFloat8E5M2,
      DType::kFloat8E4M3FNUZ,
      DType::kFloat8E4M3B11FNUZ,
      DType::kFloat8E5M2FNUZ,
      DType::kFloat8E3M4,
      DType::kFloat8E8M0FNU,
      DType::kFloat4E2M1FN,
      DType::kInt4,
      DType::kInt2,
  };
  // Partial edge chunks (5/2, 4/3, 3/2), a dimension chunked whole (3/3) and
  // a chunk larger than its dimension (2/5).
  const Shape full_shape = {5, 3, 4, 2, 3};
  const Shape full_chunks = {2, 3, 3, 5, 2};
  std::mt19937 rng(1234);
  int cases = 0;
  for (DType dtype : dtypes) {
    for (size_t rank = 0; rank <= 5; ++rank) {
      const Shape shape(full_shape.begin(), full_shape.begin() + rank);
      const Shape chunks(full_chunks.begin(), full_chunks.begin() + rank);
      Bytes data(static_cast<size_t>(NumElements(shape)) * SizeOf(dtype), '\0');
      for (char& c : data) c = static_cast<char>(rng());
      // int4 / int2 values come back padded as TensorStore pads them
      // (lib/dtype/narrow_int.h; their own test case checks the padding).
      NormalizeNarrowInts(dtype, data.data(), data.size());
      for (int format : {2, 3}) {
        for (std::optional<int> level : {std::optional<int>(), std::optional<int>(1)}) {
          INFO(Name(dtype) << " rank " << rank << " zarr " << format << " level "
                           << (level ? *level : -1));
          const WriteSpec spec = Spec(format, dtype, shape, chunks, level);
          MemoryKvStore store;
          auto keys = WriteInto(store, spec, "p/q/", data);
          REQUIRE(keys.ok());
          // Every chunk, in C order of the grid.
          const Shape grid = ChunkGridShape(spec);
          CHECK(static_cast<int64_t>(keys->size()) == NumElements(grid));
          std::vector<Shape> indices;
          Shape idx(rank, 0);
          for (int64_t i = 0; i < NumElements(grid); ++i) {
            indices.push_back(idx);
            for (size_t d = rank; d > 0; --d) {
              if (++idx[d - 1] < grid[d - 1]) break;
              idx[d - 1] = 0;
            }
          }
          for (size_t i = 0; i < indices.size() && i < keys->size(); ++i) {
            CHECK((*keys)[i] == ChunkKeyFor(spec, "p/q/", indices[i]));
          }

          auto array = ZarrArray::Open(&store, "p/q/");
          REQUIRE(array.ok());
          CHECK(array->summary().dtype == dtype);
          CHECK(array->summary().shape == shape);
          CHECK(array->summary().chunk_shape == chunks);
          CHECK(array->summary().compressor ==
                (level ? fmt::format("zstd:{}", *level) : std::string("none")));
          auto back = ReadAll(*array, {.missing_chunks_are_errors = true});
          REQUIRE(back.ok());
          CHECK(*back == data);
          // Edge chunks are padded with zeros; EncodeChunk matches WriteArray.
          MemoryArraySource src(data);
          for (const Shape& index : indices) {
            auto chunk = array->ReadChunk(index);
            REQUIRE(chunk.ok());
            CHECK(*chunk == ExpectedChunk(spec, index, data));
            auto encoded = EncodeChunk(spec, index, src);
            REQUIRE(encoded.ok());
            CHECK(*encoded == store.values[ChunkKeyFor(spec, "p/q/", index)]);
          }
          ++cases;
        }
      }
    }
  }
  CHECK(cases == 25 * 6 * 2 * 2);
}

TEST_CASE("all-zero chunks are written; large chunk grid order") {
  const WriteSpec spec = Spec(3, DType::kFloat32, {4, 6}, {2, 3}, 3);
  MemoryKvStore store;
  auto keys = WriteInto(store, spec, "", Bytes(4 * 6 * 4, '\0'));
  REQUIRE(keys.ok());
  CHECK(*keys == std::vector<std::string>{"c/0/0", "c/0/1", "c/1/0", "c/1/1"});
  for (const auto& k : *keys) CHECK(store.values.count(k) == 1);
}

TEST_CASE("EncodeChunkData") {
  const WriteSpec spec = Spec(3, DType::kInt32, {3}, {3}, 3);
  auto shard = EncodeChunkData(spec, Int32s({1, 2, 3}));
  REQUIRE(shard.ok());
  CHECK(shard->size() == 41);
  CHECK(EncodeChunkData(spec, Int32s({1, 2})).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("refusals") {
  auto code = [](const WriteSpec& s) { return ValidateWriteSpec(s).code(); };
  CHECK(code(Spec(2, DType::kInt32, {3, 4}, {3, 4}, 1)) == StatusCode::kOk);
  CHECK(code(Spec(3, DType::kInt32, {0}, {1}, 3)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4, 0}, {4, 1}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4}, {0}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4}, {-1}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4, 4}, {4}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(4, DType::kInt32, {4}, {4}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(1, DType::kInt32, {4}, {4}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4}, {4}, 23)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4}, {4}, -131073)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, {4}, {4}, -5)) == StatusCode::kOk);
  CHECK(code(Spec(2, DType::kUInt4, {4}, {4}, 1)) == StatusCode::kUnimplemented);
  CHECK(code(Spec(3, DType::kUInt2, {4}, {4}, 1)) == StatusCode::kUnimplemented);
  CHECK(code(Spec(2, DType::kInt32, Shape(33, 1), Shape(33, 1), 1)) ==
        StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kInt32, Shape(32, 1), Shape(32, 1), 1)) == StatusCode::kOk);
  // 2^62 bytes and more.
  CHECK(code(Spec(2, DType::kFloat64, {int64_t{1} << 60}, {1}, 1)) == StatusCode::kInvalidArgument);
  CHECK(code(Spec(2, DType::kUInt8, {int64_t{1} << 40}, {int64_t{1} << 35}, 1)) ==
        StatusCode::kInvalidArgument);

  const WriteSpec spec = Spec(2, DType::kInt32, {4}, {3}, 1);
  MemoryArraySource short_src(Bytes(12, '\0'));
  MemoryArraySource src(Bytes(16, '\0'));
  auto noop = [](const std::string&, ByteView) { return Status::Ok(); };
  CHECK(WriteArray(spec, "", short_src, noop).code() == StatusCode::kInvalidArgument);
  CHECK(EncodeChunk(spec, {0}, short_src).status().code() == StatusCode::kInvalidArgument);
  CHECK(EncodeChunk(spec, {2}, src).status().code() == StatusCode::kInvalidArgument);
  CHECK(EncodeChunk(spec, {-1}, src).status().code() == StatusCode::kInvalidArgument);
  CHECK(EncodeChunk(spec, {0, 0}, src).status().code() == StatusCode::kInvalidArgument);
  CHECK(EncodeChunk(spec, {1}, src).ok());
  CHECK(EncodeChunk(Spec(2, DType::kInt32, {0}, {1}, 1), {0}, MemoryArraySource(""))
            .status()
            .code() == StatusCode::kInvalidArgument);

  // Sink errors stop the write and name the key.
  int calls = 0;
  Status st = WriteArray(spec, "w/", src, [&](const std::string& key, ByteView) {
    ++calls;
    return IoError("disk full");
  });
  CHECK(st.code() == StatusCode::kIoError);
  CHECK_THAT(st.message(), Catch::Contains("w/0"));
  CHECK(calls == 1);
}

// A source that fails part-way: the error comes back with context.
class FailingSource final : public ArraySource {
 public:
  uint64_t size() const override { return 64; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset >= 32) return IoError("read failed at {}", offset);
    std::memset(dst, 1, n);
    return Status::Ok();
  }
};

TEST_CASE("source errors propagate") {
  const WriteSpec spec = Spec(2, DType::kUInt8, {8, 8}, {4, 8}, 1);
  FailingSource src;
  std::vector<std::string> keys;
  Status st = WriteArray(spec, "", src, [&](const std::string& key, ByteView) {
    keys.push_back(key);
    return Status::Ok();
  });
  CHECK(st.code() == StatusCode::kIoError);
  CHECK(keys == std::vector<std::string>{"0.0"});
}

TEST_CASE("int4 / int2 are written and read as TensorStore pads them (sign-extended)") {
  for (int format : {2, 3}) {
    for (std::optional<int> level : {std::optional<int>(), std::optional<int>(1)}) {
      INFO("zarr" << format << (level ? " zstd" : " raw"));
      MemoryKvStore store;
      // -1, -8, 7, 1 with junk high bits, and an already padded -7.
      const Bytes given("\x0F\x08\x07\x31\xF9", 5);
      auto keys = WriteInto(store, Spec(format, DType::kInt4, {5}, {5}, level), "q/", given);
      REQUIRE(keys.ok());
      auto array = ZarrArray::Open(&store, "q/");
      REQUIRE(array.ok());
      auto data = ReadAll(*array);
      REQUIRE(data.ok());
      CHECK(*data == Bytes("\xFF\xF8\x07\x01\xF9", 5));
      if (!level && format == 2) CHECK(store.values["q/0"] == Bytes("\xFF\xF8\x07\x01\xF9", 5));
    }
  }
  // Bytes another writer left unpadded are read padded; uint4 is masked.
  MemoryKvStore store;
  const WriteSpec spec = Spec(2, DType::kInt2, {4}, {4}, std::nullopt);
  store.values["p/.zarray"] = EncodeMetadata(spec);
  store.values["p/0"] = Bytes("\x03\x02\x01\x00", 4);
  auto array = ZarrArray::Open(&store, "p/");
  REQUIRE(array.ok());
  auto data = ReadAll(*array);
  REQUIRE(data.ok());
  CHECK(*data == Bytes("\xFF\xFE\x01\x00", 4));
}

TEST_CASE("float8_e8m0fnu's zarr3 fill value is its all-zero bits, 2^-127, as TensorStore writes it") {
  CHECK_THAT(EncodeMetadata(Spec(3, DType::kFloat8E8M0FNU, {2}, {2}, 3)),
             Catch::Contains(R"("fill_value":5.877471754111438e-39,)"));
  CHECK_THAT(EncodeMetadata(Spec(3, DType::kFloat8E4M3FN, {2}, {2}, 3)),
             Catch::Contains(R"("fill_value":0.0,)"));
}

}  // namespace
}  // namespace ockpt::zarr
