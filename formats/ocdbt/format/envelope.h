// The envelope around every OCDBT blob (manifest, version-tree node, B+tree
// node):
//
//   offset  size  field
//   0       4     magic, uint32 big-endian (kManifestMagic, ...)
//   4       8     length, uint64 little-endian: the whole blob, this header
//                 and the trailing CRC included
//   12      1+    format version, varint32; only 0 exists
//   ...     1+    compression format, varint32: 0 raw body, 1 one zstd frame
//   ...     n     body (raw or compressed), up to length-4
//   len-4   4     CRC-32C of bytes [0, length-4), uint32 little-endian
//
// See docs/format/ocdbt.md. Pure byte code: no I/O.

#ifndef OCKPT_FORMATS_OCDBT_FORMAT_ENVELOPE_H_
#define OCKPT_FORMATS_OCDBT_FORMAT_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/base/bytes.h"

namespace ockpt::ocdbt {

inline constexpr uint32_t kManifestMagic = 0x0cdb3a2a;
inline constexpr uint32_t kVersionTreeNodeMagic = 0x0cdb1234;
inline constexpr uint32_t kBtreeNodeMagic = 0x0cdb20de;

// magic + length + version + compression (1 byte each at minimum) + CRC.
inline constexpr size_t kMinEnvelopeBytes = 4 + 8 + 1 + 1 + 4;
inline constexpr uint32_t kCurrentFormatVersion = 0;

// Values of the compression-format varint. Written to disk; never reuse.
enum class EnvelopeCompression : uint32_t {
  kNone = 0,
  kZstd = 1,
};

// "manifest", "version tree node", "B+tree node" or "0x...." for messages.
std::string MagicName(uint32_t magic);

struct DecodedEnvelope {
  EnvelopeCompression compression = EnvelopeCompression::kNone;
  Bytes body;  // decompressed
};

// Checks, in order, magic, length, CRC-32C, version and compression of
// `blob` and returns the (decompressed) body, which may be at most
// max_body_bytes long. Every failure is kDataLoss stating what was expected
// and what was found.
Result<DecodedEnvelope> DecodeEnvelope(ByteView blob, uint32_t magic,
                                       size_t max_body_bytes);

// The blob for `body`. zstd_level 0 = libzstd's default (3), as TensorStore.
Result<Bytes> EncodeEnvelope(uint32_t magic, ByteView body,
                             EnvelopeCompression compression, int zstd_level = 0);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_FORMAT_ENVELOPE_H_
