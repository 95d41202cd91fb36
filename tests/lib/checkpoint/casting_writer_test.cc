// CastingWriter: pieces written at any offset are cast and forwarded at the
// matching offset of the cast array; errors of the cast reach the caller.

#include "lib/checkpoint/casting_writer.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <utility>
#include <vector>

#include "lib/dtype/cast.h"

namespace ockpt {
namespace {

// Records each piece it is given, then writes it into `array`.
class RecordingWriter final : public ArrayWriter {
 public:
  explicit RecordingWriter(uint64_t total_bytes) : array(total_bytes) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    pieces.push_back({offset, data.size()});
    return array.WriteAt(offset, data);
  }
  std::vector<std::pair<uint64_t, uint64_t>> pieces;  // (offset, size)
  MemoryArrayWriter array;
};

template <typename T>
Bytes Raw(std::initializer_list<T> values) {
  Bytes b(values.size() * sizeof(T), '\0');
  std::memcpy(b.data(), std::data(values), b.size());
  return b;
}

TEST_CASE("int32 -> int64 pieces land at scaled offsets") {
  Bytes in = Raw<int32_t>({1, -2, 3, -4, 5, 2147483647});
  RecordingWriter next(6 * 8);
  CastingWriter caster(&next, DType::kInt32, DType::kInt64);
  // Out of order, uneven pieces: elements [3, 6), [0, 1), [1, 3).
  REQUIRE(caster.WriteAt(12, ByteView(in).substr(12, 12)).ok());
  REQUIRE(caster.WriteAt(0, ByteView(in).substr(0, 4)).ok());
  REQUIRE(caster.WriteAt(4, ByteView(in).substr(4, 8)).ok());
  using Piece = std::pair<uint64_t, uint64_t>;
  CHECK(next.pieces == std::vector<Piece>{{24, 24}, {0, 8}, {8, 16}});
  CHECK(next.array.data() == Raw<int64_t>({1, -2, 3, -4, 5, 2147483647}));
}

TEST_CASE("float32 -> float16 pieces land at scaled offsets") {
  Bytes in = Raw<float>({1.0f, -2.5f, 0.5f, 65504.0f});
  RecordingWriter next(4 * 2);
  CastingWriter caster(&next, DType::kFloat32, DType::kFloat16);
  REQUIRE(caster.WriteAt(8, ByteView(in).substr(8, 8)).ok());
  REQUIRE(caster.WriteAt(0, ByteView(in).substr(0, 8)).ok());
  using Piece = std::pair<uint64_t, uint64_t>;
  CHECK(next.pieces == std::vector<Piece>{{4, 4}, {0, 4}});
  CHECK(next.array.data() == Raw<uint16_t>({0x3c00, 0xc100, 0x3800, 0x7bff}));
  CHECK(HalfToFloat(0x7bff) == 65504.0f);
}

TEST_CASE("cast errors and the next writer's errors are returned") {
  Bytes in = Raw<int32_t>({1, 2});
  SECTION("a piece that is not whole elements") {
    RecordingWriter next(16);
    CastingWriter caster(&next, DType::kInt32, DType::kInt64);
    Status s = caster.WriteAt(0, ByteView(in).substr(0, 6));
    CHECK(s.code() == StatusCode::kInternal);
    CHECK(next.pieces.empty());
  }
  SECTION("an unsupported cast") {
    RecordingWriter next(2);
    CastingWriter caster(&next, DType::kInt32, DType::kFloat8E4M3FN);
    CHECK_FALSE(caster.WriteAt(0, in).ok());
    CHECK(next.pieces.empty());
  }
  SECTION("the next writer fails") {
    RecordingWriter next(8);  // room for one int64 only
    CastingWriter caster(&next, DType::kInt32, DType::kInt64);
    Status s = caster.WriteAt(0, in);
    CHECK(s.code() == StatusCode::kInternal);
    CHECK(s.message().find("outside a 8-byte array") != std::string::npos);
  }
}

}  // namespace
}  // namespace ockpt
