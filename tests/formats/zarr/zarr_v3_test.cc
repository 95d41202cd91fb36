// zarr v3: golden loose arrays and hand-built chunks and shards (spec
// §13.5 / §13.6 layouts, transpose, big-endian bytes, crc32c, key
// encodings, fill values).

#include <catch2/catch.hpp>
#include <cstring>
#include <optional>

#include "formats/zarr/metadata_v3.h"
#include "formats/zarr/zarr_array.h"
#include "lib/base/crc32c.h"
#include "lib/compression/compression.h"
#include "tests/formats/zarr/zarr_test_util.h"
#include "tests/support/testdata.h"

namespace ockpt::zarr {
namespace {

using testing::Hex;
using testing::MemoryKvStore;
using testing::ReadAll;
using testing::Sha256Hex;

constexpr std::string_view kBytesLE = R"({"configuration":{"endian":"little"},"name":"bytes"})";
constexpr std::string_view kBytesBE = R"({"configuration":{"endian":"big"},"name":"bytes"})";

std::string ZarrJson(std::string_view shape, std::string_view chunks, std::string_view dtype,
                     std::string_view codecs, std::string_view fill = "0",
                     std::string_view key_encoding = R"({"name":"default"})") {
  return fmt::format(R"({{"chunk_grid":{{"configuration":{{"chunk_shape":{}}},"name":"regular"}},)"
                     R"("chunk_key_encoding":{},"codecs":{},"data_type":"{}","fill_value":{},)"
                     R"("node_type":"array","shape":{},"zarr_format":3}})",
                     chunks, key_encoding, codecs, dtype, fill, shape);
}

std::string Sharding(std::string_view inner_shape, std::string_view codecs,
                     std::string_view extra = "") {
  return fmt::format(
      R"({{"configuration":{{"chunk_shape":{},"codecs":{},"index_codecs":[{},{{"name":"crc32c"}}]{}}},)"
      R"("name":"sharding_indexed"}})",
      inner_shape, codecs, kBytesLE, extra);
}

// A shard of encoded inner chunks (nullopt = missing) with the default
// index codecs [bytes little, crc32c].
Bytes Shard(const std::vector<std::optional<Bytes>>& inner, bool index_at_start = false) {
  const uint64_t index_size = 16 * inner.size() + 4;
  const uint64_t base = index_at_start ? index_size : 0;
  Bytes data, index;
  for (const auto& c : inner) {
    if (!c) {
      PutU64LE(&index, ~uint64_t{0});
      PutU64LE(&index, ~uint64_t{0});
      continue;
    }
    PutU64LE(&index, base + data.size());
    PutU64LE(&index, c->size());
    data += *c;
  }
  PutU32LE(&index, Crc32c(index));
  return index_at_start ? index + data : data + index;
}

Result<ZarrArray> OpenV3(MemoryKvStore& store, const std::string& json) {
  store.values["arr/zarr.json"] = json;
  return ZarrArray::Open(&store, "arr/");
}

TEST_CASE("golden: neuroglancer simple_0.5 loose zarr3") {
  FileKvStore store(ockpt::testing::Golden("neuroglancer_ome_zarr/simple_0.5"));
  const std::pair<const char*, const char*> cases[] = {
      {"scale0/image/", "0914116557e78ac6d6c10016d319d56f4e3e6580362256bcc7a2c073c6900dbf"},
      {"scale1/image/", "1d349bcf8d50d874f5ce97df3cbd67731b58cf5e4c45f6bb88ad66e45ca2b775"},
      {"scale2/image/", "8fd1879afa9abc94e30b1b58217eaf8dd83f9dc46b5e1ef21e4f4d7235d7a7f3"},
  };
  for (const auto& [prefix, sha] : cases) {
    INFO(prefix);
    auto a = ZarrArray::Open(&store, prefix);
    REQUIRE(a.ok());
    CHECK(a->summary().zarr_format == 3);
    CHECK(a->summary().dtype == DType::kUInt16);
    CHECK(a->summary().compressor == "none");
    CHECK(a->ChunkKey({0, 0}) == std::string(prefix) + "c/0/0");
    auto data = ReadAll(*a, {.missing_chunks_are_errors = true});
    REQUIRE(data.ok());
    CHECK(Sha256Hex(*data) == sha);
  }
  CHECK(ZarrArray::Open(&store, "").status().code() == StatusCode::kInvalidArgument);  // a group
}

TEST_CASE("spec 13.5: Orbax zarr3 shard int32[3] = 1,2,3") {
  MemoryKvStore store;
  const std::string json =
      R"({"chunk_grid":{"configuration":{"chunk_shape":[3]},"name":"regular"},"chunk_key_encoding":{"name":"default"},)"
      R"("codecs":[{"configuration":{"chunk_shape":[3],"codecs":[{"configuration":{"endian":"little"},"name":"bytes"},)"
      R"({"configuration":{"checksum":false,"level":3},"name":"zstd"}],"index_codecs":[{"configuration":{"endian":"little"},)"
      R"("name":"bytes"},{"name":"crc32c"}]},"name":"sharding_indexed"}],"data_type":"int32","fill_value":0,)"
      R"("node_type":"array","shape":[3],"zarr_format":3})";
  store.values["arr/c/0"] =
      Hex("28b52ffd200c610000010000000200000003000000"
          "0000000000000000"
          "1500000000000000"
          "146c27ae");
  auto a = OpenV3(store, json);
  REQUIRE(a.ok());
  CHECK(a->summary().compressor == "zstd:3");
  CHECK(a->summary().chunk_shape == Shape{3});
  CHECK(a->ChunkKey({0}) == "arr/c/0");
  auto data = ReadAll(*a, {.missing_chunks_are_errors = true});
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "010000000200000003000000");

