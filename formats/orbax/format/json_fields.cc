// Key order / unknown members of the Orbax file structs.

#include "formats/orbax/format/json_fields.h"

#include <algorithm>

#include "formats/orbax/side_json.h"

namespace ockpt::orbax::format {

void SplitFields(Json* obj, std::initializer_list<std::string_view> known, JsonFields* fields) {
  fields->order.clear();
  fields->unknown = Json::object();
  Json kept = Json::object();
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    fields->order.push_back(it.key());
    bool is_known = std::find(known.begin(), known.end(), it.key()) != known.end();
    (is_known ? kept : fields->unknown)[it.key()] = std::move(it.value());
  }
  *obj = std::move(kept);
}

Json JoinFields(Json known, const JsonFields& fields) {
  Json out = Json::object();
  for (const std::string& k : fields.order) {
    if (out.contains(k)) continue;
    if (auto it = known.find(k); it != known.end()) {
      out[k] = std::move(it.value());
      known.erase(it);
    } else if (auto u = fields.unknown.find(k); u != fields.unknown.end()) {
      out[k] = u.value();
    }
  }
  for (auto it = known.begin(); it != known.end(); ++it) {
    if (!out.contains(it.key())) out[it.key()] = std::move(it.value());
  }
  for (auto it = fields.unknown.begin(); it != fields.unknown.end(); ++it) {
    if (!out.contains(it.key())) out[it.key()] = it.value();
  }
  return out;
}

Result<Json> ParseFileJson(ByteView text, std::string_view path) {
  auto j = ParseSideJson(text);
  if (!j.ok()) return DataLossError("{}: {}", path, j.status().message());
  return j;
}

std::optional<Shape> JsonToShape(const Json& j) {
  if (!j.is_array()) return std::nullopt;
  Shape s;
  for (const Json& d : j) {
    if (!d.is_number_integer()) return std::nullopt;
    s.push_back(d.get<int64_t>());
  }
  return s;
}

Json ShapeToJson(const Shape& s) {
  Json a = Json::array();
  for (int64_t d : s) a.push_back(d);
  return a;
}

}  // namespace ockpt::orbax::format
