// DType: the element types ockpt reads and writes, with their names in each
// vocabulary: numpy names ("float32", what metadata --json prints), zarr v2
// typestrs ("<f4", "bfloat16"), zarr v3 data_type names and .npy descrs.
//
// Types NumPy lacks (bfloat16, float8_*, float4, int4, int2) are stored in
// .npy files as their raw bits ("<u2" / "|u1").

#ifndef OCKPT_LIB_DTYPE_DTYPE_H_
#define OCKPT_LIB_DTYPE_DTYPE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "lib/base/result.h"

namespace ockpt {

enum class DType : int {
  kBool,
  kInt8, kInt16, kInt32, kInt64,
  kUInt8, kUInt16, kUInt32, kUInt64,
  kFloat16, kBFloat16, kFloat32, kFloat64,
  kComplex64, kComplex128,
  kFloat8E4M3FN, kFloat8E4M3FNUZ, kFloat8E4M3B11FNUZ, kFloat8E5M2,
  kFloat8E5M2FNUZ, kFloat8E3M4, kFloat8E8M0FNU, kFloat4E2M1FN,
  kInt4, kUInt4, kInt2, kUInt2,
};

enum class DTypeKind { kBool, kInt, kUInt, kFloat, kComplex };

struct DTypeInfo {
  DType dtype;
  std::string_view name;       // numpy / zarr3 name: "float32", "bfloat16"
  size_t size;                 // bytes per element as stored (int4: 1)
  DTypeKind kind;
  std::string_view npy_descr;  // .npy descr written by restore: "<f4", "<u2"
  bool native_numpy;           // false: .npy holds raw bits
};

const DTypeInfo& Info(DType dtype);
inline size_t SizeOf(DType d) { return Info(d).size; }
inline std::string_view Name(DType d) { return Info(d).name; }

// "float32", "bfloat16", "float8_e4m3fn", "bool", also "bool_" -> DType.
Result<DType> DTypeFromName(std::string_view name);

// A zarr v2 / NumPy typestr ("<f4", ">i8", "|b1", "bfloat16").
struct ParsedTypestr {
  DType dtype;
  bool big_endian = false;
};
Result<ParsedTypestr> DTypeFromTypestr(std::string_view typestr);
// The typestr TensorStore writes (little-endian): "<f4", "|b1", "bfloat16".
std::string Typestr(DType dtype);

// A .npy descr ("<f4", "|u1") -> DType (only NumPy-native types).
Result<DType> DTypeFromNpyDescr(std::string_view descr);

}  // namespace ockpt

#endif  // OCKPT_LIB_DTYPE_DTYPE_H_
