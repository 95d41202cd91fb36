#include "lib/dtype/dtype.h"

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

TEST_CASE("typestrs and names") {
  CHECK(DTypeFromTypestr("<i4")->dtype == DType::kInt32);
  CHECK(DTypeFromTypestr(">f8")->big_endian);
  CHECK_FALSE(DTypeFromTypestr("|u1")->big_endian);
  CHECK(DTypeFromTypestr("bfloat16")->dtype == DType::kBFloat16);
  CHECK(Typestr(DType::kBool) == "|b1");
  CHECK(Typestr(DType::kFloat8E4M3FN) == "float8_e4m3fn");
  CHECK(Name(DType::kComplex64) == "complex64");
  CHECK(Info(DType::kBFloat16).npy_descr == "<u2");
  CHECK(DTypeFromName("int4").ok());
  CHECK(DTypeFromTypestr("<x3").status().code() == StatusCode::kUnimplemented);
  for (int i = 0; i <= static_cast<int>(DType::kUInt2); ++i) {
    auto d = static_cast<DType>(i);
    CHECK(Info(d).dtype == d);
    CHECK(*DTypeFromName(Name(d)) == d);
  }
}

}  // namespace
}  // namespace ockpt
