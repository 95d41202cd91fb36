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

TEST_CASE("zstd content checksum: set on request, checked on decode") {
  // 1, 2, 3 as int32: one raw block, so a flipped data byte decodes to other
  // values unless the frame carries its checksum.
  const Bytes data = Hex("010000000200000003000000");
  auto plain = ZstdCompress(data, 1);
  auto summed = ZstdCompress(data, 1, /*checksum=*/true);
  REQUIRE(plain.ok());
  REQUIRE(summed.ok());
  CHECK(HexString(*plain) == "28b52ffd200c610000010000000200000003000000");
  CHECK((static_cast<uint8_t>((*plain)[4]) & 0x04) == 0);
  CHECK((static_cast<uint8_t>((*summed)[4]) & 0x04) != 0);
  CHECK(summed->size() == plain->size() + 4);
  CHECK(summed->substr(5, plain->size() - 5) == plain->substr(5));
  auto back = ZstdDecompress(*summed, 1 << 20);
  REQUIRE(back.ok());
  CHECK(*back == data);
  // The thread's reused context is back to ZSTD_compress's frame.
  CHECK(*ZstdCompress(data, 1) == *plain);
  const size_t value_byte = plain->size() - 4;  // inside the raw block
  Bytes bad_plain = *plain, bad_summed = *summed;
  bad_plain[value_byte] ^= 0x10;
  bad_summed[value_byte] ^= 0x10;
  auto silent = ZstdDecompress(bad_plain, 1 << 20);
  REQUIRE(silent.ok());  // why the checksum is needed
  CHECK(*silent != data);
  CHECK(ZstdDecompress(bad_summed, 1 << 20).status().code() == StatusCode::kDataLoss);
  for (size_t i = summed->size() - 4; i < summed->size(); ++i) {
    Bytes bad = *summed;
    bad[i] ^= 0x01;
    CHECK(ZstdDecompress(bad, 1 << 20).status().code() == StatusCode::kDataLoss);
  }
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
