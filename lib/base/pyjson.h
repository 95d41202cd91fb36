// JSON text exactly as Python's json.dumps(obj) writes it with default
// arguments: separators ", " and ": ", ensure_ascii (non-ASCII as \uXXXX,
// surrogate pairs above the BMP), floats as repr() ("1.0", "1e-05",
// "NaN", "Infinity"), object keys in insertion order. Orbax writes
// _METADATA, _CHECKPOINT_METADATA and array_metadatas this way.
// Also Python's repr() of a str, used in _METADATA entry keys.

#ifndef OCKPT_LIB_BASE_PYJSON_H_
#define OCKPT_LIB_BASE_PYJSON_H_

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ockpt {

std::string PyJsonDumps(const nlohmann::ordered_json& value);
// repr(s) for a Python str: 'abc', "it's", '\n' escapes.
std::string PyRepr(std::string_view utf8);
// repr of a float: shortest round-trip digits, ".0" for integral values.
std::string PyFloatRepr(double v);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_PYJSON_H_
