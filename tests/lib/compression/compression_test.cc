#include "lib/compression/compression.h"

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

Bytes Hex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST_CASE("zstd frame without content size (old TensorStore)") {
  auto out = ZstdDecompress(Hex("28b52ffd0000610000010000000200000003000000"), 1 << 20);
  REQUIRE(out.ok());
  CHECK(HexString(*out) == "010000000200000003000000");
}

TEST_CASE("zstd round trip, corruption and trailing data") {
  Bytes data(100000, 'x');
  for (size_t i = 0; i < data.size(); i += 7) data[i] = static_cast<char>(i);
  auto c = ZstdCompress(data, 1);
  REQUIRE(c.ok());
  auto d = ZstdDecompress(*c, data.size());
  REQUIRE(d.ok());
  CHECK(*d == data);
  CHECK(ZstdDecompress(*c, data.size() - 1).status().code() == StatusCode::kDataLoss);
  CHECK_FALSE(ZstdDecompress(*c + "x", data.size()).ok());
  CHECK_FALSE(ZstdDecompress(c->substr(0, c->size() - 3), data.size()).ok());
  Bytes flipped = *c;
  flipped[0] ^= 1;
  CHECK_FALSE(ZstdDecompress(flipped, data.size()).ok());
}

TEST_CASE("zlib and gzip round trip") {
  Bytes data = "hello hello hello hello";
  for (bool gzip : {false, true}) {
    auto c = ZlibCompress(data, 6, gzip);
    REQUIRE(c.ok());
    auto d = ZlibDecompress(*c, 1000, gzip);
    REQUIRE(d.ok());
    CHECK(*d == data);
    CHECK_FALSE(ZlibDecompress(c->substr(0, c->size() - 2), 1000, gzip).ok());
    CHECK_FALSE(ZlibDecompress(*c, 5, gzip).ok());
  }
}

TEST_CASE("blosc lz4 frame written by TensorStore") {
  auto d = BloscDecompress(Hex("020133020800000008000000180000000500080027002a00"), 1000);
  REQUIRE(d.ok());
  CHECK(HexString(*d) == "050008002700" "2a00");
  CHECK_FALSE(BloscDecompress(Hex("0201330208000000080000001800"), 1000).ok());
}

}  // namespace
}  // namespace ockpt
