// ParseJsonBounded on arbitrary text (issue 14): never a crash or a stack
// overflow; whatever parses is dumped by DumpJson, re-parsed and made
// output-safe (names that are not UTF-8) without throwing.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "lib/base/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  auto j = ParseJsonBounded(input, "fuzz");
  if (!j.ok()) return 0;
  std::string out = DumpJson(*j, 1);
  if (!ParseJsonBounded(out, "dump").ok()) std::abort();
  // The same bytes as a string value and as a key.
  nlohmann::ordered_json k;
  k[std::string(input)] = std::string(input);
  if (!ParseJsonBounded(DumpJson(k), "safe").ok()) std::abort();
  return 0;
}
