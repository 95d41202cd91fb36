// Restore through a CheckpointSink.

#include "formats/orbax/restore.h"

#include <fnmatch.h>
#include <unistd.h>

#include <fmt/format.h>

#include "formats/npy/npy_dir.h"
#include "formats/orbax/layout.h"
#include "lib/base/file.h"
#include "lib/checkpoint/casting_writer.h"
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

Status CheckItemName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return DataLossError("item '{}' cannot be used as a file name", name);
  }
  return Status::Ok();
}

// Streams the selected leaves of one item into sink. `prefix` is prepended to
// every key path (the item name when several items share one file).
Status RestoreItem(const PyTreeItem& item, CheckpointSink& sink, const KeyPath& prefix,
                   const RestoreOptions& opt, const Context& ctx, size_t* selected) {
  const auto& records = item.leaves();
  // The leaves whose data is read, in order: their chunks are decoded ahead
  // on ctx.threads workers while earlier leaves are written.
  std::vector<size_t> reads;
  for (size_t i = 0; i < records.size(); ++i) {
    if (MatchesSelect(opt.select, records[i].name()) && records[i].HasArrayData()) reads.push_back(i);
  }
  std::unique_ptr<LeafStream> stream = item.StreamLeaves(std::move(reads), ctx.threads);
  for (size_t i = 0; i < records.size(); ++i) {
    const LeafRecord& r = records[i];
    std::string name = r.name();
    if (!MatchesSelect(opt.select, name)) continue;
    ++*selected;
    LeafRecord out = r;
    out.keypath.insert(out.keypath.begin(), prefix.begin(), prefix.end());
    bool wants_data = r.HasArrayData() || (!IsEmptyNodeType(r.value_type) && r.value_type != kString);
    if (!wants_data) {
      OCKPT_RETURN_IF_ERROR(sink.WriteLeaf(out));
      continue;
    }
    if (!r.HasArrayData()) {
      if (!item.leaf_error().ok()) return item.leaf_error();
      return DataLossError("leaf '{}' in {} has no readable array data", name, item.dir());
    }
    DType stored = *r.dtype;
    DType target = opt.dtype.value_or(stored);
    if (target != stored) {
      OCKPT_RETURN_IF_ERROR(CheckCast(stored, target));
      if (CastIsLossy(stored, target)) {
        ctx.Warn(fmt::format("leaf '{}': casting {} to {} may lose information", name, Name(stored), Name(target)));
      }
      out.dtype = target;
    }
    OCKPT_RETURN_IF_ERROR(sink.WriteArray(out, [&](ArrayWriter& w) -> Status {
      if (target == stored) return stream->ReadLeaf(i, w);
      CastingWriter caster(&w, stored, target);
      return stream->ReadLeaf(i, caster);
    }));
  }
  return Status::Ok();
}

Result<std::unique_ptr<CheckpointSink>> MakeSink(const RestoreOptions& opt, const std::string& path) {
  if (opt.sink_factory) return opt.sink_factory(path);
  return npy::CreateNpyDirectorySink(path);
}

