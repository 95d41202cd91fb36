// Opening whatever a user points at: a PyTree item directory, a checkpoint
// directory (StandardCheckpointer output, a composite, a CheckpointManager
// step) or a manager root (its latest committed step unless a step is
// asked for); what the path is and which step it means is Locate's decision
// (locator.h). Reads only metadata: _CHECKPOINT_METADATA, _METADATA,
// _sharding, _strings.json, the legacy msgpack `checkpoint` file and the
// zarr metadata keys; chunk data is read only when a caller asks
// PyTreeItem::ReadLeaf. Implemented in open_checkpoint.cc (discovery),
// pytree_item.cc (the item), zarr_array_source.cc (random access, chunk
// cache) and leaf_stream.cc (LeafStream).

#ifndef OCKPT_FORMATS_ORBAX_CHECKPOINT_READER_H_
#define OCKPT_FORMATS_ORBAX_CHECKPOINT_READER_H_

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "formats/orbax/locator.h"
#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/tree.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::orbax {

// One PyTree item, opened: its leaves (sorted by key path) and its storage.
class PyTreeItem {
 public:
  // kNotFound if dir holds no item; kDataLoss if its metadata is damaged.
  static Result<std::unique_ptr<PyTreeItem>> Open(const std::string& dir);
  // An item that is one msgpack file (flax's own checkpoint files, any
  // name): its tree and inline arrays; placeholders name zarr arrays in the
  // file's directory.
  static Result<std::unique_ptr<PyTreeItem>> OpenMsgpackFile(const std::string& path);
  ~PyTreeItem();

  const std::string& dir() const { return dir_; }
  const std::vector<LeafRecord>& leaves() const { return leaves_; }
  bool ocdbt() const { return ocdbt_; }
  std::optional<int> zarr_format() const { return zarr_format_; }
  const Json& custom_metadata() const { return custom_metadata_; }
  // _METADATA's top-level members that ockpt does not model
  // (value_metadata_tree, ...); an empty object when none.
  const Json& tree_metadata_extras() const { return tree_metadata_extras_; }
  bool has_tree_metadata() const { return has_tree_metadata_; }
  // The first problem found while reading leaf metadata (e.g. an array
  // whose zarr metadata is missing), or OK.
  const Status& leaf_error() const { return leaf_error_; }
  // Side files that could not be used (a damaged _sharding, ...): what was
  // left out, one message each, for the caller to show as warnings.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Streams leaf i's values (C order, little-endian) into out, decoding
  // chunks on `threads` workers (0 = all cores); out.WriteAt is called from
  // the calling thread only. REQUIRES: leaves()[i].HasArrayData().
  Status ReadLeaf(size_t i, ArrayWriter& out, int threads = 1) const;
  // Streams the box [origin, origin + extent) of leaf i into out, at byte
  // offsets within the box (C order, little-endian), decoding only the
  // chunks the box overlaps, chunk by chunk (the part of the box inside
  // each chunk in increasing offsets, so each chunk is decoded once and
  // streamed chunks are read front to back), through a buffer of at most
  // 1 MiB: memory is bounded by a chunk, never by the box. A box covering
  // the leaf is ReadLeaf(i, out, threads). REQUIRES: leaves()[i].HasArrayData()
  // and the box inside the leaf's shape (the caller checks it).
  Status ReadLeafBox(size_t i, const Shape& origin, const Shape& extent, ArrayWriter& out,
                     int threads = 1) const;
  // How ReadLeaf(i, out, 1) reads leaf i: how many chunks, whether they are
  // streamed (zarr::ReadOptions defaults: then memory is a few MiB of
  // pieces) and the decoded chunk size. Inline leaves: one chunk.
  struct ReadPlan {
    uint64_t chunks = 0;
    bool streamed = false;
    uint64_t chunk_bytes = 0;
  };
  ReadPlan LeafReadPlan(size_t i) const;
  // Random access to leaf i's values, decoding chunks on demand (a few
  // recently used chunks are cached). With threads != 1 (0 = all cores),
  // every chunk read starts decoding the next chunks of the grid on that
  // many workers of the source's own, for sequential readers.
  // REQUIRES: leaves()[i].HasArrayData().
  Result<std::unique_ptr<ArraySource>> OpenLeafSource(size_t i, int threads = 1) const;
  // Reads the leaves `order` (indices into leaves()) one after the other,
  // decoding the chunks of the coming leaves on `threads` workers (0 = all
  // cores) while the current one is written: many small one-chunk leaves
  // are then read in parallel too. The item must outlive the stream.
  std::unique_ptr<class LeafStream> StreamLeaves(std::vector<size_t> order, int threads) const;

