// `ockpt save`: writes a checkpoint that orbax-checkpoint restores, in the
// layout Orbax itself writes (docs/format/orbax.md): arrays as zarr (v2, or
// v3 with sharding_indexed) in `ocdbt.process_0/` plus a merged root OCDBT
// database, `_METADATA`, `_sharding`, `array_metadatas/process_0`,
// `_strings.json`, `_CHECKPOINT_METADATA` and `commit_success.txt`, all in
// `<dest>.orbax-checkpoint-tmp` first, synced, then renamed into place.
// Arrays stream chunk by chunk from their sources.

#ifndef OCKPT_FORMATS_ORBAX_SAVE_H_
#define OCKPT_FORMATS_ORBAX_SAVE_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/base/context.h"
#include "lib/checkpoint/retention.h"
#include "lib/checkpoint/source.h"

namespace ockpt::orbax {

inline constexpr std::string_view kStandardHandler =
    "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler";
inline constexpr std::string_view kPyTreeHandler =
    "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler";
inline constexpr std::string_view kJsonHandler =
    "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";
// What orbax-checkpoint's v1 API (save_pytree / save_checkpointables)
// records in item_handlers, and the files it adds.
inline constexpr std::string_view kV1PyTreeHandler =
    "orbax.checkpoint.experimental.v1._src.handlers.pytree_handler.PyTreeHandler";
inline constexpr std::string_view kV1JsonHandler =
    "orbax.checkpoint.experimental.v1._src.handlers.json_handler.JsonHandler";
inline constexpr std::string_view kV1MetricsHandler =
    "orbax.checkpoint.experimental.v1._src.handlers.json_handler.MetricsHandler";
inline constexpr std::string_view kV1DescriptorHandler =
    "orbax.checkpoint.experimental.v1._src.handlers.descriptor_handler.DescriptorHandler";

struct ArrayLayout {
  // The layout of orbax-checkpoint's v1 API (`save --layout v1`): zarr3 with
  // sharding_indexed, the `orbax.checkpoint` marker, v1 handler typestrs,
  // the single tree as item "pytree", JSON items as `<item>/data.json`.
  bool v1 = false;
  bool ocdbt = true;
  bool zarr3 = false;
  std::optional<int> zstd_level;         // nullopt: Orbax's default (1 for zarr2, 3 for zarr3)
  bool compress = true;                  // false: no compressor
  bool zstd_checksum = true;             // zstd frames carry a content checksum (zarr::WriteSpec)
  std::optional<uint64_t> chunk_bytes;   // Orbax's chunk_byte_size
  std::optional<Shape> chunk_shape;      // forced chunk shape
  // What _sharding records for a jax.Array leaf (docs/cli.md, --sharding):
  // nullopt: its known sharding, else SingleDeviceSharding cpu:0 with a
  // warning naming how many leaves had none; kCpu: the same without the
  // warning; kNone: no _sharding at all (a warning names the known shardings
  // this drops).
  enum class Sharding { kCpu, kNone };
  std::optional<Sharding> sharding;
};

// Opens a save source (e.g. formats::OpenSource, which adds .npz, HDF5 and
// safetensors to what orbax::OpenSource reads).
using SourceOpener =
    std::function<Result<std::unique_ptr<CheckpointSource>>(const std::string& path)>;

struct SaveOptions {
  std::string src;                                           // "" with items
  // With src a composite checkpoint or manager root: save only this item of
  // it (convert --item). Without it, every item of such a source is carried
  // (PyTree items re-laid out, JSON items re-written, other items copied),
  // and its _CHECKPOINT_METADATA custom_metadata unless custom_metadata is
  // given.
  std::optional<std::string> src_item;
  std::string dest;
  std::optional<int64_t> step;
  std::vector<std::pair<std::string, std::string>> items;       // NAME=SRC
  std::vector<std::pair<std::string, std::string>> json_items;  // NAME=FILE
  ArrayLayout layout;
  Json custom_metadata;  // _CHECKPOINT_METADATA custom_metadata (null = {})
  Json metrics;          // null = none
  SourceOpener open_source;  // empty: OpenSource below
  // With step: after the new step commits, delete the steps this policy does
  // not keep, as CheckpointManager does after each save (formats/orbax/steps.h).
  std::optional<RetentionPolicy> retention;
};

Status Save(const SaveOptions& options, const Context& ctx);

// Opens anything save accepts as a source: a .npy directory (restore's
// layout) or a checkpoint (one PyTree item; `item` picks one of a composite).
// A checkpoint's arrays decode chunks ahead on `threads` workers (0 = all
// cores) while they are read in order.
Result<std::unique_ptr<CheckpointSource>> OpenSource(const std::string& path,
                                                     const std::optional<std::string>& item = {},
                                                     int threads = 1);

// Writes one PyTree item into dir (which must exist and be empty).
Status WritePyTreeItem(const std::string& dir, const CheckpointSource& source,
                       const ArrayLayout& layout, const Context& ctx);

// Orbax's chunk shape (subchunking.choose_chunk_shape without shard_axes):
// the largest shape dividing `write_shape` whose bytes fit in target_bytes,
// reducing the largest sharded dimension (write_shape[i] != global_shape[i],
// or already reduced) first, then the largest of all, each time to its next
// smaller divisor. An empty global_shape means "not sharded".
Shape ChooseChunkShape(const Shape& write_shape, size_t item_size, uint64_t target_bytes,
                       const Shape& global_shape = {});

// The _METADATA entry key for a key path: Python's str(tuple(...)).
std::string TreeMetadataKey(const KeyPath& path);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_SAVE_H_
