// The OCDBT manifest (magic 0x0cdb3a2a): the config, then for manifest kind
// `single` the version tree:
//
//   config                §config.h
//   data file table       §data_file_table.h (transitive path "")
//   inline versions       generation references, 1..2^arity_log2 of them
//   version_nodes         version-node references with entry_height,
//                         heights strictly decreasing, 0 or more
//
// A `numbered` database keeps only the config (manifest_kind 1) in
// manifest.ocdbt and one full manifest per commit in manifest.%016x, encoded
// as a single-kind manifest.

#ifndef OCKPT_FORMATS_OCDBT_FORMAT_MANIFEST_H_
#define OCKPT_FORMATS_OCDBT_FORMAT_MANIFEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/ocdbt/format/config.h"
#include "formats/ocdbt/format/data_file_table.h"
#include "formats/ocdbt/format/envelope.h"
#include "formats/ocdbt/format/version_tree.h"

namespace ockpt::ocdbt {

inline constexpr std::string_view kManifestFileName = "manifest.ocdbt";
// A manifest holds a config, at most 2^16 inline versions and a few version
// node references; 64 MiB leaves room for long paths in its table.
inline constexpr size_t kMaxManifestBodyBytes = size_t{64} << 20;

struct Manifest {
  Config config;
  // Empty for a config-only (numbered kind) manifest.
  DataFileTable data_files;
  std::vector<BtreeGenerationReference> versions;      // inline, oldest first
  std::vector<VersionNodeReference> version_nodes;     // highest height first

  // REQUIRES: !versions.empty()
  const BtreeGenerationReference& latest() const { return versions.back(); }
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// Decodes a manifest blob. With config manifest_kind numbered the body must
// end after the config.
Result<Manifest> DecodeManifest(ByteView blob, size_t max_body_bytes = kMaxManifestBodyBytes);
Result<Manifest> DecodeManifestBody(ByteView body);

// Writes the body; as_single writes manifest_kind 0 whatever the config
// says (numbered manifest files).
Bytes EncodeManifestBody(const Manifest& manifest, bool as_single = false);
// The blob, compressed as the config says.
Result<Bytes> EncodeManifest(const Manifest& manifest, bool as_single = false);

// "manifest." + 16 lowercase hex digits.
std::string NumberedManifestName(uint64_t generation);
// The generation of a numbered manifest file name, or nullopt when `name`
// is not one (exactly 16 lowercase hex digits, non-zero).
std::optional<uint64_t> ParseNumberedManifestName(std::string_view name);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_FORMAT_MANIFEST_H_
