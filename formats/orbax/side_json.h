// The one reader of Orbax's JSON side files: _CHECKPOINT_METADATA,
// _ROOT_METADATA, metrics/metrics and JSON items. Python's json.dumps writes
// NaN, Infinity and -Infinity for non-finite floats (a NaN loss is common);
// they are read as the corresponding doubles. Everything else is ParseJson.

#ifndef OCKPT_FORMATS_ORBAX_SIDE_JSON_H_
#define OCKPT_FORMATS_ORBAX_SIDE_JSON_H_

#include <cstdint>
#include <string>

#include "lib/base/bytes.h"
#include "lib/base/result.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax {

// Parses JSON text as Python's json module writes it (NaN / Infinity /
// -Infinity allowed outside strings). kDataLoss when it is not JSON.
Result<Json> ParseSideJson(ByteView text);

// Reads and parses a side file (at most max_bytes); errors name the path.
Result<Json> ReadSideJson(const std::string& path, uint64_t max_bytes = uint64_t{1} << 28);

// A scalar as Python's json writes it: 0.5, true, "text" unquoted, NaN,
// Infinity, -Infinity (for tables; objects and arrays as JSON).
std::string SideJsonScalarText(const Json& value);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_SIDE_JSON_H_
