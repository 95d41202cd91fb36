// `ockpt restore`: writes the arrays of a checkpoint out through a
// CheckpointSink (default: a directory of .npy files plus _tree.json; see
// docs/cli.md). Streams chunk by chunk; chunks of unselected leaves are never
// read. Output goes to a temporary sibling and is renamed into place at the
// end, so OUT never holds a partial restore.

#ifndef OCKPT_FORMATS_ORBAX_RESTORE_H_
#define OCKPT_FORMATS_ORBAX_RESTORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/base/context.h"
#include "lib/checkpoint/sink.h"

namespace ockpt::orbax {

// Creates the sink that writes to `path`.
using SinkFactory = std::function<Result<std::unique_ptr<CheckpointSink>>(const std::string& path)>;

struct RestoreOptions {
  std::string path;
  std::string out;
  OpenOptions open;
  std::vector<std::string> select;  // globs over dotted names; empty = all
  std::optional<DType> dtype;       // explicit cast
  // Empty: a .npy directory per item. Otherwise the factory for OUT.
  SinkFactory sink_factory;
  // With sink_factory: OUT is one file holding every item (item names become
  // the first key of each leaf when there is more than one item).
  bool single_file = false;
};

Status Restore(const RestoreOptions& options, const Context& ctx);

// Whether name matches any of the globs (fnmatch; '*' also crosses '.').
bool MatchesSelect(const std::vector<std::string>& globs, const std::string& name);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_RESTORE_H_
