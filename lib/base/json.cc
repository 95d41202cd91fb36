// Bounded JSON parsing and safe JSON output.

#include "lib/base/json.h"

#include <exception>
#include <utility>

#include "lib/base/base64.h"
#include "lib/base/utf8.h"

namespace ockpt {

namespace {

std::string Prefix(std::string_view what) {
  return what.empty() ? std::string() : std::string(what) + ": ";
}

}  // namespace

int JsonNestingDepth(ByteView text, int stop_at) {
  // The same string lexing as nlohmann's: '"' opens and closes a string,
  // '\\' escapes the next character. Brackets inside strings do not count.
  // On malformed text the parser stops no later than this scan goes wrong,
  // so the depth it reaches never exceeds the one counted here.
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  const char* p = text.data();
  const char* end = p + text.size();
  for (; p < end; ++p) {
    char c = *p;
    if (in_string) {
      if (c == '\\') {
        ++p;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          max_depth = depth;
          if (max_depth > stop_at) return max_depth;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return max_depth;
}

Status CheckJsonLimits(ByteView text, std::string_view what, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return DataLossError("{}JSON document of {} bytes is over the limit of {} bytes", Prefix(what),
                         text.size(), limits.max_bytes);
  }
  if (JsonNestingDepth(text, limits.max_depth) > limits.max_depth) {
    return DataLossError("{}JSON nested deeper than {} levels", Prefix(what), limits.max_depth);
  }
  return Status();
}

namespace {

template <typename J>
Result<J> Parse(ByteView text, std::string_view what, const JsonLimits& limits) {
  OCKPT_RETURN_IF_ERROR(CheckJsonLimits(text, what, limits));
  try {
    J j = J::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return DataLossError("{}not valid JSON", Prefix(what));
    return j;
  } catch (const std::exception& e) {
    return DataLossError("{}not valid JSON: {}", Prefix(what), e.what());
  }
}

template <typename J>
bool MakeSafe(J* value) {
  bool changed = false;
  if (value->is_string()) {
    const std::string& s = value->template get_ref<const std::string&>();
    if (!IsValidUtf8(s)) {
      J obj = J::object();
      obj["base64"] = Base64Encode(s);
      *value = std::move(obj);
      changed = true;
    }
  } else if (value->is_array()) {
    for (J& element : *value) changed |= MakeSafe(&element);
  } else if (value->is_object()) {
    bool needs_rebuild = false;
    for (auto it = value->begin(); it != value->end(); ++it) {
      if (!IsValidUtf8(it.key()) ||
          (it.value().is_string() && !IsValidUtf8(it.value().template get_ref<const std::string&>()))) {
        needs_rebuild = true;
      } else {
        changed |= MakeSafe(&it.value());
      }
    }
    if (needs_rebuild) {
      J rebuilt = J::object();
      for (auto it = value->begin(); it != value->end(); ++it) {
        std::string key = IsValidUtf8(it.key()) ? it.key() : EscapeBytes(it.key());
        J member = std::move(it.value());
        if (member.is_string() && !IsValidUtf8(member.template get_ref<const std::string&>())) {
          rebuilt[key + "_base64"] = Base64Encode(member.template get_ref<const std::string&>());
        } else {
          MakeSafe(&member);
          rebuilt[key] = std::move(member);
        }
      }
      *value = std::move(rebuilt);
      changed = true;
    }
  }
  return changed;
}

template <typename J>
bool AllUtf8(const J& value) {
  if (value.is_string()) return IsValidUtf8(value.template get_ref<const std::string&>());
  if (value.is_array()) {
    for (const J& element : value) {
      if (!AllUtf8(element)) return false;
    }
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!IsValidUtf8(it.key()) || !AllUtf8(it.value())) return false;
    }
  }
  return true;
}

template <typename J>
std::string Dump(const J& value, int indent) {
  try {
    if (AllUtf8(value)) return value.dump(indent, ' ', false, J::error_handler_t::replace);
    J copy = value;
    MakeSafe(&copy);
    return copy.dump(indent, ' ', false, J::error_handler_t::replace);
  } catch (const std::exception& e) {
    // Nothing above throws on a value within the parse limits; keep the
    // document well-formed if something does.
    return "null";
  }
}

}  // namespace

Result<nlohmann::ordered_json> ParseJsonBounded(ByteView text, std::string_view what,
                                                const JsonLimits& limits) {
  return Parse<nlohmann::ordered_json>(text, what, limits);
}

Result<nlohmann::json> ParseJsonBoundedSorted(ByteView text, std::string_view what,
                                              const JsonLimits& limits) {
  return Parse<nlohmann::json>(text, what, limits);
}

bool MakeJsonOutputSafe(nlohmann::ordered_json* value) { return MakeSafe(value); }
bool MakeJsonOutputSafe(nlohmann::json* value) { return MakeSafe(value); }

std::string DumpJson(const nlohmann::ordered_json& value, int indent) { return Dump(value, indent); }
std::string DumpJson(const nlohmann::json& value, int indent) { return Dump(value, indent); }

}  // namespace ockpt
