#include "lib/base/bytes.h"

#include <algorithm>
#include <catch2/catch.hpp>

namespace ockpt {
namespace {

TEST_CASE("varint round trip and canonical bytes") {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{100000000}, ~uint64_t{0}}) {
    Bytes b;
    PutVarint(&b, v);
    ByteReader r(b);
    auto got = r.ReadVarint64("v");
    REQUIRE(got.ok());
    CHECK(*got == v);
    CHECK(r.empty());
  }
  Bytes b;
  PutVarint(&b, 100000000);
  CHECK(HexString(b) == "80c2d72f");
  Bytes missing;
  PutVarint(&missing, ~uint64_t{0});
  CHECK(HexString(missing) == "ffffffffffffffffff01");
}

TEST_CASE("ByteReader rejects truncation and overflow") {
  ByteReader r(ByteView("\x80\x80", 2));
  auto v = r.ReadVarint64("count");
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().code() == StatusCode::kDataLoss);
  CHECK(v.status().message().find("count") != std::string::npos);

  ByteReader big(ByteView("\xff\xff\xff\xff\x10", 5));
  CHECK_FALSE(big.ReadVarint32("x").ok());

  ByteReader over(ByteView("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10));
  CHECK_FALSE(over.ReadVarint64("x").ok());

  ByteReader shortr(ByteView("abc", 3));
  CHECK_FALSE(shortr.ReadBytes(4, "x").ok());
  CHECK_FALSE(shortr.ReadU32LE("x").ok());
  CHECK(shortr.ReadBytes(3, "x").ok());
}

TEST_CASE("fixed-width encodings") {
  Bytes b;
  PutU32BE(&b, 0x0cdb3a2a);
  PutU64LE(&b, 110);
  CHECK(HexString(b) == "0cdb3a2a6e00000000000000");
  ByteReader r(b);
  CHECK(*r.ReadU32BE("magic") == 0x0cdb3a2a);
  CHECK(*r.ReadU64LE("len") == 110);
}

TEST_CASE("ZeroedBytes: zeros of the size asked, room for the capacity") {
  for (size_t n : {size_t{0}, size_t{10}, size_t{40} << 20}) {
    Bytes b = ZeroedBytes(n, n + 20);
    CHECK(b.size() == n);
    CHECK(b.capacity() >= n + 20);
    CHECK(std::count(b.begin(), b.end(), '\0') == static_cast<std::ptrdiff_t>(n));
  }
  CHECK(ZeroedBytes(5).size() == 5);
}

}  // namespace
}  // namespace ockpt
