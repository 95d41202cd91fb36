// array_metadatas/process_N Encode / Decode.

#include "formats/orbax/format/array_metadatas_file.h"

#include "lib/base/pyjson.h"

namespace ockpt::orbax::format {

Result<ArrayMetadatasFile> DecodeArrayMetadatasFile(ByteView text, std::string_view path) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseFileJson(text, path));
  if (!j.is_object() || !j.contains("array_metadatas") || !j["array_metadatas"].is_array()) {
    return DataLossError("{}: expected {{\"array_metadatas\": [...]}}", path);
  }
  ArrayMetadatasFile f;
  SplitFields(&j, {"array_metadatas"}, &f.fields);
  size_t i = 0;
  for (Json& e : j["array_metadatas"]) {
    if (!e.is_object() || !e.contains("array_metadata") || !e["array_metadata"].is_object()) {
      return DataLossError("{}: array_metadatas[{}] is not {{\"array_metadata\": {{...}}}}", path, i);
    }
    ArrayMetadatasEntry entry;
    SplitFields(&e, {"array_metadata"}, &entry.fields);
    Json& am = e["array_metadata"];
    ArrayMetadata& m = entry.array_metadata;
    SplitFields(&am, {"param_name", "write_shape", "chunk_shape", "ext_metadata"}, &m.fields);
    TakeField(&am, "param_name", &m.fields, IsJsonString, [&](Json x) { m.param_name = x.get<std::string>(); });
    TakeField(&am, "write_shape", &m.fields, IsJsonShape, [&](Json x) { m.write_shape = JsonToShape(x); });
    TakeField(&am, "chunk_shape", &m.fields, IsJsonShape, [&](Json x) { m.chunk_shape = JsonToShape(x); });
    TakeField(&am, "ext_metadata", &m.fields, IsJsonAny, [&](Json x) { m.ext_metadata = std::move(x); });
    f.array_metadatas.push_back(std::move(entry));
    ++i;
  }
  return f;
}

std::string EncodeArrayMetadatasFile(const ArrayMetadatasFile& f) {
  Json list = Json::array();
  for (const ArrayMetadatasEntry& e : f.array_metadatas) {
    const ArrayMetadata& m = e.array_metadata;
    Json am = Json::object();
    if (m.param_name) am["param_name"] = *m.param_name;
    if (m.write_shape) am["write_shape"] = ShapeToJson(*m.write_shape);
    if (m.chunk_shape) am["chunk_shape"] = ShapeToJson(*m.chunk_shape);
    if (m.ext_metadata) am["ext_metadata"] = *m.ext_metadata;
    Json wrapped = Json::object();
    wrapped["array_metadata"] = JoinFields(std::move(am), m.fields);
    list.push_back(JoinFields(std::move(wrapped), e.fields));
  }
  Json j = Json::object();
  j["array_metadatas"] = std::move(list);
  return PyJsonDumps(JoinFields(std::move(j), f.fields));
}

}  // namespace ockpt::orbax::format
