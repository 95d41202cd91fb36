// A checkpoint's PyTree item as a CheckpointSource (for re-layout saves,
// convert and diff). Arrays are read through PyTreeItem::OpenLeafSource,
// which decodes chunks on demand, so memory stays bounded by a few chunks
// whatever the source and destination chunkings are.

#include <algorithm>

#include <fmt/format.h>

#include "formats/npy/npy_dir.h"
#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/save.h"
#include "lib/base/file.h"

namespace ockpt::orbax {
namespace {

class CheckpointItemSource final : public CheckpointSource {
 public:
  CheckpointItemSource(Checkpoint ckpt, size_t index, int threads)
      : ckpt_(std::move(ckpt)), index_(index), threads_(threads) {}
  const std::vector<LeafRecord>& leaves() const override { return item().leaves(); }
  const Json& custom_metadata() const override { return item().custom_metadata(); }
  Json format_metadata() const override { return FormatMetadataOf(&ckpt_, item()); }
  std::string Describe() const override { return item().dir(); }
  std::vector<std::string> warnings() const override { return item().warnings(); }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    return item().OpenLeafSource(i, threads_);
  }

 private:
  const PyTreeItem& item() const { return *ckpt_.items[index_].pytree; }
  Checkpoint ckpt_;
  size_t index_;
  int threads_;
};

}  // namespace

Result<std::unique_ptr<CheckpointSource>> OpenSource(const std::string& path,
                                                     const std::optional<std::string>& item,
                                                     int threads) {
  if (!PathExists(path)) return MissingPathError(path, NotFoundError("source {} does not exist", path));
  if (!IsDirectory(path) && !LooksLikeMsgpackFile(path)) {
    return UnimplementedError("source {}: only .npy directories and checkpoints are supported so far", path);
  }
  bool npy_dir = IsDirectory(path) && IsRegularFile(JoinPath(path, "_tree.json"));
  if (!npy_dir) {
    OCKPT_ASSIGN_OR_RETURN(LocationKind kind, Classify(path));
    npy_dir = kind == LocationKind::kNotCheckpoint;
  }
  if (npy_dir) return npy::OpenNpyDirectory(path);
  OpenOptions open;
  open.item = item;
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(path, open));
  std::vector<size_t> pytrees;
  for (size_t i = 0; i < ckpt.items.size(); ++i) {
    if (ckpt.items[i].kind == ItemKind::kPyTree) pytrees.push_back(i);
  }
  if (pytrees.empty()) return NotFoundError("source {} holds no PyTree item", path);
  if (pytrees.size() > 1) {
    // A manager step: prefer its "default" item.
    auto it = std::find_if(pytrees.begin(), pytrees.end(),
                           [&](size_t i) { return ckpt.items[i].name == "default"; });
    if (it == pytrees.end()) {
      return InvalidArgumentError("source {} holds several PyTree items and none is named 'default'; an item must be picked", path);
    }
    pytrees = {*it};
  }
  const ItemEntry& e = ckpt.items[pytrees[0]];
  if (!e.pytree) return e.error;
  if (!e.pytree->leaf_error().ok()) return e.pytree->leaf_error();
  return std::unique_ptr<CheckpointSource>(new CheckpointItemSource(std::move(ckpt), pytrees[0], threads));
}

}  // namespace ockpt::orbax