  // CRC mismatch in the index.
  Bytes bad = store.values["arr/c/0"];
  bad.back() ^= 1;
  store.values["arr/c/0"] = bad;
  auto r = ReadAll(*a);
  CHECK(r.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(r.status().message(), Catch::Contains("CRC-32C"));
  CHECK_THAT(r.status().message(), Catch::Contains("arr/c/0"));
}

TEST_CASE("spec 13.6: shard layouts with a missing inner chunk, index at end and start") {
  CHECK(HexString(Shard({std::nullopt, Hex("010203")})) ==
        std::string("010203") + "ffffffffffffffffffffffffffffffff" +
            "00000000000000000300000000000000" + "d0fab314");
  CHECK(HexString(Shard({Hex("010203"), Hex("040506")})) ==
        std::string("010203040506") + "00000000000000000300000000000000" +
            "03000000000000000300000000000000" + "53e01189");
  for (bool at_start : {false, true}) {
    INFO("index at start: " << at_start);
    MemoryKvStore store;
    auto a = OpenV3(store, ZarrJson("[6]", "[6]", "uint8",
                                    "[" +
                                        Sharding("[3]", fmt::format("[{}]", R"({"name":"bytes"})"),
                                                 at_start ? R"(,"index_location":"start")" : "") +
                                        "]",
                                    "9"));
    REQUIRE(a.ok());
    CHECK(a->summary().compressor == "none");
    store.values["arr/c/0"] = Shard({std::nullopt, Hex("010203")}, at_start);
    auto data = ReadAll(*a);
    REQUIRE(data.ok());
    CHECK(HexString(*data) == "090909010203");
    // Missing inner chunks are the fill value even when chunks must exist.
    CHECK(ReadAll(*a, {.missing_chunks_are_errors = true}).ok());
    store.values["arr/c/0"] = Shard({Hex("010203"), Hex("040506")}, at_start);
    data = ReadAll(*a);
    REQUIRE(data.ok());
    CHECK(HexString(*data) == "010203040506");
    // A missing shard is all fill, or an error when asked.
    store.values.erase("arr/c/0");
    data = ReadAll(*a);
    REQUIRE(data.ok());
    CHECK(HexString(*data) == "090909090909");
    auto strict = ReadAll(*a, {.missing_chunks_are_errors = true});
    CHECK(strict.status().code() == StatusCode::kDataLoss);
    CHECK_THAT(strict.status().message(), Catch::Contains("arr/c/0"));
  }
}

TEST_CASE("sharding: hostile indexes are kDataLoss") {
  MemoryKvStore store;
  auto a = OpenV3(
      store, ZarrJson("[6]", "[6]", "uint8", "[" + Sharding("[3]", R"([{"name":"bytes"}])") + "]"));
  REQUIRE(a.ok());
  auto expect_loss = [&](Bytes shard, std::string_view what) {
    store.values["arr/c/0"] = std::move(shard);
    auto r = ReadAll(*a);
    INFO(r.status().ToString());
    CHECK(r.status().code() == StatusCode::kDataLoss);
    CHECK_THAT(r.status().message(), Catch::Contains(std::string(what)));
  };
  expect_loss(Bytes(), "index");
  expect_loss(Hex("0102"), "index");
  // Inner chunk beyond the shard.
  Bytes index;
  PutU64LE(&index, 0);
  PutU64LE(&index, 3);
  PutU64LE(&index, 2);
  PutU64LE(&index, 1000);
  PutU32LE(&index, Crc32c(index));
  expect_loss(Hex("010203") + index, "outside");
  // Offset overflow.
  index.clear();
  PutU64LE(&index, ~uint64_t{0} - 1);
  PutU64LE(&index, 3);
  PutU64LE(&index, 0);
  PutU64LE(&index, 3);
  PutU32LE(&index, Crc32c(index));
  expect_loss(Hex("010203") + index, "outside");
  // Inner chunk of the wrong size.
  expect_loss(Shard({Hex("0102"), Hex("040506")}), "expected 3");
  // Truncated shard: the index CRC no longer matches.
  Bytes good = Shard({Hex("010203"), Hex("040506")});
  expect_loss(good.substr(0, good.size() - 1), "CRC-32C");
}

TEST_CASE("sharding: several shards, edge shard, 2-D inner grid, transpose before sharding") {
  MemoryKvStore store;
  // uint8 [5], shards of 4, inner chunks of 2; shard 1 covers 4..7 (only 4 in bounds).
  auto a = OpenV3(store, ZarrJson("[5]", "[4]", "uint8",
                                  "[" + Sharding("[2]", R"([{"name":"bytes"}])") + "]", "255"));
  REQUIRE(a.ok());
  CHECK(a->ChunkGridShape() == Shape{2});
  store.values["arr/c/0"] = Shard({Hex("0001"), Hex("0203")});
  store.values["arr/c/1"] = Shard({Hex("0405"), std::nullopt});
  auto data = ReadAll(*a);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "0001020304");
  auto chunk = a->ReadChunk({1});
  REQUIRE(chunk.ok());
  CHECK(HexString(*chunk) == "0405ffff");

