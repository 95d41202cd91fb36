// Header-only checks shared by the file formats (no target of its own).

#ifndef OCKPT_FORMATS_COMMON_TREE_CHECK_H_
#define OCKPT_FORMATS_COMMON_TREE_CHECK_H_

#include <string>
#include <string_view>
#include <vector>

#include "lib/checkpoint/tree.h"

namespace ockpt::formats {

// REQUIRES: leaves sorted by SortLeaves. Fails (kDataLoss, naming `where`)
// when two leaves have the same key path or one leaf's key path is a prefix
// of another's (a value that is also a node), which no PyTree can hold.
inline Status CheckTreeShape(const std::vector<LeafRecord>& leaves, std::string_view where) {
  for (size_t i = 0; i + 1 < leaves.size(); ++i) {
    const KeyPath& a = leaves[i].keypath;
    const KeyPath& b = leaves[i + 1].keypath;
    if (a.size() > b.size()) continue;
    bool prefix = true;
    for (size_t k = 0; k < a.size() && prefix; ++k) prefix = a[k].key == b[k].key;
    if (!prefix) continue;
    if (a.size() == b.size()) {
      return DataLossError("{}: two leaves have the key path '{}'", where, leaves[i].name());
    }
    return DataLossError("{}: '{}' is both a leaf and the parent of '{}'", where, leaves[i].name(),
                         leaves[i + 1].name());
  }
  return Status::Ok();
}

// Whether a key can be one component of a file or member path: not empty,
// not "." or "..", no '/' and no NUL.
inline bool IsPlainComponent(std::string_view k) {
  return !k.empty() && k != "." && k != ".." && k.find('/') == std::string_view::npos &&
         k.find('\0') == std::string_view::npos;
}

}  // namespace ockpt::formats

#endif  // OCKPT_FORMATS_COMMON_TREE_CHECK_H_
