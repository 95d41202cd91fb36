// _CHECKPOINT_METADATA Encode / Decode.

#include "formats/orbax/format/checkpoint_metadata_file.h"

#include "lib/base/pyjson.h"

namespace ockpt::orbax::format {

Result<CheckpointMetadataFile> DecodeCheckpointMetadataFile(ByteView text, std::string_view path) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseFileJson(text, path));
  if (!j.is_object()) return DataLossError("{}: expected a JSON object", path);
  CheckpointMetadataFile f;
  SplitFields(&j, {"item_handlers", "metrics", "performance_metrics", "init_timestamp_nsecs",
                   "commit_timestamp_nsecs", "custom_metadata"},
              &f.fields);
  TakeField(&j, "item_handlers", &f.fields, IsJsonAny, [&](Json x) { f.item_handlers = std::move(x); });
  TakeField(&j, "metrics", &f.fields, IsJsonAny, [&](Json x) { f.metrics = std::move(x); });
  TakeField(&j, "performance_metrics", &f.fields, IsJsonAny, [&](Json x) { f.performance_metrics = std::move(x); });
  TakeField(&j, "init_timestamp_nsecs", &f.fields, IsJsonInt,
            [&](Json x) { f.init_timestamp_nsecs = x.get<int64_t>(); });
  TakeField(&j, "commit_timestamp_nsecs", &f.fields, IsJsonInt,
            [&](Json x) { f.commit_timestamp_nsecs = x.get<int64_t>(); });
  TakeField(&j, "custom_metadata", &f.fields, IsJsonAny, [&](Json x) { f.custom_metadata = std::move(x); });
  return f;
}

std::string EncodeCheckpointMetadataFile(const CheckpointMetadataFile& f) {
  Json j = Json::object();
  if (f.item_handlers) j["item_handlers"] = *f.item_handlers;
  if (f.metrics) j["metrics"] = *f.metrics;
  if (f.performance_metrics) j["performance_metrics"] = *f.performance_metrics;
  if (f.init_timestamp_nsecs) j["init_timestamp_nsecs"] = *f.init_timestamp_nsecs;
  if (f.commit_timestamp_nsecs) j["commit_timestamp_nsecs"] = *f.commit_timestamp_nsecs;
  if (f.custom_metadata) j["custom_metadata"] = *f.custom_metadata;
  return PyJsonDumps(JoinFields(std::move(j), f.fields));
}

}  // namespace ockpt::orbax::format
