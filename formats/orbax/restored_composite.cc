// The restore output of a composite checkpoint: _checkpoint.json, item
// paths, opaque item copies.

#include "formats/orbax/restored_composite.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "formats/orbax/locator.h"
#include "lib/base/file.h"
#include "lib/base/json.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::orbax {
namespace {

std::optional<ItemKind> ParseItemKind(std::string_view name) {
  for (ItemKind k : {ItemKind::kPyTree, ItemKind::kJson, ItemKind::kOpaque}) {
    if (ItemKindName(k) == name) return k;
  }
  return std::nullopt;
}

bool PlainItemName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos && name != kRestoredCheckpointFile &&
         name != "_tree.json" && !IsTmpName(name);
}

}  // namespace

std::string RestoredItemPath(std::string_view name, ItemKind kind) {
  return kind == ItemKind::kJson ? std::string(name) + ".json" : std::string(name);
}

std::string EncodeRestoredCheckpoint(const RestoredCheckpoint& file) {
  Json doc = Json::object();
  Json items = Json::array();
  for (const RestoredItem& it : file.items) {
    Json j = Json::object();
    j["name"] = it.name;
    j["kind"] = std::string(ItemKindName(it.kind));
    j["handler"] = it.handler;
    items.push_back(std::move(j));
  }
  doc["items"] = std::move(items);
  doc["custom_metadata"] = file.custom_metadata;
  return DumpJson(doc, 2) + "\n";
}

Result<RestoredCheckpoint> DecodeRestoredCheckpoint(ByteView text, const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Json doc, ParseJsonBounded(text, path));
  if (!doc.is_object() || !doc.contains("items") || !doc["items"].is_array()) {
    return DataLossError("{}: expected {{\"items\": [...], \"custom_metadata\": ...}}", path);
  }
  RestoredCheckpoint out;
  out.custom_metadata = doc.value("custom_metadata", Json());
  std::set<std::string> names;
  for (const Json& j : doc["items"]) {
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("kind") ||
        !j["kind"].is_string()) {
      return DataLossError("{}: every item needs a \"name\" and a \"kind\" string", path);
    }
    RestoredItem it;
    it.name = j["name"].get<std::string>();
    if (!PlainItemName(it.name))
      return DataLossError("{}: item name '{}' is not a plain file name", path, it.name);
    if (!names.insert(it.name).second)
      return DataLossError("{}: item '{}' listed twice", path, it.name);
    std::optional<ItemKind> kind = ParseItemKind(j["kind"].get<std::string>());
    if (!kind) {
      return DataLossError("{}: item '{}' has kind '{}' (pytree, json or opaque expected)", path,
                           it.name, j["kind"].get<std::string>());
    }
    it.kind = *kind;
    it.handler = j.value("handler", Json());
    out.items.push_back(std::move(it));
  }
  return out;
}

Status WriteRestoredCheckpoint(const std::string& dir, const RestoredCheckpoint& file) {
  return WriteFile(JoinPath(dir, kRestoredCheckpointFile), EncodeRestoredCheckpoint(file));
}

Result<std::optional<RestoredCheckpoint>> ReadRestoredCheckpoint(const std::string& dir) {
  std::string path = JoinPath(dir, kRestoredCheckpointFile);
  if (!IsRegularFile(path)) return std::optional<RestoredCheckpoint>();
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFileConfined(path, uint64_t{1} << 28));
  OCKPT_ASSIGN_OR_RETURN(RestoredCheckpoint file, DecodeRestoredCheckpoint(text, path));
  return std::optional<RestoredCheckpoint>(std::move(file));
}

namespace {

// One file, in pieces of 4 MiB.
Status CopyFileBytes(const std::string& from, uint64_t size, const std::string& to) {
  OCKPT_ASSIGN_OR_RETURN(WritableFile out, WritableFile::Create(to));
  constexpr uint64_t kPiece = uint64_t{4} << 20;
  for (uint64_t pos = 0; pos < size; pos += kPiece) {
    OCKPT_ASSIGN_OR_RETURN(Bytes piece, ReadFileRange(from, pos, std::min(kPiece, size - pos)));
    OCKPT_RETURN_IF_ERROR(out.Append(piece));
  }
  return out.Close();
}

Status CopyItemFilesUnder(const std::string& root, const std::string& rel, const std::string& dest,
                          const Context& ctx) {
  std::string src = rel.empty() ? root : JoinPath(root, rel);
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dest));
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(src));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string child_rel = rel.empty() ? name : JoinPath(rel, name);
    std::string from = JoinPath(root, child_rel);
    OCKPT_RETURN_IF_ERROR(CheckConfined(root, child_rel));
    if (IsDirectory(from)) {
      OCKPT_RETURN_IF_ERROR(CopyItemFilesUnder(root, child_rel, JoinPath(dest, name), ctx));
    } else if (IsRegularFile(from)) {
      OCKPT_ASSIGN_OR_RETURN(uint64_t size, FileSize(from));
      OCKPT_RETURN_IF_ERROR(CopyFileBytes(from, size, JoinPath(dest, name)));
    } else {
      ctx.Warn(fmt::format("{}: not a regular file or directory; not copied", from));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CopyItemFiles(const std::string& root, const std::string& dest, const Context& ctx) {
  if (IsRemotePath(root)) {
    // Object stores list every object below a prefix and have no links or
    // special files; http(s) sites cannot be listed (kUnimplemented), and
    // nothing is written then.
    auto files = ListFilesRecursive(root);
    if (!files.ok()) {
      return std::move(files).status().WithContext(
          fmt::format("listing the files of item {}", root));
    }
    OCKPT_RETURN_IF_ERROR(MakeDirectories(dest));
    for (const DirEntryInfo& f : *files) {
      if (!IsSafeRelativeKey(f.name))
        return DataLossError("{}: object '{}' cannot be copied as a file", root, f.name);
      const std::string to = JoinPath(dest, f.name);
      OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(to)));
      OCKPT_RETURN_IF_ERROR(CopyFileBytes(JoinPath(root, f.name), f.size, to));
    }
    return Status::Ok();
  }
  return CopyItemFilesUnder(root, "", dest, ctx);
}

}  // namespace ockpt::orbax