  // uint16 [4,4] in one shard, inner chunks [2,2] (grid 2x2, C order).
  MemoryKvStore store2;
  auto b = OpenV3(store2, ZarrJson("[4,4]", "[4,4]", "uint16",
                                   "[" + Sharding("[2,2]", fmt::format("[{}]", kBytesLE)) + "]"));
  REQUIRE(b.ok());
  auto block = [](int r0, int c0) {
    Bytes out;
    for (int r = r0; r < r0 + 2; ++r) {
      for (int c = c0; c < c0 + 2; ++c) {
        out.push_back(static_cast<char>(r * 4 + c));
        out.push_back('\0');
      }
    }
    return out;
  };
  store2.values["arr/c/0/0"] = Shard({block(0, 0), block(0, 2), block(2, 0), block(2, 2)});
  data = ReadAll(*b);
  REQUIRE(data.ok());
  for (int i = 0; i < 16; ++i) CHECK(static_cast<int>((*data)[2 * i]) == i);

  // transpose [1,0] then sharding: the shard is sharded in transposed space.
  MemoryKvStore store3;
  auto c = OpenV3(store3, ZarrJson("[2,4]", "[2,4]", "uint8",
                                   R"([{"configuration":{"order":[1,0]},"name":"transpose"},)" +
                                       Sharding("[2,2]", R"([{"name":"bytes"}])") + "]"));
  REQUIRE(c.ok());
  store3.values["arr/c/0/0"] = Shard({Hex("00040105"), Hex("02060307")});
  data = ReadAll(*c);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "0001020304050607");
}

