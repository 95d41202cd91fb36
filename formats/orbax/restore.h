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
#include "lib/checkpoint/mesh.h"
#include "lib/checkpoint/sink.h"

namespace ockpt::orbax {

// Sharded restore (docs/sharding.md): every array leaf is cut into the
// piece one device of a mesh holds, as jax.sharding.NamedSharding places it.
struct ShardingOptions {
  Mesh mesh;
  // Per leaf, the first spec whose glob matches its dotted name (within its
  // item); a leaf no spec matches is replicated (every device holds all of it).
  std::vector<PartitionSpec> specs;
  // One device's pieces, written into OUT; unset: every device's, into
  // OUT/shard_<I>/ (one commit for all).
  std::optional<int64_t> shard;
};

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
  // Set: a sharded restore (.npy directories only; single_file must be false).
  std::optional<ShardingOptions> sharding;
};

// Writes OUT (which must not exist, or be an empty directory) through a
// temporary sibling renamed into place at the end.
Status Restore(const RestoreOptions& options, const Context& ctx);

// Writes device `shard`'s pieces of every selected leaf of options.path
// into the directory options.out, in restore's .npy + _tree.json layout
// (each array record with "global_shape" and "index"), committed on its own
// (missing parent directories are created). Uses options.sharding's mesh
// and specs (its `shard` is ignored). This is what one process of a
// multi-process run calls for its rank: RestoreShard(opts with out =
// OUT/shard_<rank>, rank, ctx) gives the layout of `--all-shards`.
// kInvalidArgument: no sharding, shard outside the mesh, a spec that does not
// fit a leaf (longer than its rank, a dimension split more ways than it
// has elements); kAlreadyExists: options.out exists and is not empty.
Status RestoreShard(const RestoreOptions& options, int64_t shard, const Context& ctx);

// The directory of device `shard` under OUT in the --all-shards layout.
std::string ShardDirName(int64_t shard);

// Whether name matches any of the globs (fnmatch; '*' also crosses '.').
bool MatchesSelect(const std::vector<std::string>& globs, const std::string& name);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_RESTORE_H_
