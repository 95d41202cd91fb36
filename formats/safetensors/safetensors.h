// safetensors files as a CheckpointSource and a CheckpointSink
// (docs/format/safetensors.md).
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//    "data_offsets": [begin, end]}, ...}
// padded with spaces, then the tensors' bytes (C order, little-endian),
// offsets relative to the end of the header, contiguous and in order.
//
// Tensor names are dotted key paths ("params.dense.kernel"). ockpt keeps the
// rest of the tree (key types, value types, raw-bit dtypes, strings, empty
// nodes, custom metadata) as JSON in __metadata__["ockpt.tree"], so that
// checkpoint -> .safetensors -> checkpoint is lossless. Files without it
// read as dict trees split at '.', their __metadata__ as custom metadata.

#ifndef OCKPT_FORMATS_SAFETENSORS_SAFETENSORS_H_
#define OCKPT_FORMATS_SAFETENSORS_SAFETENSORS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"

namespace ockpt::safetensors {

inline constexpr char kTreeKey[] = "ockpt.tree";
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// The safetensors dtype name of `dtype` ("F32", "BF16", "F8_E4M3", "C64"),
// or nullopt when the format has none.
std::optional<std::string_view> SafetensorsDTypeName(DType dtype);
// The DType for a safetensors dtype name; kUnimplemented for names ockpt
// cannot represent (F4, F6_*: packed sub-byte types).
Result<DType> DTypeFromSafetensorsName(std::string_view name);

// Whether the file plausibly is safetensors: a header length that fits the
// file, followed by '{'.
bool LooksLikeSafetensors(const std::string& path);

// Opens and validates a .safetensors file (header length within the file
// and at most kMaxHeaderBytes, known dtypes, byte lengths matching shapes,
// offsets contiguous from 0 to the end of the file). kDataLoss otherwise.
Result<std::unique_ptr<CheckpointSource>> OpenSafetensorsFile(const std::string& path);

// Creates `path` (which must not exist). Needs Begin() with every leaf: the
// header, which lists every tensor, is written first, then each array at
// its offset. complex128 has no safetensors name (kUnimplemented); other
// types the format lacks (float8 variants, int4, ...) are stored as U8 bits
// with the real dtype in ockpt.tree.
Result<std::unique_ptr<CheckpointSink>> CreateSafetensorsSink(const std::string& path);

}  // namespace ockpt::safetensors

#endif  // OCKPT_FORMATS_SAFETENSORS_SAFETENSORS_H_
