// metrics/metrics Encode / Decode.

#include "formats/orbax/format/metrics_file.h"

#include "lib/base/pyjson.h"

namespace ockpt::orbax::format {

Result<MetricsFile> DecodeMetricsFile(ByteView text, std::string_view path) {
  OCKPT_ASSIGN_OR_RETURN(Json j, ParseFileJson(text, path));
  if (!j.is_object()) return DataLossError("{}: expected a JSON object", path);
  MetricsFile f;
  f.metrics = std::move(j);
  return f;
}

std::string EncodeMetricsFile(const MetricsFile& f) { return PyJsonDumps(f.metrics); }

}  // namespace ockpt::orbax::format
