// `<step>/metrics/metrics`: the metrics JSON item a CheckpointManager saves,
// written by JsonCheckpointHandler with Python's json.dumps, e.g.
// {"loss": 0.5} (NaN / Infinity as Python writes them). Any JSON object.

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_METRICS_FILE_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_METRICS_FILE_H_

#include <string>

#include "formats/orbax/format/json_fields.h"

namespace ockpt::orbax::format {

struct MetricsFile {
  Json metrics = Json::object();  // name -> value, in file order
};

// kDataLoss naming `path` unless the text is a JSON object.
Result<MetricsFile> DecodeMetricsFile(ByteView text, std::string_view path);
std::string EncodeMetricsFile(const MetricsFile& file);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_METRICS_FILE_H_
