// OpenCheckpoint: opens what Locate found, item by item.

#include <fmt/format.h>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/layout.h"
#include "formats/orbax/side_json.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

std::string_view PathKindName(PathKind kind) {
  switch (kind) {
    case PathKind::kItem:
      return "item";
    case PathKind::kCheckpoint:
      return "checkpoint";
    case PathKind::kRoot:
      return "root";
  }
  return "?";
}

std::string_view ItemKindName(ItemKind kind) {
  switch (kind) {
    case ItemKind::kPyTree:
      return "pytree";
    case ItemKind::kJson:
      return "json";
    case ItemKind::kOpaque:
      return "opaque";
  }
  return "?";
}

namespace {

std::string P(std::string_view dir, std::string_view name) { return JoinPath(dir, name); }

Json HandlerFor(const Json& checkpoint_metadata, const std::string& item) {
  if (!checkpoint_metadata.is_object() || !checkpoint_metadata.contains("item_handlers"))
    return nullptr;
  const Json& h = checkpoint_metadata["item_handlers"];
  if (h.is_string()) return item.empty() ? h : Json(nullptr);
  if (h.is_object() && h.contains(item)) return h[item];
  return nullptr;
}

ItemEntry OpenPyTreeEntry(std::string name, std::string dir) {
  ItemEntry e;
  e.name = std::move(name);
  e.kind = ItemKind::kPyTree;
  e.dir = std::move(dir);
  auto item = IsRegularFile(e.dir) ? PyTreeItem::OpenMsgpackFile(e.dir) : PyTreeItem::Open(e.dir);
  if (item.ok()) {
    e.pytree = std::move(item).value();
  } else {
    e.error = item.status();
  }
  return e;
}

Status OpenCheckpointDir(const std::string& dir, const OpenOptions& options, Checkpoint* ckpt) {
  ckpt->dir = dir;
  if (!IsDirectory(dir) && LooksLikeMsgpackFile(dir)) {  // a flax checkpoint file
    if (options.item && !options.item->empty()) {
      return NotFoundError("{} holds a single unnamed item, not '{}'", dir, *options.item);
    }
    ItemEntry e = OpenPyTreeEntry("", dir);
    if (!e.pytree) return e.error;
    ckpt->items.push_back(std::move(e));
    return Status::Ok();
  }
  std::string md_path = P(dir, kCheckpointMetadataFile);
  // A directory (or anything else) in its place is damage, not an item.
  if (PathExists(md_path) && !IsRegularFile(md_path)) {
    return DataLossError("{} is not a regular file", md_path);
  }
  if (IsRegularFile(md_path)) {
    auto j = ReadSideJson(md_path, uint64_t{1} << 30);
    if (j.ok()) {
      ckpt->checkpoint_metadata = std::move(j).value();
    } else {
      return j.status();
    }
  }
  if (LooksLikeItem(dir)) {
    if (options.item && !options.item->empty()) {
      return NotFoundError("{} holds a single unnamed item, not '{}'", dir, *options.item);
    }
    ItemEntry e = OpenPyTreeEntry("", dir);
    e.handler = HandlerFor(ckpt->checkpoint_metadata, "");
    if (!e.pytree) return e.error;
    ckpt->items.push_back(std::move(e));
    return Status::Ok();
  }
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));
  for (const std::string& n : names) {
    std::string sub = P(dir, n);
    if (!IsDirectory(sub) || IsTmpName(n) || n.empty() || n[0] == '.') continue;
    if (options.item && *options.item != n) continue;
    ItemEntry e;
    if (LooksLikeItem(sub)) {
      e = OpenPyTreeEntry(n, sub);
    } else if (std::string f = JsonItemFile(sub); !f.empty()) {
      e.name = n;
      e.dir = sub;
      auto j = ReadSideJson(P(sub, f), uint64_t{1} << 30);
      if (j.ok()) {
        e.kind = ItemKind::kJson;
        e.json_value = std::move(j).value();
        e.json_file = P(sub, f);
      } else {
        e.kind = ItemKind::kOpaque;
      }
    } else {
      e.name = n;
      e.dir = sub;
      e.kind = ItemKind::kOpaque;
    }
    e.handler = HandlerFor(ckpt->checkpoint_metadata, n);
    ckpt->items.push_back(std::move(e));
  }
  if (options.item && ckpt->items.empty()) {
    return NotFoundError("{} has no item '{}'", dir, *options.item);
  }
  return Status::Ok();
}

}  // namespace

Result<Checkpoint> OpenCheckpoint(const std::string& path, const OpenOptions& options) {
  OCKPT_ASSIGN_OR_RETURN(Location loc, Locate(path, options.step));
  Checkpoint ckpt;
  ckpt.path = path;
  ckpt.notes = std::move(loc.notes);
  switch (loc.kind) {
    case LocationKind::kNotCheckpoint:
      if (!IsDirectory(path)) return NotFoundError("{} is not a checkpoint directory", path);
      return NotFoundError(
          "{} is not an Orbax checkpoint (no _CHECKPOINT_METADATA, _METADATA, "
          "manifest.ocdbt, item directories or steps)",
          path);
    case LocationKind::kRoot: {
      ckpt.kind = PathKind::kRoot;
      ckpt.step = loc.step;
      std::string root_md = P(P(path, kRootMetadataDir), kRootMetadataFile);
      if (IsRegularFile(root_md)) {
        auto j = ReadSideJson(root_md);
        if (j.ok()) ckpt.root_metadata = std::move(j).value();
      }
      break;
    }
    case LocationKind::kItem:
      ckpt.kind = PathKind::kItem;
      break;
    case LocationKind::kCheckpoint:
      ckpt.kind = PathKind::kCheckpoint;
      break;
    case LocationKind::kInProgress:
      // Opened for what it holds (verify reports it as uncommitted).
      ckpt.kind = IsRegularFile(P(path, kCheckpointMetadataFile)) || !LooksLikeItem(path)
                      ? PathKind::kCheckpoint
                      : PathKind::kItem;
      break;
  }
  if (loc.kind == LocationKind::kCheckpoint || loc.kind == LocationKind::kInProgress) {
    CheckpointState state = CheckCheckpointDir(loc.dir);
    if (state.status != StepStatus::kCommitted) ckpt.incomplete = state.problem;
  }
  OCKPT_RETURN_IF_ERROR(OpenCheckpointDir(loc.dir, options, &ckpt));
  return ckpt;
}

Json FormatMetadataOf(const Checkpoint* ckpt, const PyTreeItem& item, bool whole_tree) {
  Json out = Json::object();
  if (ckpt != nullptr && ckpt->checkpoint_metadata.is_object()) {
    auto it = ckpt->checkpoint_metadata.find("custom_metadata");
    if (it != ckpt->checkpoint_metadata.end() && !it->is_null()) {
      out[std::string(kCheckpointCustomMetadataKey)] = *it;
    }
  }
  if (whole_tree && !item.tree_metadata_extras().empty()) {
    out[std::string(kTreeMetadataExtrasKey)] = item.tree_metadata_extras();
  }
  if (out.empty()) return nullptr;
  return out;
}

}  // namespace ockpt::orbax
