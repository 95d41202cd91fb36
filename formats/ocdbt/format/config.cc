// OCDBT config codec.

#include "formats/ocdbt/format/config.h"

#include <cstring>

namespace ockpt::ocdbt {

Result<Config> DecodeConfig(ByteReader& reader) {
  Config c;
  OCKPT_ASSIGN_OR_RETURN(ByteView uuid, reader.ReadBytes(16, "config uuid"));
  std::memcpy(c.uuid.data(), uuid.data(), 16);
  size_t pos = reader.position();
  OCKPT_ASSIGN_OR_RETURN(uint8_t kind, reader.ReadU8("config manifest_kind"));
  if (kind > 1) {
    return DataLossError("config manifest_kind at byte {} is {}, expected 0 (single) or 1 (numbered)",
                         pos, kind);
  }
  c.manifest_kind = static_cast<ManifestKind>(kind);
  OCKPT_ASSIGN_OR_RETURN(c.max_inline_value_bytes,
                         reader.ReadVarint32("config max_inline_value_bytes"));
  if (c.max_inline_value_bytes > kMaxInlineValueBytesLimit) {
    return DataLossError("config max_inline_value_bytes is {}, more than the limit of {}",
                         c.max_inline_value_bytes, kMaxInlineValueBytesLimit);
  }
  OCKPT_ASSIGN_OR_RETURN(c.max_decoded_node_bytes,
                         reader.ReadVarint32("config max_decoded_node_bytes"));
  pos = reader.position();
  OCKPT_ASSIGN_OR_RETURN(c.version_tree_arity_log2,
                         reader.ReadU8("config version_tree_arity_log2"));
  if (c.version_tree_arity_log2 < 1 || c.version_tree_arity_log2 > 16) {
    return DataLossError("config version_tree_arity_log2 at byte {} is {}, expected 1..16", pos,
                         c.version_tree_arity_log2);
  }
  pos = reader.position();
  OCKPT_ASSIGN_OR_RETURN(uint32_t method, reader.ReadVarint32("config compression_method"));
  if (method == static_cast<uint32_t>(CompressionMethod::kNone)) {
    c.compression = CompressionMethod::kNone;
    c.zstd_level = 0;
  } else if (method == static_cast<uint32_t>(CompressionMethod::kZstd)) {
    c.compression = CompressionMethod::kZstd;
    OCKPT_ASSIGN_OR_RETURN(uint32_t level, reader.ReadU32LE("config zstd level"));
    c.zstd_level = static_cast<int32_t>(level);
    if (c.zstd_level < kMinZstdLevel || c.zstd_level > kMaxZstdLevel) {
      return DataLossError("config zstd level is {}, expected {}..{}", c.zstd_level,
                           kMinZstdLevel, kMaxZstdLevel);
    }
  } else {
    return DataLossError("config compression_method at byte {} is {}, expected 0 (none) or 1 (zstd)",
                         pos, method);
  }
  return c;
}

void EncodeConfig(const Config& c, Bytes* out) {
  PutBytes(out, ByteView(reinterpret_cast<const char*>(c.uuid.data()), c.uuid.size()));
  PutU8(out, static_cast<uint8_t>(c.manifest_kind));
  PutVarint(out, c.max_inline_value_bytes);
  PutVarint(out, c.max_decoded_node_bytes);
  PutU8(out, c.version_tree_arity_log2);
  PutVarint(out, static_cast<uint32_t>(c.compression));
  if (c.compression == CompressionMethod::kZstd) {
    PutU32LE(out, static_cast<uint32_t>(c.zstd_level));
  }
}

}  // namespace ockpt::ocdbt
