// _METADATA Encode / Decode.

#include "formats/orbax/format/tree_metadata_file.h"

#include "lib/base/pyjson.h"

namespace ockpt::orbax::format {

Result<TreeMetadataFile> DecodeTreeMetadataFile(ByteView text, std::string_view path) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseFileJson(text, path));
  if (!j.is_object()) return DataLossError("{}: expected a JSON object", path);
  TreeMetadataFile f;
  SplitFields(&j, {"tree_metadata", "use_ocdbt", "use_zarr3", "store_array_data_equal_to_fill_value",
                   "custom_metadata", "value_metadata_tree"},
              &f.fields);
  auto tm = j.find("tree_metadata");
  if (tm == j.end() || !tm->is_object()) return DataLossError("{}: 'tree_metadata' missing or not an object", path);
  f.tree_metadata.reserve(tm->size());
  for (auto it = tm->begin(); it != tm->end(); ++it) {
    auto where = [&](std::string_view what) {
      return DataLossError("{}: tree_metadata[\"{}\"]: {}", path, it.key(), what);
    };
    Json& entry = it.value();
    if (!entry.is_object()) return where("expected an object");
    TreeMetadataFileEntry e;
    e.key = it.key();
    SplitFields(&entry, {"key_metadata", "value_metadata"}, &e.fields);
    auto km = entry.find("key_metadata");
    if (km == entry.end() || !km->is_array()) return where("key_metadata missing or not a list");
    for (Json& k : *km) {
      if (!k.is_object() || !k.contains("key")) return where("key_metadata entry lacks 'key'");
      KeyMetadata m;
      SplitFields(&k, {"key", "key_type"}, &m.fields);
      m.key = std::move(k["key"]);
      TakeField(&k, "key_type", &m.fields, IsJsonInt, [&](Json v) { m.key_type = v.get<int64_t>(); });
      e.key_metadata.push_back(std::move(m));
    }
    auto vm = entry.find("value_metadata");
    if (vm == entry.end() || !vm->is_object()) return where("value_metadata missing or not an object");
    ValueMetadata& v = e.value_metadata;
    SplitFields(&*vm, {"value_type", "skip_deserialize", "write_shape"}, &v.fields);
    TakeField(&*vm, "value_type", &v.fields, IsJsonString, [&](Json x) { v.value_type = x.get<std::string>(); });
    TakeField(&*vm, "skip_deserialize", &v.fields, IsJsonBool, [&](Json x) { v.skip_deserialize = x.get<bool>(); });
    TakeField(&*vm, "write_shape", &v.fields, IsJsonShape, [&](Json x) { v.write_shape = JsonToShape(x); });
    f.tree_metadata.push_back(std::move(e));
  }
  TakeField(&j, "use_ocdbt", &f.fields, IsJsonBool, [&](Json x) { f.use_ocdbt = x.get<bool>(); });
  TakeField(&j, "use_zarr3", &f.fields, IsJsonBool, [&](Json x) { f.use_zarr3 = x.get<bool>(); });
  TakeField(&j, "store_array_data_equal_to_fill_value", &f.fields, IsJsonBool,
            [&](Json x) { f.store_array_data_equal_to_fill_value = x.get<bool>(); });
  TakeField(&j, "custom_metadata", &f.fields, IsJsonAny, [&](Json x) { f.custom_metadata = std::move(x); });
  TakeField(&j, "value_metadata_tree", &f.fields, IsJsonAny, [&](Json x) { f.value_metadata_tree = std::move(x); });
  return f;
}

std::string EncodeTreeMetadataFile(const TreeMetadataFile& f) {
  Json tm = Json::object();
  for (const TreeMetadataFileEntry& e : f.tree_metadata) {
    Json km = Json::array();
    for (const KeyMetadata& k : e.key_metadata) {
      Json m = Json::object();
      m["key"] = k.key;
      if (k.key_type) m["key_type"] = *k.key_type;
      km.push_back(JoinFields(std::move(m), k.fields));
    }
    const ValueMetadata& v = e.value_metadata;
    Json vm = Json::object();
    if (v.value_type) vm["value_type"] = *v.value_type;
    if (v.skip_deserialize) vm["skip_deserialize"] = *v.skip_deserialize;
    if (v.write_shape) vm["write_shape"] = ShapeToJson(*v.write_shape);
    Json entry = Json::object();
    entry["key_metadata"] = std::move(km);
    entry["value_metadata"] = JoinFields(std::move(vm), v.fields);
    // Entries are appended, not looked up: a large tree stays linear.
    Json joined = JoinFields(std::move(entry), e.fields);
    tm.get_ref<Json::object_t&>().emplace_back(e.key, std::move(joined));
  }
  Json j = Json::object();
  j["tree_metadata"] = std::move(tm);
  if (f.use_ocdbt) j["use_ocdbt"] = *f.use_ocdbt;
  if (f.use_zarr3) j["use_zarr3"] = *f.use_zarr3;
  if (f.store_array_data_equal_to_fill_value) {
    j["store_array_data_equal_to_fill_value"] = *f.store_array_data_equal_to_fill_value;
  }
  if (f.custom_metadata) j["custom_metadata"] = *f.custom_metadata;
  if (f.value_metadata_tree) j["value_metadata_tree"] = *f.value_metadata_tree;
  return PyJsonDumps(JoinFields(std::move(j), f.fields));
}

}  // namespace ockpt::orbax::format
