// _ROOT_METADATA Encode / Decode.

#include "formats/orbax/format/root_metadata_file.h"

#include "lib/base/pyjson.h"

namespace ockpt::orbax::format {

Result<RootMetadataFile> DecodeRootMetadataFile(ByteView text, std::string_view path) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseFileJson(text, path));
  if (!j.is_object()) return DataLossError("{}: expected a JSON object", path);
  RootMetadataFile f;
  SplitFields(&j, {"internal_metadata", "custom_metadata"}, &f.fields);
  TakeField(&j, "internal_metadata", &f.fields, IsJsonAny, [&](Json x) { f.internal_metadata = std::move(x); });
  TakeField(&j, "custom_metadata", &f.fields, IsJsonAny, [&](Json x) { f.custom_metadata = std::move(x); });
  return f;
}

std::string EncodeRootMetadataFile(const RootMetadataFile& f) {
  Json j = Json::object();
  if (f.internal_metadata) j["internal_metadata"] = *f.internal_metadata;
  if (f.custom_metadata) j["custom_metadata"] = *f.custom_metadata;
  return PyJsonDumps(JoinFields(std::move(j), f.fields));
}

}  // namespace ockpt::orbax::format
