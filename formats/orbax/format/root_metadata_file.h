// `<root>/metadata/_ROOT_METADATA`: a CheckpointManager root's metadata,
// written with Python's json.dumps:
//
//   {"internal_metadata": {}, "custom_metadata": {"foo": "bar"}}
//
// Unknown members are kept (JsonFields).

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_ROOT_METADATA_FILE_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_ROOT_METADATA_FILE_H_

#include <optional>
#include <string>

#include "formats/orbax/format/json_fields.h"

namespace ockpt::orbax::format {

struct RootMetadataFile {
  std::optional<Json> internal_metadata;
  std::optional<Json> custom_metadata;
  JsonFields fields;
};

// kDataLoss naming `path` unless the text is a JSON object.
Result<RootMetadataFile> DecodeRootMetadataFile(ByteView text, std::string_view path);
std::string EncodeRootMetadataFile(const RootMetadataFile& file);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_ROOT_METADATA_FILE_H_
