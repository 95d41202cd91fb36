// ockpt_leaves PATH [--step N] [--item NAME] [LEAF]
//
// Opens a checkpoint (an item, a checkpoint directory or a manager root),
// prints the step when there is one, then one line per array leaf:
//   <sha256 of the decoded value>  <name> <dtype> [shape] <bytes>
// With LEAF, only that leaf. Exit 1 with the error on stderr on failure.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <ockpt/ockpt.h>

#include "sha256.h"

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, only;
  ockpt::OpenOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--step" && i + 1 < argc) {
      options.step = std::atoll(argv[++i]);
    } else if (a == "--item" && i + 1 < argc) {
      options.item = argv[++i];
    } else if (path.empty()) {
      path = a;
    } else {
      only = a;
    }
  }
  if (path.empty()) {
    std::cerr << "usage: ockpt_leaves PATH [--step N] [--item NAME] [LEAF]\n";
    return 2;
  }
  ockpt::Result<ockpt::Checkpoint> ckpt = ockpt::Checkpoint::Open(path, options);
  if (!ckpt.ok()) {
    std::cerr << "ockpt_leaves: " << ckpt.status().ToString() << "\n";
    return 1;
  }
  if (ckpt->step()) std::cout << "step " << *ckpt->step() << "\n";
  for (const ockpt::Leaf& leaf : ckpt->leaves()) {
    if (!only.empty() && leaf.name != only) continue;
    std::vector<std::byte> value(leaf.nbytes);
    ockpt::Status s = ckpt->Read(leaf.name, value);
    if (!s.ok()) {
      std::cerr << "ockpt_leaves: " << s.ToString() << "\n";
      return 1;
    }
    std::cout << Sha256Hex(value) << "  " << leaf.name << " " << leaf.dtype << " "
              << ShapeText(leaf.shape) << " " << leaf.nbytes << "\n";
  }
  return 0;
}
