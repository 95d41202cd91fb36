// _METADATA decoding.

#include "formats/orbax/tree_metadata.h"

#include <exception>

#include "lib/base/json.h"

namespace ockpt::orbax {

Result<Json> ParseJson(ByteView text) { return ParseJsonBounded(text, ""); }

Result<TreeMetadata> DecodeTreeMetadata(ByteView text) {
  // The tree part can hold hundreds of thousands of entries: parse it into
  // sorted maps (ordered_json's linear-time inserts would be quadratic).
  // Only custom_metadata needs its key order, for byte-identical re-saves.
  OCKPT_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonBoundedSorted(text, ""));
  if (!j.is_object()) return DataLossError("expected a JSON object");
  TreeMetadata tm;
  if (!j.contains("tree_metadata") || !j["tree_metadata"].is_object()) {
    return DataLossError("'tree_metadata' missing or not an object");
  }
  tm.entries.reserve(j["tree_metadata"].size());
  for (const auto& [entry_key, entry] : j["tree_metadata"].items()) {
    // Init-capture: clang before 16 cannot capture a structured binding.
    auto where = [&key = entry_key](std::string_view what) {
      return DataLossError("tree_metadata[\"{}\"]: {}", key, what);
    };
    if (!entry.is_object()) return where("expected an object");
    TreeMetadataEntry e;
    const nlohmann::json* km = entry.contains("key_metadata") ? &entry["key_metadata"] : nullptr;
    if (km == nullptr || !km->is_array()) return where("key_metadata missing or not a list");
    for (const nlohmann::json& k : *km) {
      if (!k.is_object() || !k.contains("key")) return where("key_metadata entry lacks 'key'");
      PathKey pk;
      const nlohmann::json& key = k["key"];
      if (key.is_string()) {
        pk.key = key.get<std::string>();
      } else if (key.is_number_integer()) {
        pk.key = std::to_string(key.get<int64_t>());
      } else {
        return where("key must be a string");
      }
      int type = 2;
      if (k.contains("key_type") && k["key_type"].is_number_integer()) {
        type = k["key_type"].get<int>();
      }
      pk.type = type == 1 ? KeyType::kSequence : KeyType::kDict;
      e.keypath.push_back(std::move(pk));
    }
    if (entry.contains("value_metadata") && entry["value_metadata"].is_object()) {
      const nlohmann::json& vm = entry["value_metadata"];
      if (vm.contains("value_type") && vm["value_type"].is_string()) {
        e.value_type = vm["value_type"].get<std::string>();
      }
      if (vm.contains("skip_deserialize") && vm["skip_deserialize"].is_boolean()) {
        e.skip_deserialize = vm["skip_deserialize"].get<bool>();
      }
      if (vm.contains("write_shape") && vm["write_shape"].is_array()) {
        Shape s;
        for (const nlohmann::json& d : vm["write_shape"]) {
          if (!d.is_number_integer()) return where("write_shape must hold integers");
          s.push_back(d.get<int64_t>());
        }
        e.write_shape = std::move(s);
      }
    } else {
      return where("value_metadata missing or not an object");
    }
    if (e.value_type.empty()) e.value_type = "Unknown";
    tm.entries.push_back(std::move(e));
  }
  if (j.contains("use_ocdbt") && j["use_ocdbt"].is_boolean()) tm.use_ocdbt = j["use_ocdbt"].get<bool>();
  if (j.contains("use_zarr3") && j["use_zarr3"].is_boolean()) tm.use_zarr3 = j["use_zarr3"].get<bool>();
  if (j.contains("store_array_data_equal_to_fill_value") &&
      j["store_array_data_equal_to_fill_value"].is_boolean()) {
    tm.store_array_data_equal_to_fill_value = j["store_array_data_equal_to_fill_value"].get<bool>();
  }
  for (const auto& [name, value] : j.items()) {
    if (name != "tree_metadata" && name != "use_ocdbt" && name != "use_zarr3" &&
        name != "store_array_data_equal_to_fill_value" && name != "custom_metadata") {
      tm.extras[name] = Json(value);
    }
  }
  if (j.contains("custom_metadata")) {
    // Parse again, keeping key order, skipping everything but custom_metadata.
    // Within the limits: ParseJsonBoundedSorted checked them on this text.
    Json ordered;
    try {
      ordered = Json::parse(
          text.begin(), text.end(),
          [](int depth, Json::parse_event_t event, Json& parsed) {
            if (depth == 1 && event == Json::parse_event_t::key) return parsed == "custom_metadata";
            return true;
          },
          /*allow_exceptions=*/false);
    } catch (const std::exception& e) {
      return DataLossError("custom_metadata: {}", e.what());
    }
    if (ordered.is_object() && ordered.contains("custom_metadata")) tm.custom_metadata = ordered["custom_metadata"];
  }
  return tm;
}

}  // namespace ockpt::orbax
