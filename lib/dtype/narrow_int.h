// Integers narrower than a byte (int4, uint4, int2, uint2), stored one per
// byte as TensorStore stores them (tensorstore::Int4Padded): the value in the
// low bits, sign-extended through the whole byte for the signed types (-1 is
// 0xFF), the high bits zero for the unsigned ones. NormalizeNarrowInts puts
// bytes into that form whatever their high bits held, on write (so that
// ockpt writes TensorStore's bytes) and on read (so that every reader sees
// the same values whatever wrote the chunk).

#ifndef OCKPT_LIB_DTYPE_NARROW_INT_H_
#define OCKPT_LIB_DTYPE_NARROW_INT_H_

#include <cstddef>
#include <cstdint>

#include "lib/dtype/dtype.h"

namespace ockpt {

// The value bits of a narrow integer type; 0 for every other type.
inline int NarrowIntBits(DType dtype) {
  switch (dtype) {
    case DType::kInt4:
    case DType::kUInt4:
      return 4;
    case DType::kInt2:
    case DType::kUInt2:
      return 2;
    default:
      return 0;
  }
}

// Rewrites n bytes of `dtype` elements into the padded form above; a no-op
// for every type that is not a narrow integer.
inline void NormalizeNarrowInts(DType dtype, char* data, size_t n) {
  const int bits = NarrowIntBits(dtype);
  if (bits == 0) return;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  const bool is_signed = dtype == DType::kInt4 || dtype == DType::kInt2;
  const uint8_t sign = static_cast<uint8_t>(1u << (bits - 1));
  for (size_t i = 0; i < n; ++i) {
    uint8_t v = static_cast<uint8_t>(data[i]) & mask;
    if (is_signed && (v & sign)) v = static_cast<uint8_t>(v | static_cast<uint8_t>(~mask));
    data[i] = static_cast<char>(v);
  }
}

}  // namespace ockpt

#endif  // OCKPT_LIB_DTYPE_NARROW_INT_H_
