// LeafRecord JSON form and ordering.

#include "lib/checkpoint/tree.h"

#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lib/base/base64.h"

namespace ockpt {

std::string DottedName(const KeyPath& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (i) out.push_back('.');
    out += path[i].key;
  }
  return out;
}

bool MatchesGlob(const std::string& glob, const std::string& name) {
  return ::fnmatch(glob.c_str(), name.c_str(), 0) == 0;
}

bool IsEmptyNodeType(std::string_view t) {
  return t == "Dict" || t == "List" || t == "Tuple" || t == "None" || t == "NamedTuple";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

namespace {

Json OptShape(const std::optional<Shape>& s) { return s ? Json(*s) : Json(nullptr); }

Result<std::optional<Shape>> ShapeFromJson(const Json& j, std::string_view field) {
  if (!j.contains(field) || j[field].is_null()) return std::optional<Shape>();
  const Json& v = j[field];
  if (!v.is_array()) return InvalidArgumentError("'{}' must be a list of integers", field);
  Shape s;
  for (const Json& d : v) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return InvalidArgumentError("'{}' must be a list of non-negative integers", field);
    }
    s.push_back(d.get<int64_t>());
  }
  return std::optional<Shape>(std::move(s));
}

}  // namespace

Json LeafRecord::ToJson() const {
  Json kp = Json::array();
  for (const PathKey& k : keypath) {
    kp.push_back({{"key", k.key}, {"type", k.type == KeyType::kDict ? "dict" : "sequence"}});
  }
  Json j;
  j["keypath"] = std::move(kp);
  j["name"] = name();
  j["value_type"] = value_type;
  j["dtype"] = dtype ? Json(std::string(Name(*dtype))) : Json(nullptr);
  j["shape"] = OptShape(shape);
  j["chunk_shape"] = OptShape(chunk_shape);
  j["write_shape"] = OptShape(write_shape);
  j["compressor"] = compressor ? Json(*compressor) : Json(nullptr);
  j["sharding"] = sharding;
  j["stored_bytes"] = stored_bytes ? Json(*stored_bytes) : Json(nullptr);
  if (string_value) j["value"] = *string_value;
  if (!ext_metadata.is_null()) j["ext_metadata"] = ext_metadata;
  if (global_shape) j["global_shape"] = *global_shape;
  if (index) {
    Json idx = Json::array();
    for (const auto& [start, stop] : *index) idx.push_back({start, stop});
    j["index"] = std::move(idx);
  }
  return j;
}

Result<LeafRecord> LeafRecord::FromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgumentError("leaf record must be an object");
  LeafRecord r;
  if (!j.contains("keypath") || !j["keypath"].is_array()) {
    return InvalidArgumentError("leaf record needs a 'keypath' list");
  }
  for (const Json& k : j["keypath"]) {
    // A key that is not UTF-8 comes as "key_base64" (DumpJson's form, as
    // restore writes it into _tree.json).
    std::string key;
    if (k.is_object() && k.contains("key_base64") && k["key_base64"].is_string()) {
      auto bytes = Base64Decode(k["key_base64"].get<std::string>());
      if (!bytes.ok()) return InvalidArgumentError("keypath entry: key_base64 is not base64");
      key = std::move(bytes).value();
    } else if (!k.is_object() || !k.contains("key") || !k["key"].is_string()) {
      return InvalidArgumentError("keypath entries must be {{\"key\": str, \"type\": ...}}");
    } else {
      key = k["key"].get<std::string>();
    }
    PathKey pk{std::move(key), KeyType::kDict};
    if (k.contains("type")) {
      const Json& t = k["type"];
      if (t == "sequence" || t == 1) {
        pk.type = KeyType::kSequence;
      } else if (!(t == "dict" || t == 2)) {
        return InvalidArgumentError("keypath type must be \"dict\" or \"sequence\"");
      }
    }
    r.keypath.push_back(std::move(pk));
  }
  if (j.contains("value_type") && j["value_type"].is_string()) {
    r.value_type = j["value_type"].get<std::string>();
  }
  if (j.contains("dtype") && j["dtype"].is_string()) {
    OCKPT_ASSIGN_OR_RETURN(r.dtype, DTypeFromName(j["dtype"].get<std::string>()));
  }
  OCKPT_ASSIGN_OR_RETURN(r.shape, ShapeFromJson(j, "shape"));
  OCKPT_ASSIGN_OR_RETURN(r.chunk_shape, ShapeFromJson(j, "chunk_shape"));
  OCKPT_ASSIGN_OR_RETURN(r.write_shape, ShapeFromJson(j, "write_shape"));
  if (j.contains("compressor") && j["compressor"].is_string()) {
    r.compressor = j["compressor"].get<std::string>();
  }
  if (j.contains("sharding")) r.sharding = j["sharding"];
  if (j.contains("ext_metadata")) r.ext_metadata = j["ext_metadata"];
  if (j.contains("stored_bytes") && j["stored_bytes"].is_number_unsigned()) {
    r.stored_bytes = j["stored_bytes"].get<uint64_t>();
  }
  if (j.contains("value") && j["value"].is_string()) r.string_value = j["value"].get<std::string>();
  OCKPT_ASSIGN_OR_RETURN(r.global_shape, ShapeFromJson(j, "global_shape"));
  if (j.contains("index") && !j["index"].is_null()) {
    const Json& idx = j["index"];
    std::vector<std::pair<int64_t, int64_t>> ranges;
    bool ok = idx.is_array();
    for (size_t k = 0; ok && k < idx.size(); ++k) {
      const Json& e = idx[k];
      ok = e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_number_integer() &&
           e[0].get<int64_t>() >= 0 && e[1].get<int64_t>() >= e[0].get<int64_t>();
      if (ok) ranges.emplace_back(e[0].get<int64_t>(), e[1].get<int64_t>());
    }
    if (!ok) return InvalidArgumentError("'index' must be a list of [start, stop] pairs");
    r.index = std::move(ranges);
  }
  return r;
}

void SortLeaves(std::vector<LeafRecord>* leaves) {
  std::stable_sort(leaves->begin(), leaves->end(), [](const LeafRecord& a, const LeafRecord& b) {
    size_t n = std::min(a.keypath.size(), b.keypath.size());
    for (size_t i = 0; i < n; ++i) {
      const PathKey& ka = a.keypath[i];
      const PathKey& kb = b.keypath[i];
      // Sequence indices in numeric order ("2" before "10"), as JAX flattens.
      auto numeric = [](const std::string& k) {
        return !k.empty() && k.find_first_not_of("0123456789") == std::string::npos;
      };
      if (ka.type == KeyType::kSequence && kb.type == KeyType::kSequence && numeric(ka.key) &&
          numeric(kb.key) && ka.key.size() != kb.key.size()) {
        return ka.key.size() < kb.key.size();
      }
      int c = ka.key.compare(kb.key);
      if (c != 0) return c < 0;
    }
    return a.keypath.size() < b.keypath.size();
  });
}

}  // namespace ockpt
