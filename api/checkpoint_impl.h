// Checkpoint::Impl: what an opened ockpt::Checkpoint holds (shared by the
// files of api/ that implement its methods).

#ifndef OCKPT_API_CHECKPOINT_IMPL_H_
#define OCKPT_API_CHECKPOINT_IMPL_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/base/result.h"
#include "ockpt/ockpt.h"

namespace ockpt {

struct Checkpoint::Impl {
  orbax::Checkpoint ckpt;
  int threads = 0;
  // Parallel to leaves: where each leaf's values are.
  struct Entry {
    const orbax::PyTreeItem* item = nullptr;
    size_t index = 0;
    Shape shape;
    size_t element_size = 1;
  };
  std::vector<Leaf> leaves;
  std::vector<Entry> entries;
  std::map<std::string, size_t, std::less<>> by_name;

  Result<size_t> Find(std::string_view name) const {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return NotFoundError("no array leaf '{}' in {}", name, ckpt.path);
    }
    return it->second;
  }
};

}  // namespace ockpt

#endif  // OCKPT_API_CHECKPOINT_IMPL_H_