  struct LeafSource;

 private:
  static Result<std::unique_ptr<PyTreeItem>> OpenImpl(const std::string& dir,
                                                      const std::string& msgpack_file);
  PyTreeItem() = default;
  std::string dir_;
  std::unique_ptr<KvStore> store_;
  std::vector<LeafRecord> leaves_;
  std::vector<std::unique_ptr<LeafSource>> sources_;  // parallel to leaves_
  bool ocdbt_ = false;
  std::optional<int> zarr_format_;
  Json custom_metadata_;
  Json tree_metadata_extras_ = Json::object();
  bool has_tree_metadata_ = false;
  bool missing_chunks_are_errors_ = false;
  Status leaf_error_;
  std::vector<std::string> warnings_;
};

// See PyTreeItem::StreamLeaves. Not thread-safe.
class LeafStream {
 public:
  ~LeafStream();
  // Streams leaf i into out as PyTreeItem::ReadLeaf does (out.WriteAt on
  // the calling thread, chunk by chunk). Leaves come in the stream's order;
  // those passed over are skipped. After a failure, every call fails.
  Status ReadLeaf(size_t i, ArrayWriter& out);

  class Impl;
  explicit LeafStream(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

enum class PathKind { kItem, kCheckpoint, kRoot };
std::string_view PathKindName(PathKind kind);

enum class ItemKind { kPyTree, kJson, kOpaque };
std::string_view ItemKindName(ItemKind kind);

struct ItemEntry {
  std::string name;        // "" for a bare item or a direct checkpoint
  ItemKind kind = ItemKind::kOpaque;
  std::string dir;
  Json handler;            // typestr from item_handlers, or null
  Json json_value;         // kJson
  std::string json_file;   // kJson: the file it came from
  std::unique_ptr<PyTreeItem> pytree;  // kPyTree, when it opened
  Status error;            // kPyTree that could not be opened
};

struct Checkpoint {
  std::string path;        // as the user gave it
  PathKind kind = PathKind::kItem;
  std::optional<int64_t> step;
  std::string dir;         // the checkpoint directory (the step dir of a root)
  Json checkpoint_metadata;  // _CHECKPOINT_METADATA, or null
  Json root_metadata;        // metadata/_ROOT_METADATA of a root, or null
  std::vector<ItemEntry> items;  // sorted by name
  // Newer steps of a root passed over because they are not committed.
  std::vector<std::string> notes;
  // A checkpoint opened directly that is not committed by the step rule
  // (CheckCheckpointDir): why. Empty when committed.
  std::string incomplete;
};

struct OpenOptions {
  std::optional<int64_t> step;       // for a manager root (a committed step)
  std::optional<std::string> item;   // narrow a composite to one item
};

Result<Checkpoint> OpenCheckpoint(const std::string& path, const OpenOptions& options = {});

// What a re-save needs beyond the leaves to write `item` of `ckpt` back as
// Orbax wrote it (CheckpointSource::format_metadata, `_tree.json`'s
// "format_metadata"): {"checkpoint_custom_metadata": _CHECKPOINT_METADATA's
// custom_metadata (when ckpt is given and has one),
// "tree_metadata_extras": {...} (when _METADATA has members ockpt does not
// model and `whole_tree`: they describe the whole tree, so a partial
// restore leaves them out)}; null when there is nothing.
Json FormatMetadataOf(const Checkpoint* ckpt, const PyTreeItem& item, bool whole_tree = true);
inline constexpr std::string_view kCheckpointCustomMetadataKey = "checkpoint_custom_metadata";
inline constexpr std::string_view kTreeMetadataExtrasKey = "tree_metadata_extras";

// `metadata --json` document and the text form.
Json CheckpointToJson(const Checkpoint& ckpt);
void PrintCheckpointText(const Checkpoint& ckpt, std::ostream& out);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_CHECKPOINT_READER_H_
