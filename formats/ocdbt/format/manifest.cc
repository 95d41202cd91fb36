// Manifest codec.

#include "formats/ocdbt/format/manifest.h"

namespace ockpt::ocdbt {

Result<Manifest> DecodeManifestBody(ByteView body) {
  ByteReader reader(body);
  Manifest m;
  OCKPT_ASSIGN_OR_RETURN(m.config, DecodeConfig(reader).WithContext("manifest config"));
  if (m.config.manifest_kind == ManifestKind::kSingle) {
    const uint8_t a = m.config.version_tree_arity_log2;
    OCKPT_ASSIGN_OR_RETURN(m.data_files,
                           DecodeDataFileTable(reader).WithContext("manifest"));
    OCKPT_ASSIGN_OR_RETURN(
        m.versions,
        DecodeGenerationReferences(reader, m.data_files.size(), a, uint64_t{1} << a)
            .WithContext("manifest inline versions"));
    OCKPT_ASSIGN_OR_RETURN(
        m.version_nodes,
        DecodeVersionNodeReferences(reader, m.data_files.size(), a, 0,
                                    uint64_t{MaxVersionTreeHeight(a)} + 1,
                                    /*with_heights=*/true, 0)
            .WithContext("manifest version_nodes"));
    if (!m.version_nodes.empty() &&
        m.version_nodes.back().generation >= m.versions.front().generation) {
      return DataLossError(
          "manifest version_nodes reach generation {}, not before the first inline version {}",
          m.version_nodes.back().generation, m.versions.front().generation);
    }
  }
  if (!reader.empty()) {
    return DataLossError("manifest has {} unexpected trailing bytes at byte {}",
                         reader.remaining(), reader.position());
  }
  return m;
}

Result<Manifest> DecodeManifest(ByteView blob, size_t max_body_bytes) {
  OCKPT_ASSIGN_OR_RETURN(DecodedEnvelope env,
                         DecodeEnvelope(blob, kManifestMagic, max_body_bytes));
  return DecodeManifestBody(env.body);
}

Bytes EncodeManifestBody(const Manifest& m, bool as_single) {
  Bytes out;
  Config config = m.config;
  if (as_single) config.manifest_kind = ManifestKind::kSingle;
  EncodeConfig(config, &out);
  if (config.manifest_kind == ManifestKind::kSingle) {
    EncodeDataFileTable(m.data_files, &out);
    EncodeGenerationReferences(m.versions, &out);
    EncodeVersionNodeReferences(m.version_nodes, /*with_heights=*/true, &out);
  }
  return out;
}

Result<Bytes> EncodeManifest(const Manifest& m, bool as_single) {
  EnvelopeCompression c = m.config.compression == CompressionMethod::kZstd
                              ? EnvelopeCompression::kZstd
                              : EnvelopeCompression::kNone;
  return EncodeEnvelope(kManifestMagic, EncodeManifestBody(m, as_single), c,
                        m.config.zstd_level);
}

std::string NumberedManifestName(uint64_t generation) {
  return fmt::format("manifest.{:016x}", generation);
}

std::optional<uint64_t> ParseNumberedManifestName(std::string_view name) {
  constexpr std::string_view kPrefix = "manifest.";
  if (name.size() != kPrefix.size() + 16 || name.substr(0, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : name.substr(kPrefix.size())) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  if (v == 0) return std::nullopt;
  return v;
}

}  // namespace ockpt::ocdbt
