// `<step>/_CHECKPOINT_METADATA`: the step metadata Orbax writes with Python's
// json.dumps:
//
//   {"item_handlers": {"state": "orbax...PyTreeCheckpointHandler", ...}  (or one string, or null),
//    "metrics": {}, "performance_metrics": {},
//    "init_timestamp_nsecs": 1778139888892258082,
//    "commit_timestamp_nsecs": 1778139890858878738,
//    "custom_metadata": {}}
//
// Any member may be missing; unknown members are kept (JsonFields).

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_CHECKPOINT_METADATA_FILE_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_CHECKPOINT_METADATA_FILE_H_

#include <optional>
#include <string>

#include "formats/orbax/format/json_fields.h"

namespace ockpt::orbax::format {

struct CheckpointMetadataFile {
  std::optional<Json> item_handlers;  // item name -> handler class (object), a class name (string) or null
  std::optional<Json> metrics;        // NaN / Infinity allowed, as Python writes them
  std::optional<Json> performance_metrics;
  std::optional<int64_t> init_timestamp_nsecs;
  std::optional<int64_t> commit_timestamp_nsecs;
  std::optional<Json> custom_metadata;
  JsonFields fields;
};

// kDataLoss naming `path` unless the text is a JSON object.
Result<CheckpointMetadataFile> DecodeCheckpointMetadataFile(ByteView text, std::string_view path);
std::string EncodeCheckpointMetadataFile(const CheckpointMetadataFile& file);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_CHECKPOINT_METADATA_FILE_H_
