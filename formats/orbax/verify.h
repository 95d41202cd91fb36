// `ockpt verify`: reads everything of a checkpoint and reports problems
// instead of stopping at the first: every OCDBT manifest and node (CRC-32C,
// structure) of the root and per-process databases and all their
// generations, every chunk of every array decoded, chunk keys against the
// chunk grid, commit state. Optionally writes or checks SHA-256 sums of every
// leaf's decoded bytes and every file, kept next to the checkpoint in
// `<checkpoint>.ockpt-sums.json`; a sums file found there is checked even
// without check_sums. The report says what could not be proven: leaves
// whose chunks were decoded but carry no checksum (no sums file covered them).

#ifndef OCKPT_FORMATS_ORBAX_VERIFY_H_
#define OCKPT_FORMATS_ORBAX_VERIFY_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/base/context.h"

namespace ockpt::orbax {

struct VerifyOptions {
  std::string path;
  OpenOptions open;
  bool write_sums = false;
  bool check_sums = false;
};

struct VerifyReport {
  std::string path;
  std::optional<int64_t> step;        // the step checked (PATH a manager root or a step)
  std::string dir;                    // the checkpoint directory checked
  std::vector<std::string> problems;  // each names the file / key / leaf
  std::vector<std::string> notes;     // not errors (e.g. unreferenced files)
  uint64_t leaves_checked = 0;
  uint64_t chunks_checked = 0;
  uint64_t files_checked = 0;
  std::string sums_file;              // written or checked, or ""
  bool sums_checked = false;          // leaf values compared against sums_file
  bool sums_automatic = false;        // ... because the sums file was there (no --check-sums)
  // Chunks of decoded leaves whose stored bytes carry a checksum of their
  // own that decoding checked (zstd frames with the content checksum flag,
  // as ockpt writes them; zarr3 chunks with a crc32c codec).
  uint64_t checksummed_chunks = 0;
  // What verify could not prove: leaves decoded with chunks whose bytes
  // carry no checksum of their own (Orbax/TensorStore's zstd frames, and
  // uncompressed chunks) and that no sums file covered; the count is of
  // those chunks only.
  std::vector<std::string> no_checksum_leaves;
  uint64_t no_checksum_chunks = 0;
  bool ok() const { return problems.empty(); }
};

// kNotFound when PATH does not exist; everything found wrong inside a
// checkpoint lands in the report instead.
Result<VerifyReport> Verify(const VerifyOptions& options, const Context& ctx);

// The sums file for a checkpoint directory: "<dir>.ockpt-sums.json".
std::string SumsFileFor(const std::string& dir);

Json VerifyReportToJson(const VerifyReport& report);
void PrintVerifyReport(const VerifyReport& report, std::ostream& out);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_VERIFY_H_