TEST_CASE("nested sharding") {
  MemoryKvStore store;
  // uint8 [4]: outer inner-chunks of 2, each itself sharded into chunks of 1.
  std::string inner = "[" + Sharding("[1]", R"([{"name":"bytes"}])") + "]";
  auto a = OpenV3(store, ZarrJson("[4]", "[4]", "uint8", "[" + Sharding("[2]", inner) + "]", "7"));
  REQUIRE(a.ok());
  store.values["arr/c/0"] =
      Shard({Shard({Hex("00"), Hex("01")}), Shard({std::nullopt, Hex("03")})});
  auto data = ReadAll(*a);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "00010703");
}

TEST_CASE("transpose and big-endian bytes codecs") {
  MemoryKvStore store;
  // int16 [2,3] = 0..5 stored transposed ([3,2] C order), big-endian.
  auto a = OpenV3(
      store,
      ZarrJson("[2,3]", "[2,3]", "int16",
               fmt::format(R"([{{"configuration":{{"order":[1,0]}},"name":"transpose"}},{}])",
                           kBytesBE)));
  REQUIRE(a.ok());
  store.values["arr/c/0/0"] = Hex("000000030001000400020005");
  auto data = ReadAll(*a);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "000001000200030004000500");

  // "F" is the reversed order; two transposes compose.
  for (std::string order : {R"("F")", R"([1,0])"}) {
    MemoryKvStore s;
    auto b = OpenV3(
        s, ZarrJson(
               "[2,3]", "[2,3]", "uint8",
               fmt::format(
                   R"([{{"configuration":{{"order":{}}},"name":"transpose"}},{{"name":"bytes"}}])",
                   order)));
    REQUIRE(b.ok());
    s.values["arr/c/0/0"] = Hex("000301040205");
    data = ReadAll(*b);
    REQUIRE(data.ok());
    CHECK(HexString(*data) == "000102030405");
  }
  MemoryKvStore s2;
  auto c = OpenV3(
      s2, ZarrJson("[2,3]", "[2,3]", "uint8",
                   R"([{"configuration":{"order":[1,0]},"name":"transpose"},)"
                   R"({"configuration":{"order":[1,0]},"name":"transpose"},{"name":"bytes"}])"));
  REQUIRE(c.ok());
  s2.values["arr/c/0/0"] = Hex("000102030405");
  data = ReadAll(*c);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "000102030405");
  // 3-D permutation [2,0,1]: encoded dim i is decoded dim order[i].
  MemoryKvStore s3;
  auto d = OpenV3(
      s3, ZarrJson("[2,2,3]", "[2,2,3]", "uint8",
                   R"([{"configuration":{"order":[2,0,1]},"name":"transpose"},{"name":"bytes"}])"));
  REQUIRE(d.ok());
  Bytes enc;
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) enc.push_back(static_cast<char>(i * 6 + j * 3 + k));
  s3.values["arr/c/0/0/0"] = enc;
  data = ReadAll(*d);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "000102030405060708090a0b");

  // complex64 big-endian swaps each half.
  MemoryKvStore s4;
  auto e =
      OpenV3(s4, ZarrJson("[1]", "[1]", "complex64", fmt::format("[{}]", kBytesBE), "[0.0, 0.0]"));
  REQUIRE(e.ok());
  s4.values["arr/c/0"] = Hex("3f800000c0000000");
  data = ReadAll(*e);
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "0000803f000000c0");
}

