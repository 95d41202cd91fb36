// zarr fill_value JSON -> the bytes of one element (little-endian, as the
// reader outputs elements).
//
// v2 (.zarray): null (zeros), numbers, true/false, "NaN", "Infinity",
// "-Infinity", [re, im] for complex, otherwise a base64 string of the raw
// element bytes in the array's stored byte order.
// v3 (zarr.json): the same numbers and names, plus "0x…" hex strings giving
// the raw bits of a float (or of one complex component).
//
// Floats narrower than float32 (float16, bfloat16, float8_*, float4_e2m1fn)
// are rounded to nearest, ties to even.

#ifndef OCKPT_FORMATS_ZARR_FILL_VALUE_H_
#define OCKPT_FORMATS_ZARR_FILL_VALUE_H_

#include <cstdint>

#include "lib/base/bytes.h"
#include "lib/checkpoint/tree.h"
#include "lib/dtype/dtype.h"

namespace ockpt::zarr {

// `stored_big_endian` only matters for v2 base64 fill values.
Result<Bytes> ParseFillValue(const Json& j, DType dtype, int zarr_format,
                             bool stored_big_endian = false);

// The bits of `value` in a float type of at most 16 bits (float16,
// bfloat16, float8_*, float4_e2m1fn): round to nearest even; overflow gives
// infinity, or NaN for types without infinity (float4: the largest value).
Result<uint16_t> EncodeSmallFloat(double value, DType dtype);
// The value of bits in such a type (NaN for NaN encodings).
Result<double> DecodeSmallFloat(uint16_t bits, DType dtype);

// Standard base64 (RFC 4648, padding optional); kDataLoss on bad input.
Result<Bytes> DecodeBase64(std::string_view text);

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_FILL_VALUE_H_
