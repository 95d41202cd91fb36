#include "lib/dtype/cast.h"

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

TEST_CASE("half and bfloat16 conversions") {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    CHECK(HalfToFloat(FloatToHalf(f)) == f);
  }
  CHECK(FloatToHalf(1e6f) == 0x7c00);
  CHECK(FloatToBFloat16(1.0f) == 0x3f80);
  CHECK(BFloat16ToFloat(0x4049) == 3.140625f);
  CHECK(FloatToBFloat16(1.00390625f) == 0x3f80);  // ties to even
}

TEST_CASE("lossy cast rules follow NumPy's safe casting") {
  CHECK_FALSE(CastIsLossy(DType::kInt16, DType::kFloat32));
  CHECK(CastIsLossy(DType::kInt32, DType::kFloat32));
  CHECK_FALSE(CastIsLossy(DType::kInt32, DType::kFloat64));
  CHECK(CastIsLossy(DType::kFloat32, DType::kBFloat16));
  CHECK_FALSE(CastIsLossy(DType::kBFloat16, DType::kFloat32));
  CHECK(CastIsLossy(DType::kFloat16, DType::kBFloat16));
  CHECK_FALSE(CastIsLossy(DType::kUInt8, DType::kInt16));
  CHECK(CastIsLossy(DType::kInt8, DType::kUInt64));
  CHECK(CastIsLossy(DType::kComplex64, DType::kFloat64));
  CHECK_FALSE(CastIsLossy(DType::kFloat32, DType::kComplex64));
  CHECK_FALSE(CastIsLossy(DType::kBool, DType::kInt8));
  CHECK(CastIsLossy(DType::kInt8, DType::kBool));
  CHECK_FALSE(CheckCast(DType::kFloat8E4M3FN, DType::kFloat32).ok());
}

TEST_CASE("CastElements converts values") {
  Bytes in;
  for (int32_t v : {-1, 300, 7}) PutU32LE(&in, static_cast<uint32_t>(v));
  Bytes out;
  REQUIRE(CastElements(DType::kInt32, DType::kUInt8, in, &out).ok());
  CHECK(out == Bytes("\xff\x2c\x07", 3));  // wraps like NumPy
  REQUIRE(CastElements(DType::kInt32, DType::kFloat64, in, &out).ok());
  double d[3];
  std::memcpy(d, out.data(), 24);
  CHECK(d[0] == -1.0);
  CHECK(d[1] == 300.0);
  REQUIRE(CastElements(DType::kInt32, DType::kBool, in, &out).ok());
  CHECK(out == Bytes("\1\1\1", 3));
  CHECK_FALSE(CastElements(DType::kInt32, DType::kFloat32, "abc", &out).ok());
}

}  // namespace
}  // namespace ockpt
