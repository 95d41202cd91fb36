#include "lib/base/bytes.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <thread>

namespace ockpt {
namespace {

TEST_CASE("ReusedBytes hands a recycled buffer back to its thread, at the size asked") {
  // A fresh thread: its cache starts empty.
  std::thread([] {
    Bytes a = ReusedBytes(size_t{1} << 20);
    CHECK(a.size() == size_t{1} << 20);
    CHECK(a.find_first_not_of('\0') == Bytes::npos);  // a new buffer is zero-filled
    a.assign(a.size(), 'x');
    const char* memory = a.data();
    RecycleBytes(std::move(a));
    // The same memory, cut to the size asked, its old bytes left in place.
    Bytes b = ReusedBytes((size_t{1} << 20) - 100);
    CHECK(b.data() == memory);
    CHECK(b.size() == (size_t{1} << 20) - 100);
    CHECK(b.front() == 'x');
    RecycleBytes(std::move(b));
    // Not for a value less than half its size (the caller may keep it), nor
    // for one larger than it holds.
    Bytes small = ReusedBytes(1000);
    CHECK(small.data() != memory);
    Bytes large = ReusedBytes(size_t{3} << 20);
    CHECK(large.data() != memory);
    CHECK(large.size() == size_t{3} << 20);
    // Of two kinds of values (a compressed chunk read, the chunk decoded),
    // each gets the buffer last used at about its size.
    const size_t kRead = 2600000, kDecoded = size_t{4} << 20;
    Bytes read = ReusedBytes(kRead);
    Bytes decoded = ReusedBytes(kDecoded);
    const char* read_memory = read.data();
    const char* decoded_memory = decoded.data();
    RecycleBytes(std::move(read));
    RecycleBytes(std::move(decoded));
    Bytes read2 = ReusedBytes(kRead + 20000);  // a slightly larger frame still fits
    Bytes decoded2 = ReusedBytes(kDecoded);
    CHECK(read2.data() == read_memory);
    CHECK(decoded2.data() == decoded_memory);
    // Tiny and huge buffers are not kept.
    Bytes tiny(100, 'y');
    RecycleBytes(std::move(tiny));
    CHECK(ReusedBytes(100) == Bytes(100, '\0'));
  }).join();
  // Another thread does not see this one's buffers.
  Bytes here = ReusedBytes(size_t{1} << 20);
  const char* memory = here.data();
  RecycleBytes(std::move(here));
  std::thread([memory] { CHECK(ReusedBytes(size_t{1} << 20).data() != memory); }).join();
}

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
