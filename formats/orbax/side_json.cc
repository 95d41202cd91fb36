// Python-json side files: a thin layer over ParseJson for NaN / Infinity.

#include "formats/orbax/side_json.h"

#include <cmath>
#include <limits>
#include <string_view>

#include "formats/orbax/tree_metadata.h"
#include "lib/base/file.h"
#include "lib/base/pyjson.h"

namespace ockpt::orbax {

namespace {

// Non-finite tokens become these strings before ParseJson and doubles after.
// The \u0001 keeps them apart from any string a writer would produce.
constexpr std::string_view kMarkNaN = "\\u0001ockpt:NaN";
constexpr std::string_view kMarkInf = "\\u0001ockpt:Infinity";
constexpr std::string_view kMarkNegInf = "\\u0001ockpt:-Infinity";

// Replaces NaN / Infinity / -Infinity outside strings with marker strings;
// false when there were none.
bool MarkNonFinite(std::string_view text, std::string* out) {
  out->reserve(text.size() + 64);
  bool in_string = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      *out += c;
      if (c == '\\' && i + 1 < text.size()) {
        *out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    bool replaced = false;
    for (auto [token, mark] : {std::pair{std::string_view("-Infinity"), kMarkNegInf},
                               std::pair{std::string_view("Infinity"), kMarkInf},
                               std::pair{std::string_view("NaN"), kMarkNaN}}) {
      if (text.substr(i, token.size()) == token) {
        *out += '"';
        *out += mark;
        *out += '"';
        i += token.size() - 1;
        replaced = any = true;
        break;
      }
    }
    if (replaced) continue;
    if (c == '"') in_string = true;
    *out += c;
  }
  return any;
}

void UnmarkNonFinite(Json* j) {
  if (j->is_object() || j->is_array()) {
    for (Json& v : *j) UnmarkNonFinite(&v);
    return;
  }
  if (!j->is_string()) return;
  const std::string& s = j->get_ref<const std::string&>();
  if (s.size() < 7 || s[0] != '\x01' || s.compare(1, 6, "ockpt:") != 0) return;
  std::string_view what = std::string_view(s).substr(7);
  if (what == "NaN") {
    *j = std::numeric_limits<double>::quiet_NaN();
  } else if (what == "Infinity") {
    *j = std::numeric_limits<double>::infinity();
  } else if (what == "-Infinity") {
    *j = -std::numeric_limits<double>::infinity();
  }
}

}  // namespace

Result<Json> ParseSideJson(ByteView text) {
  auto j = ParseJson(text);
  if (j.ok()) return j;
  std::string marked;
  if (!MarkNonFinite(std::string_view(text.data(), text.size()), &marked)) return j;
  auto k = ParseJson(marked);
  if (!k.ok()) return j;  // the original error
  UnmarkNonFinite(&*k);
  return k;
}

Result<Json> ReadSideJson(const std::string& path, uint64_t max_bytes) {
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFileConfined(path, max_bytes));
  auto j = ParseSideJson(text);
  if (!j.ok()) return std::move(j).status().WithContext(path);
  return j;
}

std::string SideJsonScalarText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return PyFloatRepr(value.get<double>());
  if (value.is_object() || value.is_array()) return PyJsonDumps(value);
  return value.dump();
}

}  // namespace ockpt::orbax
