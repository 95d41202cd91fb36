// Element type conversion for explicit casts (restore --dtype). Follows
// NumPy's astype: ints wrap, floats to ints truncate (saturating here),
// complex to real drops the imaginary part, to bool is "nonzero".
// Inputs and outputs are little-endian element arrays.

#ifndef OCKPT_LIB_DTYPE_CAST_H_
#define OCKPT_LIB_DTYPE_CAST_H_

#include "lib/base/bytes.h"
#include "lib/dtype/dtype.h"

namespace ockpt {

// OK when a cast between the two types is supported (float8/float4/int2
// types only cast to themselves).
Status CheckCast(DType from, DType to);
// True when some value of `from` cannot be represented exactly in `to`
// (NumPy's "safe" casting rule, inverted).
bool CastIsLossy(DType from, DType to);
// Converts whole elements; `in` must hold a multiple of SizeOf(from) bytes.
Status CastElements(DType from, DType to, ByteView in, Bytes* out);

// One element as a complex number (real types: im = 0). Only for types
// CheckCast accepts; returns false for the others (float8, float4, int2).
bool ElementToComplex(DType dtype, const char* element, double* re, double* im);

// IEEE half and bfloat16 conversions (round to nearest even).
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToBFloat16(float f);

}  // namespace ockpt

#endif  // OCKPT_LIB_DTYPE_CAST_H_
