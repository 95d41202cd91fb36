// The one bounded JSON parser for text read from checkpoints and input files,
// and the one way JSON goes out (docs/design.md, "Hostile input").
//
// nlohmann's parser, copies, destructor and dump() recurse once per nesting
// level: 70,000 nested '[' overflow the stack. ParseJsonBounded first scans
// the text for its bracket depth (outside strings, with the same string
// lexing as the parser) and refuses anything deeper than the limit or larger
// than the size limit before nlohmann sees it. Errors are kDataLoss naming
// `what` (the file), never exceptions.
//
// Names (keys, paths) are bytes: DumpJson never throws on a string that is
// not valid UTF-8; MakeJsonOutputSafe rewrites such strings the way
// `ocdbt ls --json` does (member "X" -> "X_base64").

#ifndef OCKPT_LIB_BASE_JSON_H_
#define OCKPT_LIB_BASE_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lib/base/bytes.h"
#include "lib/base/result.h"

namespace ockpt {

struct JsonLimits {
  int max_depth = 256;                          // nested arrays/objects
  size_t max_bytes = size_t{1} << 30;           // the whole document
};

// Nesting depth of `text` (0 for a scalar); stops counting (and returns a
// value above `stop_at`) as soon as that is exceeded.
int JsonNestingDepth(ByteView text, int stop_at);

// Parses `text` (from the file or input named by `what`) within `limits`.
// Syntax errors, too deep or too large documents: kDataLoss naming `what`.
Result<nlohmann::ordered_json> ParseJsonBounded(ByteView text, std::string_view what,
                                                const JsonLimits& limits = {});
// Same, into sorted maps (large documents: ordered_json's inserts are linear).
Result<nlohmann::json> ParseJsonBoundedSorted(ByteView text, std::string_view what,
                                              const JsonLimits& limits = {});
// Checks only the limits (for callers that parse with a callback).
Status CheckJsonLimits(ByteView text, std::string_view what, const JsonLimits& limits = {});

// Rewrites every string in `value` that is not valid UTF-8: an object member
// "X" with such a value becomes "X_base64" (standard base64 of the bytes); such
// a string elsewhere (array element) becomes {"base64": "..."}; an object key
// that is not valid UTF-8 is replaced by its escaped text (EscapeBytes).
// Returns true when anything changed.
bool MakeJsonOutputSafe(nlohmann::ordered_json* value);
bool MakeJsonOutputSafe(nlohmann::json* value);

// value.dump(indent) after MakeJsonOutputSafe (on a copy, only when needed),
// with invalid UTF-8 replaced as a last line of defence; never throws.
std::string DumpJson(const nlohmann::ordered_json& value, int indent = -1);
std::string DumpJson(const nlohmann::json& value, int indent = -1);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_JSON_H_
