// Small-float encoding behind fill values, and base64.

#include "formats/zarr/fill_value.h"

#include <catch2/catch.hpp>
#include <cmath>

namespace ockpt::zarr {
namespace {

TEST_CASE("EncodeSmallFloat inverts DecodeSmallFloat for every finite pattern") {
  const DType types[] = {DType::kFloat16,        DType::kBFloat16,          DType::kFloat8E4M3FN,
                         DType::kFloat8E4M3FNUZ, DType::kFloat8E4M3B11FNUZ, DType::kFloat8E5M2,
                         DType::kFloat8E5M2FNUZ, DType::kFloat8E3M4,        DType::kFloat8E8M0FNU,
                         DType::kFloat4E2M1FN};
  for (DType t : types) {
    INFO(Name(t));
    const uint32_t limit = t == DType::kFloat16 || t == DType::kBFloat16 ? 65536
                           : t == DType::kFloat4E2M1FN                   ? 16
                                                                         : 256;
    int checked = 0;
    for (uint32_t p = 0; p < limit; ++p) {
      auto d = DecodeSmallFloat(static_cast<uint16_t>(p), t);
      REQUIRE(d.ok());
      if (!std::isfinite(*d)) continue;
      auto e = EncodeSmallFloat(*d, t);
      REQUIRE(e.ok());
      if (*e != p) {
        // Only a negative zero may map elsewhere (types without -0).
        CHECK(*d == 0.0);
        continue;
      }
      ++checked;
    }
    CHECK(checked > 10);
  }
}

TEST_CASE("EncodeSmallFloat rounds to nearest even and handles overflow") {
  CHECK(*EncodeSmallFloat(1.0, DType::kFloat16) == 0x3c00);
  CHECK(*EncodeSmallFloat(1.0 + std::ldexp(1.0, -11), DType::kFloat16) == 0x3c00);
  CHECK(*EncodeSmallFloat(1.0 + 3 * std::ldexp(1.0, -11), DType::kFloat16) == 0x3c02);
  CHECK(*EncodeSmallFloat(std::ldexp(1.0, -24), DType::kFloat16) == 0x0001);
  CHECK(*EncodeSmallFloat(65504.0, DType::kFloat16) == 0x7bff);
  CHECK(*EncodeSmallFloat(65519.0, DType::kFloat16) == 0x7bff);
  CHECK(*EncodeSmallFloat(65520.0, DType::kFloat16) == 0x7c00);
  CHECK(*EncodeSmallFloat(-INFINITY, DType::kFloat16) == 0xfc00);
  CHECK(*EncodeSmallFloat(NAN, DType::kFloat16) == 0x7e00);
  CHECK(*EncodeSmallFloat(-0.0, DType::kFloat16) == 0x8000);
  CHECK(*EncodeSmallFloat(1.0, DType::kBFloat16) == 0x3f80);
  CHECK(*EncodeSmallFloat(1e39, DType::kBFloat16) == 0x7f80);
  CHECK(*EncodeSmallFloat(NAN, DType::kBFloat16) == 0x7fc0);
  CHECK(*EncodeSmallFloat(448.0, DType::kFloat8E4M3FN) == 0x7e);
  CHECK(*EncodeSmallFloat(1000.0, DType::kFloat8E4M3FN) == 0x7f);
  CHECK(*EncodeSmallFloat(-1.0, DType::kFloat8E4M3FN) == 0xb8);
  CHECK(*EncodeSmallFloat(NAN, DType::kFloat8E4M3FNUZ) == 0x80);
  CHECK(*EncodeSmallFloat(-0.0, DType::kFloat8E4M3FNUZ) == 0x00);
  CHECK(*EncodeSmallFloat(INFINITY, DType::kFloat8E5M2) == 0x7c);
  CHECK(*EncodeSmallFloat(NAN, DType::kFloat8E5M2) == 0x7e);
  CHECK(*EncodeSmallFloat(NAN, DType::kFloat8E3M4) == 0x78);
  CHECK(*EncodeSmallFloat(15.5, DType::kFloat8E3M4) == 0x6f);
  CHECK(*EncodeSmallFloat(1.0, DType::kFloat8E8M0FNU) == 0x7f);
  CHECK(*EncodeSmallFloat(NAN, DType::kFloat8E8M0FNU) == 0xff);
  CHECK(*EncodeSmallFloat(0.5, DType::kFloat4E2M1FN) == 0x1);
  CHECK(*EncodeSmallFloat(100.0, DType::kFloat4E2M1FN) == 0x7);
  CHECK(EncodeSmallFloat(NAN, DType::kFloat4E2M1FN).status().code() == StatusCode::kDataLoss);
  CHECK(EncodeSmallFloat(1.0, DType::kFloat32).status().code() == StatusCode::kInternal);
  CHECK(DecodeSmallFloat(0x100, DType::kFloat8E5M2).status().code() == StatusCode::kDataLoss);
}

TEST_CASE("DecodeBase64") {
  CHECK(*DecodeBase64("AAAAAQ==") == Bytes("\0\0\0\1", 4));
  CHECK(*DecodeBase64("aGVsbG8") == "hello");
  CHECK(*DecodeBase64("") == "");
  CHECK(DecodeBase64("a").status().code() == StatusCode::kDataLoss);
  CHECK(DecodeBase64("a$bc").status().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ockpt::zarr
