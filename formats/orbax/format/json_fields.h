// Shared by the Orbax file structs: the key order and the unmodelled members
// of a decoded JSON object, so that Decode then Encode loses nothing and
// keeps the file's member order (Orbax writes with Python's json.dumps, in
// insertion order).

#ifndef OCKPT_FORMATS_ORBAX_FORMAT_JSON_FIELDS_H_
#define OCKPT_FORMATS_ORBAX_FORMAT_JSON_FIELDS_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/bytes.h"
#include "lib/base/result.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax::format {

struct JsonFields {
  std::vector<std::string> order;  // member names in file order; empty: the writer's default order
  Json unknown = Json::object();   // members the struct does not model (or of an unexpected type)
};

// Records obj's key order in fields->order and moves every member whose name
// is not in `known` into fields->unknown. The modelled members stay in obj.
void SplitFields(Json* obj, std::initializer_list<std::string_view> known, JsonFields* fields);

// The object to write: the members of `known` (the modelled members that are
// present, in the default order) and of fields.unknown, in fields.order,
// then any member not named there (known ones first).
Json JoinFields(Json known, const JsonFields& fields);

// Parses a file's text (Python's NaN / Infinity allowed); kDataLoss naming
// `path` when it is not JSON within the limits.
Result<Json> ParseFileJson(ByteView text, std::string_view path);

// A JSON list of integers as a Shape; nullopt when it is not one.
std::optional<Shape> JsonToShape(const Json& j);

// Moves (*obj)[name] into a struct field through `take` when `accept` says
// it has the expected type; otherwise the member goes to fields->unknown and
// round-trips unchanged.
template <typename Accept, typename Take>
void TakeField(Json* obj, const char* name, JsonFields* fields, Accept accept, Take take) {
  auto it = obj->find(name);
  if (it == obj->end()) return;
  if (accept(it.value())) {
    take(std::move(it.value()));
  } else {
    fields->unknown[name] = std::move(it.value());
  }
}

inline bool IsJsonBool(const Json& j) { return j.is_boolean(); }
inline bool IsJsonInt(const Json& j) { return j.is_number_integer(); }
inline bool IsJsonString(const Json& j) { return j.is_string(); }
inline bool IsJsonShape(const Json& j) { return JsonToShape(j).has_value(); }
inline bool IsJsonAny(const Json&) { return true; }

// A Shape as a JSON list.
Json ShapeToJson(const Shape& s);

}  // namespace ockpt::orbax::format

#endif  // OCKPT_FORMATS_ORBAX_FORMAT_JSON_FIELDS_H_