Status RestoreInto(const Checkpoint& ckpt, const std::string& root, const RestoreOptions& opt,
                   const Context& ctx) {
  size_t selected = 0;
  // A step saved with a single unnamed item restores straight into OUT.
  bool default_only = false;
  if (!opt.open.item) {
    bool has_default = false, others = false;
    for (const ItemEntry& e : ckpt.items) {
      if (e.name == kDefaultItem && e.kind == ItemKind::kPyTree) has_default = true;
      else if (e.name != kMetricsItem) others = true;
    }
    default_only = has_default && !others;
  }
  bool single = ckpt.items.size() == 1 && (ckpt.items[0].name.empty() || opt.open.item);
  bool flat = single || default_only;  // items' leaves go to OUT itself

  std::vector<const ItemEntry*> items;
  for (const ItemEntry& e : ckpt.items) {
    if (default_only && e.name != kDefaultItem) continue;
    if (e.kind == ItemKind::kPyTree && !e.pytree) return e.error;
    items.push_back(&e);
  }

  std::unique_ptr<CheckpointSink> file_sink;
  if (opt.single_file) {
    OCKPT_ASSIGN_OR_RETURN(file_sink, MakeSink(opt, root));
    std::vector<LeafRecord> all;
    for (const ItemEntry* e : items) {
      if (e->kind != ItemKind::kPyTree) continue;
      for (const LeafRecord& r : e->pytree->leaves()) {
        if (!MatchesSelect(opt.select, r.name())) continue;
        LeafRecord copy = r;
        if (!flat) copy.keypath.insert(copy.keypath.begin(), PathKey{e->name, KeyType::kDict});
        if (opt.dtype && copy.dtype) copy.dtype = opt.dtype;
        all.push_back(std::move(copy));
      }
    }
    OCKPT_RETURN_IF_ERROR(file_sink->Begin(all));
  }
  Json custom = nullptr;
  for (const ItemEntry* e : items) {
    switch (e->kind) {
      case ItemKind::kPyTree: {
        KeyPath prefix;
        if (opt.single_file) {
          if (!flat) prefix.push_back({e->name, KeyType::kDict});
          OCKPT_RETURN_IF_ERROR(RestoreItem(*e->pytree, *file_sink, prefix, opt, ctx, &selected));
          if (flat) custom = e->pytree->custom_metadata();
        } else {
          std::string dir = root;
          if (!flat) {
            OCKPT_RETURN_IF_ERROR(CheckItemName(e->name));
            dir = JoinPath(root, e->name);
          }
          OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointSink> sink, MakeSink(opt, dir));
          OCKPT_RETURN_IF_ERROR(RestoreItem(*e->pytree, *sink, prefix, opt, ctx, &selected));
          OCKPT_RETURN_IF_ERROR(sink->Finish(e->pytree->custom_metadata()));
        }
        break;
      }
      case ItemKind::kJson: {
        if (opt.single_file) {
          ctx.Warn(fmt::format("JSON item '{}' is not written to a single-file output", e->name));
          break;
        }
        OCKPT_RETURN_IF_ERROR(CheckItemName(e->name));
        OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(e->json_file));
        OCKPT_RETURN_IF_ERROR(MakeDirectories(root));
        OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(root, e->name + ".json"), text));
        ++selected;
        break;
      }
      case ItemKind::kOpaque:
        ctx.Warn(fmt::format("item '{}' ({}) is not an Orbax PyTree or JSON item; skipped", e->name, e->dir));
        break;
    }
  }
  if (file_sink) OCKPT_RETURN_IF_ERROR(file_sink->Finish(custom));
  if (!opt.select.empty() && selected == 0) {
    return NotFoundError("no leaf of {} matches --select", ckpt.path);
  }
  return Status::Ok();
}

}  // namespace

Status Restore(const RestoreOptions& opt, const Context& ctx) {
  if (PathExists(opt.out)) {
    auto names = ListDirectory(opt.out);
    bool empty_dir = IsDirectory(opt.out) && names.ok() && names->empty();
    if (!empty_dir) return AlreadyExistsError("{} already exists; restore will not overwrite it", opt.out);
  }
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(opt.path, opt.open));
  std::string out = opt.out;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(out)));
  std::string tmp = fmt::format("{}.ockpt-tmp-{}", out, ::getpid());
  OCKPT_RETURN_IF_ERROR(RemoveAll(tmp));
  if (!opt.single_file) OCKPT_RETURN_IF_ERROR(MakeDirectories(tmp));
  Status s = RestoreInto(ckpt, tmp, opt, ctx);
  if (s.ok()) {
    if (IsDirectory(out)) OCKPT_RETURN_IF_ERROR(RemoveAll(out));  // empty, checked above
    s = RenamePath(tmp, out);
  }
  if (!s.ok()) RemoveAll(tmp).IgnoreError();
  return s;
}

}  // namespace ockpt::orbax
