// The library behind `ockpt ocdbt ls|cat|versions`: inspect any TensorStore
// OCDBT database directory. Output formats are described in docs/cli.md.
//
// ls (text): one line per key, tab-separated, key last:
//   <size> TAB <inline|indirect> [TAB <sha256>] [TAB <file>@<offset> | -] TAB <key>
// (sha256 with --sha256, location with --long). Keys are escaped: bytes that
// are not printable UTF-8, and backslash, appear as \xNN / \\.
// ls --json: {"keys": [{"key": "a/.zarray" | "key_base64": "...", "size": N,
//   "storage": "inline" | "indirect", "file": "d/..." | null,
//   "offset": N | null[, "sha256": "..."]}]}
// versions (text): one line per generation, oldest first:
//   <generation> TAB <commit time, UTC RFC 3339, ns precision> TAB <num_keys>
// versions --json: {"versions": [{"generation": N, "commit_time_ns": N,
//   "num_keys": N, "num_tree_bytes": N, "num_indirect_value_bytes": N}]}

#ifndef OCKPT_FORMATS_OCDBT_INSPECT_H_
#define OCKPT_FORMATS_OCDBT_INSPECT_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "lib/base/status.h"

namespace ockpt::ocdbt {

struct OcdbtListOptions {
  std::string dir;
  uint64_t generation = 0;  // 0 = latest
  std::string prefix;
  bool json = false;
  bool sha256 = false;  // read every value; fails (kDataLoss) when one is unreadable
  bool long_format = false;  // text: add the file@offset column
};

struct OcdbtCatOptions {
  std::string dir;
  std::string key;
  bool key_is_base64 = false;  // key as ls --json prints key_base64
  uint64_t generation = 0;
};

struct OcdbtVersionsOptions {
  std::string dir;
  bool json = false;
};

Status OcdbtList(const OcdbtListOptions& options, std::ostream& out);
// Writes the raw value bytes.
Status OcdbtCat(const OcdbtCatOptions& options, std::ostream& out);
Status OcdbtVersions(const OcdbtVersionsOptions& options, std::ostream& out);

// UTC, RFC 3339 with the nanoseconds and no trailing zeros in the fraction:
// "2025-01-30T21:32:58.344067964Z", "2025-01-30T21:32:58.4359968Z".
std::string FormatCommitTime(uint64_t ns_since_epoch);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_INSPECT_H_
