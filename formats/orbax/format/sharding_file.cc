// _sharding Encode / Decode.

#include "formats/orbax/format/sharding_file.h"

#include "lib/base/base64.h"
#include "lib/base/json.h"

namespace ockpt::orbax::format {

Result<ShardingFile> DecodeShardingFile(ByteView text, std::string_view path) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseFileJson(text, path));
  if (!j.is_object()) return DataLossError("{}: expected a JSON object", path);
  ShardingFile f;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) return DataLossError("{}: entry \"{}\" is not a string", path, it.key());
    f.entries[it.key()] = it.value().get<std::string>();
  }
  return f;
}

std::string EncodeShardingFile(const ShardingFile& f) {
  nlohmann::json j = nlohmann::json::object();  // sorted keys
  for (const auto& [k, v] : f.entries) j[k] = v;
  return DumpJson(j);
}

std::string ShardingKey(std::string_view param_name) { return Base64Encode(param_name, /*url_safe=*/true); }

Result<Json> ParseShardingEntry(const std::string& key, const std::string& value, std::string_view path) {
  auto inner = ParseJsonBounded(value, "");
  if (!inner.ok() || !inner->is_object()) {
    return DataLossError("{}: entry \"{}\" does not hold a JSON object", path, key);
  }
  return inner;
}

}  // namespace ockpt::orbax::format
