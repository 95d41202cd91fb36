// MemoryKvStore: a KvStore over a std::map, for tests and fuzz harnesses
// that feed arrays to the zarr reader without files.

#ifndef OCKPT_TESTS_SUPPORT_MEMORY_KVSTORE_H_
#define OCKPT_TESTS_SUPPORT_MEMORY_KVSTORE_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lib/kvstore/kvstore.h"

namespace ockpt::testing {

class MemoryKvStore final : public KvStore {
 public:
  Result<Bytes> Read(std::string_view key) const override {
    auto it = values.find(std::string(key));
    if (it == values.end()) return NotFoundError("no key '{}'", key);
    return it->second;
  }
  Result<std::vector<KeyInfo>> List(std::string_view prefix) const override {
    std::vector<KeyInfo> out;
    for (const auto& [k, v] : values) {
      if (k.compare(0, prefix.size(), prefix) == 0) out.push_back({k, v.size()});
    }
    return out;
  }
  std::string Describe() const override { return "memory"; }

  std::map<std::string, Bytes> values;
};

}  // namespace ockpt::testing

#endif  // OCKPT_TESTS_SUPPORT_MEMORY_KVSTORE_H_
