// OCDBT blob envelope: magic, length, version, compression, CRC-32C.

#include "formats/ocdbt/format/envelope.h"

#include <fmt/format.h>

#include "lib/base/crc32c.h"
#include "lib/compression/compression.h"

namespace ockpt::ocdbt {

std::string MagicName(uint32_t magic) {
  switch (magic) {
    case kManifestMagic: return "manifest";
    case kVersionTreeNodeMagic: return "version tree node";
    case kBtreeNodeMagic: return "B+tree node";
  }
  return fmt::format("{:#010x}", magic);
}

Result<DecodedEnvelope> DecodeEnvelope(ByteView blob, uint32_t magic,
                                       size_t max_body_bytes) {
  if (blob.size() < kMinEnvelopeBytes) {
    return DataLossError("{} is {} bytes, shorter than the minimum of {}", MagicName(magic),
                         blob.size(), kMinEnvelopeBytes);
  }
  ByteReader header(blob.substr(0, blob.size() - 4));
  OCKPT_ASSIGN_OR_RETURN(uint32_t found_magic, header.ReadU32BE("magic"));
  if (found_magic != magic) {
    return DataLossError("bad magic: expected {:#010x} ({}), found {:#010x}", magic,
                         MagicName(magic), found_magic);
  }
  OCKPT_ASSIGN_OR_RETURN(uint64_t length, header.ReadU64LE("length"));
  if (length != blob.size()) {
    return DataLossError("{} length field says {} bytes but the blob is {} bytes",
                         MagicName(magic), length, blob.size());
  }
  uint32_t stored_crc = LoadU32LE(blob.data() + blob.size() - 4);
  uint32_t computed_crc = Crc32c(blob.substr(0, blob.size() - 4));
  if (stored_crc != computed_crc) {
    return DataLossError("{} CRC-32C mismatch: stored {:#010x}, computed {:#010x}",
                         MagicName(magic), stored_crc, computed_crc);
  }
  OCKPT_ASSIGN_OR_RETURN(uint32_t version, header.ReadVarint32("format version"));
  if (version != kCurrentFormatVersion) {
    return UnimplementedError("{} format version {} is not supported (expected {})",
                              MagicName(magic), version, kCurrentFormatVersion);
  }
  OCKPT_ASSIGN_OR_RETURN(uint32_t compression, header.ReadVarint32("compression format"));
  DecodedEnvelope out;
  ByteView payload = header.rest();
  switch (compression) {
    case static_cast<uint32_t>(EnvelopeCompression::kNone):
      if (payload.size() > max_body_bytes) {
        return DataLossError("{} body is {} bytes, more than the limit of {}",
                             MagicName(magic), payload.size(), max_body_bytes);
      }
      out.compression = EnvelopeCompression::kNone;
      out.body.assign(payload.data(), payload.size());
      break;
    case static_cast<uint32_t>(EnvelopeCompression::kZstd): {
      out.compression = EnvelopeCompression::kZstd;
      auto body = ZstdDecompress(payload, max_body_bytes);
      if (!body.ok()) {
        return body.status().WithContext(
            fmt::format("{} body at byte {}", MagicName(magic), header.position()));
      }
      out.body = std::move(body).value();
      break;
    }
    default:
      return DataLossError("{} compression format {} is unknown (expected 0 or 1)",
                           MagicName(magic), compression);
  }
  return out;
}

Result<Bytes> EncodeEnvelope(uint32_t magic, ByteView body,
                             EnvelopeCompression compression, int zstd_level) {
  Bytes payload;
  switch (compression) {
    case EnvelopeCompression::kNone:
      payload.assign(body.data(), body.size());
      break;
    case EnvelopeCompression::kZstd: {
      OCKPT_ASSIGN_OR_RETURN(payload, ZstdCompress(body, zstd_level));
      break;
    }
    default:
      return InvalidArgumentError("unknown envelope compression {}",
                                  static_cast<uint32_t>(compression));
  }
  Bytes out;
  PutU32BE(&out, magic);
  PutU64LE(&out, 0);  // patched below
  PutVarint(&out, kCurrentFormatVersion);
  PutVarint(&out, static_cast<uint32_t>(compression));
  PutBytes(&out, payload);
  StoreU64LE(out.data() + 4, out.size() + 4);
  PutU32LE(&out, Crc32c(out));
  return out;
}

}  // namespace ockpt::ocdbt
