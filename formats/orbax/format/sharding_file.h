// `<item>/_sharding`: written by TensorStore's json kvstore driver, so with
// sorted keys and compact separators (nlohmann dump):
//
//   {"YQ==":"{\"sharding_type\": \"SingleDeviceSharding\", \"device_str\": \"cpu:0\"}",...}
//
// Keys are the URL-safe base64 of the dotted param name; each value is the
// JSON text (Python json.dumps) of the array's sharding object, kept as text.

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_SHARDING_FILE_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_SHARDING_FILE_H_

#include <map>
#include <string>

#include "formats/orbax/format/json_fields.h"

namespace ockpt::orbax::format {

struct ShardingFile {
  std::map<std::string, std::string> entries;  // base64url(param name) -> sharding JSON text; sorted
};

// kDataLoss naming `path` unless the text is a JSON object of strings (the
// strings themselves are not parsed: see ParseShardingEntry).
Result<ShardingFile> DecodeShardingFile(ByteView text, std::string_view path);
std::string EncodeShardingFile(const ShardingFile& file);

// The entry key of a param name (URL-safe base64 of the dotted name).
std::string ShardingKey(std::string_view param_name);
// One entry's sharding object; kDataLoss naming `path` and the key when it
// is not a JSON object.
Result<Json> ParseShardingEntry(const std::string& key, const std::string& value, std::string_view path);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_SHARDING_FILE_H_
