// zarr v2: TensorStore-written golden arrays, zarr-python fixtures
// (tests/data/zarr) and .zarray parsing.

#include <catch2/catch.hpp>
#include <cstring>

#include "formats/zarr/metadata_v2.h"
#include "formats/zarr/zarr_array.h"
#include "lib/base/file.h"
#include "tests/formats/zarr/zarr_test_util.h"
#include "tests/support/testdata.h"

namespace ockpt::zarr {
namespace {

using testing::Hex;
using testing::MemoryKvStore;
using testing::ReadAll;
using testing::Sha256Hex;

TEST_CASE("golden: neuroglancer simple_0.4 (TensorStore zarr v2, blosc lz4, '/')") {
  FileKvStore store(ockpt::testing::Golden("neuroglancer_ome_zarr/simple_0.4"));
  struct Case {
    const char* prefix;
    Shape shape;
    const char* sha;
  };
  const Case cases[] = {
      {"scale0/image/",
       {10, 10},
       "0914116557e78ac6d6c10016d319d56f4e3e6580362256bcc7a2c073c6900dbf"},
      {"scale1/image/", {5, 5}, "1d349bcf8d50d874f5ce97df3cbd67731b58cf5e4c45f6bb88ad66e45ca2b775"},
      {"scale2/image/", {2, 2}, "8fd1879afa9abc94e30b1b58217eaf8dd83f9dc46b5e1ef21e4f4d7235d7a7f3"},
  };
  for (const Case& c : cases) {
    INFO(c.prefix);
    auto a = ZarrArray::Open(&store, c.prefix);
    REQUIRE(a.ok());
    CHECK(a->summary().zarr_format == 2);
    CHECK(a->summary().dtype == DType::kUInt16);
    CHECK(a->summary().shape == c.shape);
    CHECK(a->summary().chunk_shape == c.shape);
    CHECK(a->summary().compressor == "blosc:lz4:5");
    CHECK(a->ChunkKey({0, 0}) == std::string(c.prefix) + "0/0");
    auto data = ReadAll(*a, {.missing_chunks_are_errors = true});
    REQUIRE(data.ok());
    CHECK(Sha256Hex(*data) == c.sha);
  }
  auto a = ZarrArray::Open(&store, "scale0/image/");
  REQUIRE(a.ok());
  auto data = ReadAll(*a);
  REQUIRE(data.ok());
  for (uint16_t i = 0; i < 100; ++i) {
    uint16_t v;
    std::memcpy(&v, data->data() + 2 * i, 2);
    REQUIRE(v == i);
  }
}

TEST_CASE("golden: Orbax legacy aggregate a and b (zstd, no content size)") {
  FileKvStore store(ockpt::testing::Golden("orbax_legacy_aggregate/aggregate_some.checkpoint"));
  auto a = ZarrArray::Open(&store, "a/");
  REQUIRE(a.ok());
  CHECK(a->summary().dtype == DType::kInt64);
  CHECK(a->summary().shape == Shape{8});
  CHECK(a->summary().compressor == "zstd:1");
  CHECK(a->summary().fill_value == Bytes(8, '\0'));
  CHECK(a->ChunkKey({0}) == "a/0");
  auto da = ReadAll(*a, {.missing_chunks_are_errors = true});
  REQUIRE(da.ok());
  CHECK(Sha256Hex(*da) == "fece8d601cd4c9020e24f9e4a47feedefb2bceff5e9798d8056aea8700052eaa");
  for (int64_t i = 0; i < 8; ++i) {
    int64_t v;
    std::memcpy(&v, da->data() + 8 * i, 8);
    CHECK(v == i);
  }
  auto b = ZarrArray::Open(&store, "b/");
  REQUIRE(b.ok());
  auto db = ReadAll(*b, {.missing_chunks_are_errors = true});
  REQUIRE(db.ok());
  CHECK(Sha256Hex(*db) == "e01a3c8f2eda5a787180af5eff1d07884db5fcdb6947c4f2f2083f2211284291");
  int64_t last;
  std::memcpy(&last, db->data() + 8 * 15, 8);
  CHECK(last == 30);
}

TEST_CASE("Open: kNotFound without metadata; the prefix may be empty") {
  FileKvStore store(ockpt::testing::Golden("orbax_legacy_aggregate/aggregate_some.checkpoint"));
  CHECK(ZarrArray::Open(&store, "missing/").status().code() == StatusCode::kNotFound);
  FileKvStore inner(ockpt::testing::Golden("orbax_legacy_aggregate/aggregate_some.checkpoint/a"));
  auto a = ZarrArray::Open(&inner, "");
  REQUIRE(a.ok());
  CHECK(a->ChunkKey({0}) == "0");
  CHECK(ReadAll(*a).ok());
}

struct Fixture {
  const char* name;
  DType dtype;
  Shape shape;
  std::string compressor;
};

TEST_CASE("zarr-python fixtures decode to the expected C-order little-endian bytes") {
  const Fixture fixtures[] = {
      {"f_order_zlib", DType::kInt32, {5, 7}, "zlib:1"},
      {"slash_be_gzip_fill", DType::kInt32, {6, 4}, "gzip:5"},
      {"bool_blosc", DType::kBool, {3, 5}, "blosc:zstd:3"},
      {"complex_c8_be", DType::kComplex64, {7}, "none"},
      {"complex_c16_f", DType::kComplex128, {2, 3}, "zstd:3"},
      {"float16_nan_fill", DType::kFloat16, {5}, "zstd:1"},
      {"rank0_be_f8", DType::kFloat64, {}, "none"},
      {"uint8_blosc_edge", DType::kUInt8, {10}, "blosc:lz4:5"},
      {"f_order_be_f8_3d", DType::kFloat64, {3, 4, 5}, "gzip:1"},
  };
  for (const Fixture& f : fixtures) {
    INFO(f.name);
    FileKvStore store(ockpt::testing::TestData("zarr"));
    auto a = ZarrArray::Open(&store, std::string(f.name) + "/");
    REQUIRE(a.ok());
    CHECK(a->summary().dtype == f.dtype);
    CHECK(a->summary().shape == f.shape);
    CHECK(a->summary().compressor == f.compressor);
    auto expected = ReadFile(ockpt::testing::TestData(std::string("zarr/") + f.name + ".expected"));
    REQUIRE(expected.ok());
    auto data = ReadAll(*a);
    REQUIRE(data.ok());
    CHECK(HexString(*data) == HexString(*expected));
  }
}

TEST_CASE("fixtures: fill values, keys and missing chunks") {
  FileKvStore store(ockpt::testing::TestData("zarr"));
  auto a = ZarrArray::Open(&store, "slash_be_gzip_fill/");
  REQUIRE(a.ok());
  CHECK(a->summary().fill_value == Hex("2a000000"));
  CHECK(a->ChunkGridShape() == Shape{2, 2});
  CHECK(a->ChunkKey({1, 0}) == "slash_be_gzip_fill/1/0");
  auto missing = a->ReadChunk({1, 1});
  REQUIRE(missing.ok());
  CHECK(*missing == Hex("2a0000002a0000002a0000002a0000002a0000002a0000002a0000002a0000002a000000"
                        "2a0000002a0000002a000000"));
  auto strict = ReadAll(*a, {.missing_chunks_are_errors = true});
  CHECK(strict.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(strict.status().message(), Catch::Contains("slash_be_gzip_fill/0/1"));
  CHECK(a->ReadChunk({2, 0}).status().code() == StatusCode::kInvalidArgument);
  CHECK(a->ReadChunk({0}).status().code() == StatusCode::kInvalidArgument);

  auto c = ZarrArray::Open(&store, "complex_c8_be/");
  REQUIRE(c.ok());
  CHECK(c->summary().fill_value == Hex("0000c03f000000c0"));  // 1.5, -2.0

  auto h = ZarrArray::Open(&store, "float16_nan_fill/");
  REQUIRE(h.ok());
  CHECK(h->summary().fill_value == Hex("007e"));

  auto r = ZarrArray::Open(&store, "rank0_be_f8/");
  REQUIRE(r.ok());
  CHECK(r->ChunkGridShape().empty());
  CHECK(r->ChunkKey({}) == "rank0_be_f8/0");
  auto chunk = r->ReadChunk({});
  REQUIRE(chunk.ok());
  double v;
  std::memcpy(&v, chunk->data(), 8);
  CHECK(v == 3.25);
}

Result<ZarrMetadata> ParseV2(std::string_view json) { return ParseZarrV2Metadata(json); }

std::string ZArray(std::string_view dtype, std::string_view fill) {
  return fmt::format(R"({{"chunks":[2],"compressor":null,"dtype":"{}","fill_value":{},)"
                     R"("filters":null,"order":"C","shape":[3],"zarr_format":2}})",
                     dtype, fill);
}

TEST_CASE(".zarray: every typestr in either byte order and the TensorStore names") {
  struct T {
    const char* typestr;
    DType dtype;
    bool big;
  };
  const T types[] = {
      {"|b1", DType::kBool, false},
      {"|i1", DType::kInt8, false},
      {"|u1", DType::kUInt8, false},
      {"<i2", DType::kInt16, false},
      {">i2", DType::kInt16, true},
      {"<i4", DType::kInt32, false},
      {">i4", DType::kInt32, true},
      {"<i8", DType::kInt64, false},
      {">i8", DType::kInt64, true},
      {"<u2", DType::kUInt16, false},
      {">u2", DType::kUInt16, true},
      {"<u4", DType::kUInt32, false},
      {">u4", DType::kUInt32, true},
      {"<u8", DType::kUInt64, false},
      {">u8", DType::kUInt64, true},
      {"<f2", DType::kFloat16, false},
      {">f2", DType::kFloat16, true},
      {"<f4", DType::kFloat32, false},
      {">f4", DType::kFloat32, true},
      {"<f8", DType::kFloat64, false},
      {">f8", DType::kFloat64, true},
      {"<c8", DType::kComplex64, false},
      {">c8", DType::kComplex64, true},
      {"<c16", DType::kComplex128, false},
      {">c16", DType::kComplex128, true},
      {"bfloat16", DType::kBFloat16, false},
      {"float8_e4m3fn", DType::kFloat8E4M3FN, false},
      {"float8_e5m2", DType::kFloat8E5M2, false},
      {"float8_e4m3fnuz", DType::kFloat8E4M3FNUZ, false},
      {"float8_e4m3b11fnuz", DType::kFloat8E4M3B11FNUZ, false},
      {"float8_e5m2fnuz", DType::kFloat8E5M2FNUZ, false},
      {"float8_e3m4", DType::kFloat8E3M4, false},
      {"float8_e8m0fnu", DType::kFloat8E8M0FNU, false},
      {"float4_e2m1fn", DType::kFloat4E2M1FN, false},
      {"int4", DType::kInt4, false},
      {"int2", DType::kInt2, false},
  };
  for (const T& t : types) {
    INFO(t.typestr);
    auto md = ParseV2(ZArray(t.typestr, "null"));
    REQUIRE(md.ok());
    CHECK(md->dtype == t.dtype);
    CHECK(md->codecs.big_endian == t.big);
    CHECK(md->fill_value == Bytes(SizeOf(t.dtype), '\0'));
  }
  CHECK(ParseV2(ZArray("|S4", "null")).status().code() == StatusCode::kUnimplemented);
  CHECK(ParseV2(ZArray("<m8", "null")).status().code() == StatusCode::kUnimplemented);
  CHECK(ParseV2(R"({"chunks":[2],"compressor":null,"dtype":[["a","<f4"]],"fill_value":null,)"
                R"("filters":null,"order":"C","shape":[3],"zarr_format":2})")
            .status()
            .code() == StatusCode::kUnimplemented);
}

TEST_CASE(".zarray: fill values") {
  CHECK(ParseV2(ZArray("<f4", "\"NaN\""))->fill_value == Hex("0000c07f"));
  CHECK(ParseV2(ZArray("<f4", "\"Infinity\""))->fill_value == Hex("0000807f"));
  CHECK(ParseV2(ZArray("<f8", "\"-Infinity\""))->fill_value == Hex("000000000000f0ff"));
  CHECK(ParseV2(ZArray("<f8", "1.5"))->fill_value == Hex("000000000000f83f"));
  CHECK(ParseV2(ZArray(">f8", "1.5"))->fill_value == Hex("000000000000f83f"));
  CHECK(ParseV2(ZArray("<i2", "-2"))->fill_value == Hex("feff"));
  CHECK(ParseV2(ZArray("<u8", "18446744073709551615"))->fill_value == Hex("ffffffffffffffff"));
  CHECK(ParseV2(ZArray("<i8", "-9223372036854775808"))->fill_value == Hex("0000000000000080"));
  CHECK(ParseV2(ZArray("|b1", "true"))->fill_value == Hex("01"));
  CHECK(ParseV2(ZArray("<c8", "[1.0, \"NaN\"]"))->fill_value == Hex("0000803f0000c07f"));
  CHECK(ParseV2(ZArray("<c16", "[0.0, -1.0]"))->fill_value ==
        Hex("0000000000000000000000000000f0bf"));
  CHECK(ParseV2(ZArray("bfloat16", "1.0"))->fill_value == Hex("803f"));
  CHECK(ParseV2(ZArray("<f2", "-2.0"))->fill_value == Hex("00c0"));
  CHECK(ParseV2(ZArray("float8_e4m3fn", "\"NaN\""))->fill_value == Hex("7f"));
  CHECK(ParseV2(ZArray("int4", "-1"))->fill_value == Hex("ff"));
  // base64 of the raw stored bytes: big-endian 1 -> little-endian.
  CHECK(ParseV2(ZArray(">i4", "\"AAAAAQ==\""))->fill_value == Hex("01000000"));
  CHECK(ParseV2(ZArray("<i4", "\"AQAAAA==\""))->fill_value == Hex("01000000"));
  // Out of range, wrong kind, wrong base64 length.
  CHECK(ParseV2(ZArray("|u1", "256")).status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(ZArray("|i1", "-129")).status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(ZArray("int4", "8")).status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(ZArray("<i4", "1.5")).status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(ZArray("<i4", "\"AAE=\"")).status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(ZArray("<i4", "{}")).status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(ZArray("<c8", "[1.0]")).status().code() == StatusCode::kDataLoss);
}

TEST_CASE(".zarray: compressors, separators, order and filters") {
  auto with = [](std::string_view compressor, std::string_view extra = "") {
    return ParseV2(
        fmt::format(R"({{"chunks":[2,2],"compressor":{},"dtype":"<i4","fill_value":null,)"
                    R"("filters":null,"shape":[3,3],"zarr_format":2{}}})",
                    compressor, extra));
  };
  CHECK(with("null")->compressor == "none");
  CHECK(with(R"({"id":"zstd","level":1})")->compressor == "zstd:1");
  CHECK(with(R"({"id":"zlib","level":9})")->compressor == "zlib:9");
  CHECK(with(R"({"id":"gzip","level":6})")->compressor == "gzip:6");
  CHECK(with(R"({"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":-1})")->compressor ==
        "blosc:lz4:5");
  CHECK(with(R"({"id":"bz2","level":1})").status().code() == StatusCode::kUnimplemented);
  CHECK(with(R"({"id":"lzma"})").status().code() == StatusCode::kUnimplemented);
  CHECK(with(R"({"level":1})").status().code() == StatusCode::kDataLoss);
  CHECK(with(R"("zstd")").status().code() == StatusCode::kDataLoss);

  auto md = with("null");  // no order, no separator: C and "."
  REQUIRE(md.ok());
  CHECK(md->codecs.permutation.empty());
  CHECK(ChunkKey("p/", md->key_encoding, {1, 2}) == "p/1.2");
  md = with("null", R"(,"dimension_separator":"/","order":"F")");
  REQUIRE(md.ok());
  CHECK(md->codecs.permutation == std::vector<int>{1, 0});
  CHECK(ChunkKey("p/", md->key_encoding, {1, 2}) == "p/1/2");
  CHECK(with("null", R"(,"dimension_separator":"-")").status().code() == StatusCode::kDataLoss);
  CHECK(with("null", R"(,"order":"K")").status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(R"({"chunks":[2],"compressor":null,"dtype":"<i4","fill_value":null,)"
                R"("filters":[],"order":"C","shape":[3],"zarr_format":2})")
            .ok());
  CHECK(ParseV2(
            R"({"chunks":[2],"compressor":null,"dtype":"<i4","fill_value":null,)"
            R"("filters":[{"id":"delta","dtype":"<i4"}],"order":"C","shape":[3],"zarr_format":2})")
            .status()
            .code() == StatusCode::kUnimplemented);
}

TEST_CASE(".zarray: hostile shapes and garbage are clean errors") {
  auto shaped = [](std::string_view shape, std::string_view chunks,
                   std::string_view dtype = "<i4") {
    return ParseV2(fmt::format(R"({{"chunks":{},"compressor":null,"dtype":"{}","fill_value":null,)"
                               R"("filters":null,"order":"C","shape":{},"zarr_format":2}})",
                               chunks, dtype, shape));
  };
  CHECK(shaped("[3]", "[2]").ok());
  CHECK(shaped("[0]", "[2]").ok());
  CHECK(shaped("[-1]", "[2]").status().code() == StatusCode::kDataLoss);
  CHECK(shaped("[3]", "[0]").status().code() == StatusCode::kDataLoss);
  CHECK(shaped("[3]", "[-2]").status().code() == StatusCode::kDataLoss);
  CHECK(shaped("[3, 3]", "[2]").status().code() == StatusCode::kDataLoss);
  CHECK(shaped("[3.5]", "[2]").status().code() == StatusCode::kDataLoss);
  CHECK(shaped("3", "[2]").status().code() == StatusCode::kDataLoss);
  CHECK(shaped("[4611686018427387904, 4611686018427387904]", "[1, 1]").status().code() ==
        StatusCode::kDataLoss);
  CHECK(shaped("[18446744073709551615]", "[1]").status().code() == StatusCode::kDataLoss);
  // One chunk of 2^35 bytes is refused before anything is allocated.
  auto big = shaped("[1073741824, 8]", "[1073741824, 8]");
  CHECK(big.status().code() == StatusCode::kUnimplemented);
  CHECK(ParseV2("").status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2("{\"shape\":").status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2("[1,2]").status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2("\xff\xfe garbage").status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(R"({"shape":[1]})").status().code() == StatusCode::kDataLoss);
  CHECK(ParseV2(R"({"chunks":[2],"compressor":null,"dtype":"<i4","fill_value":null,)"
                R"("filters":null,"order":"C","shape":[3],"zarr_format":3})")
            .status()
            .code() == StatusCode::kUnimplemented);

  MemoryKvStore store;
  store.values["x/.zarray"] = "not json";
  auto a = ZarrArray::Open(&store, "x/");
  CHECK(a.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(a.status().message(), Catch::Contains("x/.zarray"));
}

}  // namespace
}  // namespace ockpt::zarr
