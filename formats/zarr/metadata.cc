// Shared zarr metadata checks and chunk keys.

#include "formats/zarr/metadata.h"

#include <limits>

#include "formats/zarr/chunk_layout.h"
#include "lib/base/json.h"
#include "lib/dtype/narrow_int.h"

namespace ockpt::zarr {

std::string ChunkKey(std::string_view prefix, const ChunkKeyEncoding& encoding,
                     const Shape& chunk_index) {
  std::string key(prefix);
  if (encoding.v3_default) {
    key += 'c';
    for (int64_t i : chunk_index) {
      key += encoding.separator;
      key += std::to_string(i);
    }
    return key;
  }
  if (chunk_index.empty()) return key + "0";
  for (size_t d = 0; d < chunk_index.size(); ++d) {
    if (d > 0) key += encoding.separator;
    key += std::to_string(chunk_index[d]);
  }
  return key;
}

Status ValidateMetadata(const ZarrMetadata& md) {
  const size_t rank = md.shape.size();
  if (rank > kMaxRank) return UnimplementedError("rank {} exceeds {}", rank, kMaxRank);
  if (md.chunk_shape.size() != rank) {
    return DataLossError("chunk shape {} does not match the rank of shape {}",
                         ShapeString(md.chunk_shape), ShapeString(md.shape));
  }
  const size_t esize = SizeOf(md.dtype);
  OCKPT_RETURN_IF_ERROR(CheckedByteCount(md.shape, esize, kMaxArrayBytes, "array shape"));
  for (int64_t c : md.chunk_shape) {
    if (c <= 0)
      return DataLossError("chunk shape {} has a dimension < 1", ShapeString(md.chunk_shape));
  }
  auto chunk_bytes = CheckedByteCount(md.chunk_shape, esize, kMaxChunkBytes, "chunk shape");
  if (!chunk_bytes.ok()) {
    return UnimplementedError("chunks of shape {} ({}) are larger than {} bytes",
                              ShapeString(md.chunk_shape), Name(md.dtype), kMaxChunkBytes);
  }
  if (md.fill_value.size() != esize) {
    return InternalError("fill value has {} bytes for {}", md.fill_value.size(), Name(md.dtype));
  }
  return ValidateChain(md.codecs, md.chunk_shape, esize);
}

ElementFormat ElementFormatOf(const ZarrMetadata& md) {
  const DTypeInfo& info = Info(md.dtype);
  ElementFormat f;
  f.size = info.size;
  f.swap_unit = info.kind == DTypeKind::kComplex ? info.size / 2 : info.size;
  f.fill = md.fill_value;
  if (NarrowIntBits(md.dtype) != 0) {
    f.narrow_int = md.dtype;
    NormalizeNarrowInts(md.dtype, f.fill.data(), f.fill.size());
  }
  return f;
}

namespace internal {

Result<Shape> ParseShape(const Json& j, std::string_view what) {
  if (!j.is_array()) return DataLossError("{} is not an array: {}", what, j.dump());
  if (j.size() > kMaxRank)
    return UnimplementedError("{} has rank {} (> {})", what, j.size(), kMaxRank);
  Shape s;
  for (const Json& d : j) {
    if (d.is_number_unsigned()) {
      uint64_t u = d.get<uint64_t>();
      if (u > (uint64_t{1} << 62)) return DataLossError("{} dimension {} is too large", what, u);
      s.push_back(static_cast<int64_t>(u));
    } else if (d.is_number_integer()) {
      return DataLossError("{} has negative dimension {}", what, d.get<int64_t>());
    } else {
      return DataLossError("{} has non-integer dimension {}", what, d.dump());
    }
  }
  return s;
}

Result<Json> ParseJsonText(ByteView text, std::string_view what) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseJsonBounded(text, what));
  if (!j.is_object()) return DataLossError("{} is not a JSON object", what);
  return j;
}

Result<int64_t> IntMember(const Json& obj, std::string_view key, int64_t default_value) {
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return default_value;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() &&
        it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return DataLossError("'{}' is out of range: {}", key, it->dump());
    }
    return it->get<int64_t>();
  }
  return DataLossError("'{}' is not an integer: {}", key, it->dump());
}

}  // namespace internal
}  // namespace ockpt::zarr