TEST_CASE("bytes->bytes chains: zstd, gzip, blosc summary, crc32c") {
  Bytes raw = Hex("0100000002000000030000000400000005000000");
  auto zstd = ZstdCompress(raw, 3);
  REQUIRE(zstd.ok());
  Bytes with_crc = *zstd;
  PutU32LE(&with_crc, Crc32c(*zstd));
  MemoryKvStore store;
  auto a =
      OpenV3(store, ZarrJson("[5]", "[5]", "int32",
                             fmt::format(R"([{},{{"configuration":{{"checksum":false,"level":3}},)"
                                         R"("name":"zstd"}},{{"name":"crc32c"}}])",
                                         kBytesLE)));
  REQUIRE(a.ok());
  CHECK(a->summary().compressor == "zstd:3");
  store.values["arr/c/0"] = with_crc;
  auto data = ReadAll(*a);
  REQUIRE(data.ok());
  CHECK(*data == raw);
  with_crc[2] ^= 0x10;
  store.values["arr/c/0"] = with_crc;
  CHECK(ReadAll(*a).status().code() == StatusCode::kDataLoss);

  auto gz = ZlibCompress(raw, 6, /*gzip=*/true);
  REQUIRE(gz.ok());
  MemoryKvStore s2;
  auto b = OpenV3(
      s2,
      ZarrJson("[5]", "[5]", "int32",
               fmt::format(R"([{},{{"configuration":{{"level":6}},"name":"gzip"}}])", kBytesLE)));
  REQUIRE(b.ok());
  CHECK(b->summary().compressor == "gzip:6");
  s2.values["arr/c/0"] = *gz;
  data = ReadAll(*b);
  REQUIRE(data.ok());
  CHECK(*data == raw);

  // crc32c alone, after bytes.
  MemoryKvStore s3;
  auto c = OpenV3(
      s3, ZarrJson("[5]", "[5]", "int32", fmt::format(R"([{},{{"name":"crc32c"}}])", kBytesLE)));
  REQUIRE(c.ok());
  CHECK(c->summary().compressor == "none");
  Bytes plain = raw;
  PutU32LE(&plain, Crc32c(raw));
  s3.values["arr/c/0"] = plain;
  data = ReadAll(*c);
  REQUIRE(data.ok());
  CHECK(*data == raw);
  plain[0] ^= 1;
  s3.values["arr/c/0"] = plain;
  auto r = ReadAll(*c);
  CHECK(r.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(r.status().message(), Catch::Contains("CRC-32C"));

  auto md = ParseZarrV3Metadata(
      ZarrJson("[5]", "[5]", "int32",
               fmt::format(R"([{},{{"configuration":{{"blocksize":0,"clevel":5,"cname":"lz4",)"
                           R"("shuffle":"shuffle","typesize":4}},"name":"blosc"}}])",
                           kBytesLE)));
  REQUIRE(md.ok());
  CHECK(md->compressor == "blosc:lz4:5");
}

TEST_CASE("chunk key encodings") {
  auto key = [](std::string_view encoding, const Shape& shape, const Shape& index) {
    MemoryKvStore store;
    std::string rank_shape = ShapeString(shape);
    auto a = OpenV3(
        store, ZarrJson(rank_shape, rank_shape, "uint8", R"([{"name":"bytes"}])", "0", encoding));
    REQUIRE(a.ok());
    return a->ChunkKey(index);
  };
  CHECK(key(R"({"name":"default"})", {4, 4}, {1, 2}) == "arr/c/1/2");
  CHECK(key(R"({"configuration":{"separator":"."},"name":"default"})", {4, 4}, {1, 2}) ==
        "arr/c.1.2");
  CHECK(key(R"({"name":"v2"})", {4, 4}, {1, 2}) == "arr/1.2");
  CHECK(key(R"({"configuration":{"separator":"/"},"name":"v2"})", {4, 4}, {1, 2}) == "arr/1/2");
  CHECK(key(R"({"name":"default"})", {}, {}) == "arr/c");
  CHECK(key(R"({"name":"v2"})", {}, {}) == "arr/0");

  // A rank-0 zarr3 array reads chunk "c".
  MemoryKvStore store;
  auto a = OpenV3(store, ZarrJson("[]", "[]", "float32", fmt::format("[{}]", kBytesLE), "0.0"));
  REQUIRE(a.ok());
  store.values["arr/c"] = Hex("0000a040");
  auto data = ReadAll(*a, {.missing_chunks_are_errors = true});
  REQUIRE(data.ok());
  CHECK(HexString(*data) == "0000a040");
}

TEST_CASE("zarr.json fill values") {
  auto fill = [](std::string_view dtype, std::string_view value) -> Result<Bytes> {
    std::string codecs = SizeOf(*DTypeFromName(dtype)) == 1 ? R"([{"name":"bytes"}])"
                                                            : fmt::format("[{}]", kBytesLE);
    OCKPT_ASSIGN_OR_RETURN(ZarrMetadata md,
                           ParseZarrV3Metadata(ZarrJson("[2]", "[2]", dtype, codecs, value)));
    return md.fill_value;
  };
  CHECK(*fill("float32", "\"NaN\"") == Hex("0000c07f"));
  CHECK(*fill("float32", "\"0x7fc00001\"") == Hex("0100c07f"));
  CHECK(*fill("float32", "\"Infinity\"") == Hex("0000807f"));
  CHECK(*fill("float64", "\"-Infinity\"") == Hex("000000000000f0ff"));
  CHECK(*fill("float64", "0.0") == Hex("0000000000000000"));
  CHECK(*fill("float64", "1e+20") == Hex("408cb5781daf1544"));
  CHECK(*fill("bfloat16", "0.0") == Hex("0000"));
  CHECK(*fill("bfloat16", "\"0x7fc1\"") == Hex("c17f"));
  CHECK(*fill("float16", "\"Infinity\"") == Hex("007c"));
  CHECK(*fill("float8_e5m2", "\"-Infinity\"") == Hex("fc"));
  CHECK(*fill("float8_e4m3fn", "448.0") == Hex("7e"));
  CHECK(*fill("float4_e2m1fn", "-6") == Hex("0f"));
  CHECK(*fill("int32", "-1") == Hex("ffffffff"));
  CHECK(*fill("uint64", "18446744073709551615") == Hex("ffffffffffffffff"));
  CHECK(*fill("bool", "true") == Hex("01"));
  CHECK(*fill("complex64", "[1.0, \"-Infinity\"]") == Hex("0000803f000080ff"));
  CHECK(*fill("complex128", "[\"0x7ff8000000000001\", 0.0]") ==
        Hex("010000000000f87f0000000000000000"));
  CHECK(fill("float32", "\"0x7fc0000001\"").status().code() == StatusCode::kDataLoss);
  CHECK(fill("float32", "\"0xzz\"").status().code() == StatusCode::kDataLoss);
  CHECK(fill("float32", "\"nan\"").status().code() == StatusCode::kDataLoss);
  CHECK(fill("int8", "200").status().code() == StatusCode::kDataLoss);
  CHECK(fill("float4_e2m1fn", "\"NaN\"").status().code() == StatusCode::kDataLoss);
}

TEST_CASE("zarr.json: malformed and unsupported metadata") {
  auto code = [](const std::string& json) { return ParseZarrV3Metadata(json).status().code(); };
  const std::string bytes = fmt::format("[{}]", kBytesLE);
  CHECK(code(ZarrJson("[4]", "[2]", "int32", bytes)) == StatusCode::kOk);
  CHECK(code(ZarrJson("[4]", "[2]", "r16", bytes)) == StatusCode::kUnimplemented);
  CHECK(code(ZarrJson("[4]", "[2]", "string", bytes)) == StatusCode::kUnimplemented);
  CHECK(code(ZarrJson("[4]", "[0]", "int32", bytes)) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[-4]", "[2]", "int32", bytes)) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2,2]", "int32", bytes)) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2]", "int32", R"([{"name":"bytes"}])")) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2]", "int32", "[]")) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2]", "int32", R"([{"name":"zstd"}])")) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2]", "int32", fmt::format("[{},{}]", kBytesLE, kBytesLE))) ==
        StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2]", "int32",
                      fmt::format(R"([{},{{"configuration":{{"order":[0]}},"name":"transpose"}}])",
                                  kBytesLE))) == StatusCode::kDataLoss);
  CHECK(
      code(ZarrJson("[4,4]", "[2,2]", "int32",
                    fmt::format(R"([{{"configuration":{{"order":[0,0]}},"name":"transpose"}},{}])",
                                kBytesLE))) == StatusCode::kDataLoss);
  CHECK(code(ZarrJson("[4]", "[2]", "int32", fmt::format(R"([{},{{"name":"lz4"}}])", kBytesLE))) ==
        StatusCode::kUnimplemented);
  CHECK(code(ZarrJson("[4]", "[2]", "int32",
                      R"([{"configuration":{"endian":"middle"},"name":"bytes"}])")) ==
        StatusCode::kDataLoss);
  // Inner chunks must divide the shard; index codecs must have a fixed size.
  CHECK(
      code(ZarrJson("[6]", "[6]", "uint8", "[" + Sharding("[4]", R"([{"name":"bytes"}])") + "]")) ==
      StatusCode::kDataLoss);
  CHECK(
      code(ZarrJson("[6]", "[6]", "uint8", "[" + Sharding("[0]", R"([{"name":"bytes"}])") + "]")) ==
      StatusCode::kDataLoss);
  CHECK(code(ZarrJson(
            "[6]", "[6]", "uint8",
            fmt::format(R"([{{"configuration":{{"chunk_shape":[3],"codecs":[{{"name":"bytes"}}],)"
                        R"("index_codecs":[{},{{"name":"zstd"}}]}},"name":"sharding_indexed"}}])",
                        kBytesLE))) == StatusCode::kUnimplemented);
  CHECK(code(ZarrJson(
            "[6]", "[6]", "uint8",
            "[" + Sharding("[3]", R"([{"name":"bytes"}])", R"(,"index_location":"middle")") +
                "]")) == StatusCode::kDataLoss);
  CHECK(code(R"({"zarr_format":3,"node_type":"group"})") == StatusCode::kInvalidArgument);
  CHECK(code(R"({"zarr_format":2,"node_type":"array"})") == StatusCode::kUnimplemented);
  CHECK(code(R"({"zarr_format":3,"node_type":"array"})") == StatusCode::kDataLoss);
  CHECK(code("{\"zarr_format\":3,") == StatusCode::kDataLoss);
  CHECK(code("null") == StatusCode::kDataLoss);
  std::string no_grid = ZarrJson("[4]", "[2]", "int32", bytes);
  no_grid.replace(no_grid.find("regular"), 7, "rectilinear");
  CHECK(code(no_grid) == StatusCode::kUnimplemented);
  std::string enc = ZarrJson("[4]", "[2]", "int32", bytes, "0", R"({"name":"other"})");
  CHECK(code(enc) == StatusCode::kUnimplemented);
  // Deep nesting is refused, not recursed into without bound.
  std::string deep = R"([{"name":"bytes"}])";
  for (int i = 0; i < 10; ++i) deep = "[" + Sharding("[1]", deep) + "]";
  CHECK(code(ZarrJson("[1]", "[1]", "uint8", deep)) == StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace ockpt::zarr
