// The OCDBT database configuration: the first part of every manifest body.
//
//   uuid                    16 raw bytes
//   manifest_kind           byte: 0 single, 1 numbered
//   max_inline_value_bytes  varint32 (<= 1048576)
//   max_decoded_node_bytes  varint32 (0 = unlimited)
//   version_tree_arity_log2 byte, 1..16
//   compression_method      varint32: 0 none, 1 zstd
//   zstd level              int32 LE, only for zstd (-131072..22)

#ifndef OCKPT_FORMATS_OCDBT_FORMAT_CONFIG_H_
#define OCKPT_FORMATS_OCDBT_FORMAT_CONFIG_H_

#include <array>
#include <cstdint>

#include "lib/base/bytes.h"

namespace ockpt::ocdbt {

// Written to disk; never reuse values.
enum class ManifestKind : uint8_t {
  kSingle = 0,    // manifest.ocdbt holds config + version tree
  kNumbered = 1,  // manifest.ocdbt holds the config; manifest.%016x the rest
};

enum class CompressionMethod : uint32_t {
  kNone = 0,
  kZstd = 1,
};

inline constexpr uint32_t kMaxInlineValueBytesLimit = 1048576;
inline constexpr int32_t kMinZstdLevel = -131072;
inline constexpr int32_t kMaxZstdLevel = 22;

struct Config {
  std::array<uint8_t, 16> uuid{};
  ManifestKind manifest_kind = ManifestKind::kSingle;
  uint32_t max_inline_value_bytes = 100;
  uint32_t max_decoded_node_bytes = 8388608;
  uint8_t version_tree_arity_log2 = 4;
  CompressionMethod compression = CompressionMethod::kZstd;
  int32_t zstd_level = 0;  // 0 = libzstd default (3); only for kZstd

  friend bool operator==(const Config&, const Config&) = default;
};

// Reads a config from the front of `reader` and validates every field.
Result<Config> DecodeConfig(ByteReader& reader);
void EncodeConfig(const Config& config, Bytes* out);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_FORMAT_CONFIG_H_
