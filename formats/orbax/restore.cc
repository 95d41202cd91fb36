// Restore to a directory of .npy files.

#include "formats/orbax/restore.h"

#include <fnmatch.h>
#include <unistd.h>

#include <fmt/format.h>

#include "formats/orbax/layout.h"
#include "formats/npy/npy.h"
#include "lib/base/file.h"
#include "lib/dtype/cast.h"

namespace ockpt::orbax {

bool MatchesSelect(const std::vector<std::string>& globs, const std::string& name) {
  if (globs.empty()) return true;
  for (const std::string& g : globs) {
    if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

namespace {

// A key path component must be usable as one file name.
Status CheckFileName(const std::string& key, const std::string& leaf) {
  if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos ||
      key.find('\0') != std::string::npos) {
    return DataLossError("leaf '{}': key '{}' cannot be used as a file name", leaf, key);
  }
  return Status::Ok();
}

// Casts each piece before passing it on.
class CastingWriter final : public ArrayWriter {
 public:
  CastingWriter(ArrayWriter* next, DType from, DType to) : next_(next), from_(from), to_(to) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    Bytes out;
    OCKPT_RETURN_IF_ERROR(CastElements(from_, to_, data, &out));
    return next_->WriteAt(offset / SizeOf(from_) * SizeOf(to_), out);
  }

 private:
  ArrayWriter* next_;
  DType from_, to_;
};

struct ItemPlan {
  const PyTreeItem* item;
  std::string out_dir;  // relative to the output root ("" = the root)
};

Status RestoreItem(const PyTreeItem& item, const std::string& dir, const RestoreOptions& opt,
                   const Context& ctx, size_t* selected) {
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));
  Json leaves = Json::array();
  const auto& records = item.leaves();
  for (size_t i = 0; i < records.size(); ++i) {
    const LeafRecord& r = records[i];
    std::string name = r.name();
    if (!MatchesSelect(opt.select, name)) continue;
    ++*selected;
    LeafRecord out_record = r;
    if (r.HasArrayData() || (!IsEmptyNodeType(r.value_type) && r.value_type != kString)) {
      if (!r.HasArrayData()) {
        if (!item.leaf_error().ok()) return item.leaf_error();
        return DataLossError("leaf '{}' in {} has no readable array data", name, item.dir());
      }
      if (r.keypath.empty()) return UnimplementedError("a bare top-level array leaf in {} cannot be restored to .npy", item.dir());
      std::string path = dir;
      for (size_t k = 0; k < r.keypath.size(); ++k) {
        OCKPT_RETURN_IF_ERROR(CheckFileName(r.keypath[k].key, name));
        path = JoinPath(path, r.keypath[k].key);
      }
      OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(path)));
      path += ".npy";
      DType stored = *r.dtype;
      DType target = opt.dtype.value_or(stored);
      if (target != stored) {
        OCKPT_RETURN_IF_ERROR(CheckCast(stored, target));
        if (CastIsLossy(stored, target)) {
          ctx.Warn(fmt::format("leaf '{}': casting {} to {} may lose information", name, Name(stored),
                               Name(target)));
        }
        out_record.dtype = target;
      }
      npy::NpyHeader header{std::string(Info(target).npy_descr), false, *r.shape};
      uint64_t bytes = static_cast<uint64_t>(NumElements(*r.shape)) * SizeOf(target);
      OCKPT_ASSIGN_OR_RETURN(npy::NpyFileWriter file, npy::NpyFileWriter::Create(path, header, bytes));
      if (target != stored) {
        CastingWriter caster(&file, stored, target);
        OCKPT_RETURN_IF_ERROR(item.ReadLeaf(i, caster));
      } else {
        OCKPT_RETURN_IF_ERROR(item.ReadLeaf(i, file));
      }
      OCKPT_RETURN_IF_ERROR(file.Close());
    }
    leaves.push_back(out_record.ToJson());
  }
  Json tree;
  tree["leaves"] = std::move(leaves);
  tree["custom_metadata"] = item.custom_metadata();
  return WriteFile(JoinPath(dir, "_tree.json"), tree.dump(2) + "\n");
}

Status RestoreInto(const Checkpoint& ckpt, const std::string& root, const RestoreOptions& opt,
                   const Context& ctx) {
  size_t selected = 0;
  // A step saved with a single unnamed item restores straight into OUT.
  bool default_only = false;
  if (ckpt.items.size() >= 1 && !opt.open.item) {
    bool has_default = false, others = false;
    for (const ItemEntry& e : ckpt.items) {
      if (e.name == kDefaultItem && e.kind == ItemKind::kPyTree) has_default = true;
      else if (e.name != kMetricsItem) others = true;
    }
    default_only = has_default && !others;
  }
  bool single = ckpt.items.size() == 1 && (ckpt.items[0].name.empty() || opt.open.item);
  for (const ItemEntry& e : ckpt.items) {
    if (default_only && e.name != kDefaultItem) continue;
    std::string dir = (single || default_only) ? root : JoinPath(root, e.name);
    if (!single && !default_only) OCKPT_RETURN_IF_ERROR(CheckFileName(e.name, e.name));
    switch (e.kind) {
      case ItemKind::kPyTree:
        if (!e.pytree) return e.error;
        OCKPT_RETURN_IF_ERROR(RestoreItem(*e.pytree, dir, opt, ctx, &selected));
        break;
      case ItemKind::kJson: {
        OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(e.json_file));
        std::string path = single ? JoinPath(root, e.name + ".json") : dir + ".json";
        OCKPT_RETURN_IF_ERROR(MakeDirectories(root));
        OCKPT_RETURN_IF_ERROR(WriteFile(path, text));
        ++selected;
        break;
      }
      case ItemKind::kOpaque:
        ctx.Warn(fmt::format("item '{}' ({}) is not an Orbax PyTree or JSON item; skipped", e.name, e.dir));
        break;
    }
  }
  if (!opt.select.empty() && selected == 0) {
    return NotFoundError("no leaf of {} matches --select", ckpt.path);
  }
  return Status::Ok();
}

}  // namespace

Status Restore(const RestoreOptions& opt, const Context& ctx) {
  if (opt.format != "" && opt.format != "npy") {
    return UnimplementedError("restore --format {} is not supported yet", opt.format);
  }
  if (PathExists(opt.out)) {
    bool empty_dir = IsDirectory(opt.out) && ListDirectory(opt.out).ok() && ListDirectory(opt.out)->empty();
    if (!empty_dir) return AlreadyExistsError("{} already exists; restore will not overwrite it", opt.out);
  }
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(opt.path, opt.open));
  std::string parent = Dirname(opt.out);
  OCKPT_RETURN_IF_ERROR(MakeDirectories(parent));
  std::string tmp = fmt::format("{}.ockpt-tmp-{}", opt.out, ::getpid());
  OCKPT_RETURN_IF_ERROR(RemoveAll(tmp));
  OCKPT_RETURN_IF_ERROR(MakeDirectories(tmp));
  Status s = RestoreInto(ckpt, tmp, opt, ctx);
  if (s.ok()) {
    if (IsDirectory(opt.out)) OCKPT_RETURN_IF_ERROR(RemoveAll(opt.out));  // empty, checked above
    s = RenamePath(tmp, opt.out);
  }
  if (!s.ok()) RemoveAll(tmp).IgnoreError();
  return s;
}

}  // namespace ockpt::orbax
