// `ockpt metadata`: the JSON document and the h5ls-like text form.

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/side_json.h"
#include "lib/base/json.h"
#include "lib/base/utf8.h"

namespace ockpt::orbax {

Json CheckpointToJson(const Checkpoint& ckpt) {
  Json doc;
  doc["path"] = ckpt.path;
  doc["kind"] = PathKindName(ckpt.kind);
  doc["step"] = ckpt.step ? Json(*ckpt.step) : Json(nullptr);
  doc["checkpoint_metadata"] = ckpt.checkpoint_metadata;
  if (ckpt.kind == PathKind::kRoot) doc["root_metadata"] = ckpt.root_metadata;
  Json items = Json::object();
  for (const ItemEntry& e : ckpt.items) {
    Json it;
    it["kind"] = ItemKindName(e.kind);
    it["handler"] = e.handler;
    if (e.kind == ItemKind::kPyTree) {
      const PyTreeItem* p = e.pytree.get();
      it["ocdbt"] = p ? Json(p->ocdbt()) : Json(nullptr);
      it["zarr_format"] = p && p->zarr_format() ? Json(*p->zarr_format()) : Json(nullptr);
      it["custom_metadata"] = p ? p->custom_metadata() : Json(nullptr);
      Json leaves = Json::array();
      if (p) {
        for (const LeafRecord& r : p->leaves()) leaves.push_back(r.ToJson());
      }
      it["leaves"] = std::move(leaves);
      if (!e.error.ok()) {
        it["error"] = e.error.message();
      } else if (p && !p->leaf_error().ok()) {
        it["error"] = p->leaf_error().message();
      }
    } else if (e.kind == ItemKind::kJson) {
      it["json"] = e.json_value;
    }
    items[e.name] = std::move(it);
  }
  doc["items"] = std::move(items);
  return doc;
}

namespace {

std::string HumanBytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

// Last component of a handler typestr.
std::string ShortHandler(const Json& h) {
  if (!h.is_string()) return "";
  std::string s = h.get<std::string>();
  size_t dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(dot + 1);
}

}  // namespace

void PrintCheckpointText(const Checkpoint& ckpt, std::ostream& out) {
  out << fmt::format("{}: {}", ckpt.path, PathKindName(ckpt.kind));
  if (ckpt.step) out << fmt::format(", step {}", *ckpt.step);
  out << fmt::format(", {} item{}\n", ckpt.items.size(), ckpt.items.size() == 1 ? "" : "s");
  const Json& cm = ckpt.checkpoint_metadata;
  if (cm.is_object() && cm.contains("custom_metadata") && !cm["custom_metadata"].empty()) {
    out << "custom_metadata: " << DumpJson(cm["custom_metadata"]) << "\n";
  }
  if (ckpt.root_metadata.is_object() && ckpt.root_metadata.contains("custom_metadata") &&
      !ckpt.root_metadata["custom_metadata"].empty()) {
    out << "root custom_metadata: " << DumpJson(ckpt.root_metadata["custom_metadata"]) << "\n";
  }
  for (const ItemEntry& e : ckpt.items) {
    std::string label = e.name.empty() ? "(item)" : fmt::format("item {}", EscapeBytes(e.name));
    std::string handler = ShortHandler(e.handler);
    if (e.kind == ItemKind::kJson) {
      out << fmt::format("\n{}: json{}\n  {}\n", label, handler.empty() ? "" : ", " + handler,
                         SideJsonScalarText(e.json_value));
      continue;
    }
    if (e.kind == ItemKind::kOpaque) {
      out << fmt::format("\n{}: opaque{}\n", label, handler.empty() ? "" : ", " + handler);
      continue;
    }
    const PyTreeItem* p = e.pytree.get();
    if (!p) {
      out << fmt::format("\n{}: pytree, unreadable: {}\n", label, TextLine(e.error.message()));
      continue;
    }
    std::string fmt_desc = p->ocdbt() ? "OCDBT" : "per-leaf zarr";
    if (p->zarr_format()) fmt_desc += fmt::format(", zarr v{}", *p->zarr_format());
    out << fmt::format("\n{}: pytree, {}{}\n", label, fmt_desc, handler.empty() ? "" : ", " + handler);
    if (!p->custom_metadata().is_null()) out << "  custom_metadata: " << DumpJson(p->custom_metadata()) << "\n";
    if (!p->leaf_error().ok()) out << "  warning: " << TextLine(p->leaf_error().message()) << "\n";
    // Columns: name, value type, dtype+shape, chunks, compressor, stored bytes.
    std::vector<std::array<std::string, 6>> rows;
    for (const LeafRecord& r : p->leaves()) {
      std::array<std::string, 6> row;
      row[0] = r.name().empty() ? "(root)" : EscapeBytes(r.name());
      row[1] = r.value_type;
      if (r.dtype && r.shape) {
        row[2] = fmt::format("{}[{}]", Name(*r.dtype), fmt::join(*r.shape, ","));
      } else if (r.string_value) {
        row[2] = DumpJson(Json(*r.string_value));
      }
      if (r.chunk_shape) row[3] = fmt::format("chunks [{}]", fmt::join(*r.chunk_shape, ","));
      if (r.compressor) row[4] = *r.compressor;
      if (r.stored_bytes) row[5] = HumanBytes(*r.stored_bytes);
      rows.push_back(std::move(row));
    }
    std::array<size_t, 6> width{};
    for (const auto& row : rows) {
      for (size_t c = 0; c < 6; ++c) width[c] = std::max(width[c], row[c].size());
    }
    for (const auto& row : rows) {
      std::string line = "  ";
      for (size_t c = 0; c < 6; ++c) {
        if (c < 5) {
          line += fmt::format("{:<{}}  ", row[c], width[c]);
        } else {
          line += fmt::format("{:>{}}", row[c], width[c]);
        }
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << "\n";
    }
  }
}

}  // namespace ockpt::orbax
