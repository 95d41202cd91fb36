// DType tables.

#include "lib/dtype/dtype.h"

#include <array>

namespace ockpt {
namespace {

using K = DTypeKind;
constexpr std::array<DTypeInfo, 27> kInfos = {{
    {DType::kBool, "bool", 1, K::kBool, "|b1", true},
    {DType::kInt8, "int8", 1, K::kInt, "|i1", true},
    {DType::kInt16, "int16", 2, K::kInt, "<i2", true},
    {DType::kInt32, "int32", 4, K::kInt, "<i4", true},
    {DType::kInt64, "int64", 8, K::kInt, "<i8", true},
    {DType::kUInt8, "uint8", 1, K::kUInt, "|u1", true},
    {DType::kUInt16, "uint16", 2, K::kUInt, "<u2", true},
    {DType::kUInt32, "uint32", 4, K::kUInt, "<u4", true},
    {DType::kUInt64, "uint64", 8, K::kUInt, "<u8", true},
    {DType::kFloat16, "float16", 2, K::kFloat, "<f2", true},
    {DType::kBFloat16, "bfloat16", 2, K::kFloat, "<u2", false},
    {DType::kFloat32, "float32", 4, K::kFloat, "<f4", true},
    {DType::kFloat64, "float64", 8, K::kFloat, "<f8", true},
    {DType::kComplex64, "complex64", 8, K::kComplex, "<c8", true},
    {DType::kComplex128, "complex128", 16, K::kComplex, "<c16", true},
    {DType::kFloat8E4M3FN, "float8_e4m3fn", 1, K::kFloat, "|u1", false},
    {DType::kFloat8E4M3FNUZ, "float8_e4m3fnuz", 1, K::kFloat, "|u1", false},
    {DType::kFloat8E4M3B11FNUZ, "float8_e4m3b11fnuz", 1, K::kFloat, "|u1", false},
    {DType::kFloat8E5M2, "float8_e5m2", 1, K::kFloat, "|u1", false},
    {DType::kFloat8E5M2FNUZ, "float8_e5m2fnuz", 1, K::kFloat, "|u1", false},
    {DType::kFloat8E3M4, "float8_e3m4", 1, K::kFloat, "|u1", false},
    {DType::kFloat8E8M0FNU, "float8_e8m0fnu", 1, K::kFloat, "|u1", false},
    {DType::kFloat4E2M1FN, "float4_e2m1fn", 1, K::kFloat, "|u1", false},
    {DType::kInt4, "int4", 1, K::kInt, "|u1", false},
    {DType::kUInt4, "uint4", 1, K::kUInt, "|u1", false},
    {DType::kInt2, "int2", 1, K::kInt, "|u1", false},
    {DType::kUInt2, "uint2", 1, K::kUInt, "|u1", false},
}};

}  // namespace

const DTypeInfo& Info(DType dtype) { return kInfos[static_cast<size_t>(dtype)]; }

Result<DType> DTypeFromName(std::string_view name) {
  if (name == "bool_") return DType::kBool;
  for (const auto& i : kInfos) {
    if (i.name == name) return i.dtype;
  }
  return UnimplementedError("unknown dtype '{}'", name);
}

Result<ParsedTypestr> DTypeFromTypestr(std::string_view s) {
  if (s.empty()) return UnimplementedError("empty dtype");
  char order = s[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    OCKPT_ASSIGN_OR_RETURN(DType d, DTypeFromName(s));
    return ParsedTypestr{d, false};
  }
  std::string_view code = s.substr(1);
  static constexpr std::pair<std::string_view, DType> kCodes[] = {
      {"b1", DType::kBool},     {"i1", DType::kInt8},      {"i2", DType::kInt16},
      {"i4", DType::kInt32},    {"i8", DType::kInt64},     {"u1", DType::kUInt8},
      {"u2", DType::kUInt16},   {"u4", DType::kUInt32},    {"u8", DType::kUInt64},
      {"f2", DType::kFloat16},  {"f4", DType::kFloat32},   {"f8", DType::kFloat64},
      {"c8", DType::kComplex64}, {"c16", DType::kComplex128},
  };
  for (const auto& [c, d] : kCodes) {
    if (c == code) {
      bool big = order == '>' && SizeOf(d) > 1;
      return ParsedTypestr{d, big};
    }
  }
  return UnimplementedError("unsupported dtype '{}'", s);
}

std::string Typestr(DType dtype) {
  const DTypeInfo& i = Info(dtype);
  if (!i.native_numpy) return std::string(i.name);
  return std::string(i.npy_descr);
}

Result<DType> DTypeFromNpyDescr(std::string_view descr) {
  OCKPT_ASSIGN_OR_RETURN(ParsedTypestr p, DTypeFromTypestr(descr));
  if (!Info(p.dtype).native_numpy) return UnimplementedError("unsupported .npy descr '{}'", descr);
  if (p.big_endian) return UnimplementedError("big-endian .npy descr '{}' is not supported", descr);
  return p.dtype;
}

}  // namespace ockpt
