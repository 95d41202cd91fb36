// `ockpt restore`: writes the arrays of a checkpoint out as a directory of
// .npy files plus _tree.json (docs/cli.md). Streams chunk by chunk; chunks of
// unselected leaves are never read. Output goes to a temporary sibling and is
// renamed into place at the end, so OUT never holds a partial restore.

#ifndef OCKPT_FORMATS_ORBAX_RESTORE_H_
#define OCKPT_FORMATS_ORBAX_RESTORE_H_

#include <optional>
#include <string>
#include <vector>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/base/context.h"

namespace ockpt::orbax {

struct RestoreOptions {
  std::string path;
  std::string out;
  OpenOptions open;
  std::vector<std::string> select;  // globs over dotted names; empty = all
  std::optional<DType> dtype;       // explicit cast
  std::string format;               // "npy" (default), others later
};

Status Restore(const RestoreOptions& options, const Context& ctx);

// Whether name matches any of the globs (fnmatch; '*' also crosses '.').
bool MatchesSelect(const std::vector<std::string>& globs, const std::string& name);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_RESTORE_H_
