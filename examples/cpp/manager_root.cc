// ockpt_manager_root ROOT [STEP]
//
// Opens a CheckpointManager root: the latest committed step, or STEP. Prints
// the step and each leaf, and the first row of every leaf of rank >= 1
// (Checkpoint::ReadSlice: only the chunks holding that row are read) as
// bytes in hex.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <ockpt/ockpt.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: ockpt_manager_root ROOT [STEP]\n";
    return 2;
  }
  ockpt::OpenOptions options;
  if (argc > 2) options.step = std::atoll(argv[2]);
  auto ckpt = ockpt::Checkpoint::Open(argv[1], options);
  if (!ckpt.ok()) {
    std::cerr << "ockpt_manager_root: " << ckpt.status().ToString() << "\n";
    return ckpt.status().code() == ockpt::StatusCode::kNotFound ? 3 : 1;
  }
  std::cout << "step " << (ckpt->step() ? std::to_string(*ckpt->step()) : "none") << "\n";
  for (const ockpt::Leaf& leaf : ckpt->leaves()) {
    std::cout << leaf.name << " " << leaf.dtype << " " << leaf.nbytes << " bytes";
    if (!leaf.shape.empty() && leaf.shape[0] > 0) {
      // The box [0, 1) x [0, n1) x ...: the first row.
      std::vector<int64_t> start(leaf.shape.size(), 0), box = leaf.shape;
      box[0] = 1;
      std::vector<std::byte> row(leaf.nbytes / leaf.shape[0]);
      ockpt::Status s = ckpt->ReadSlice(leaf.name, start, box, row);
      if (!s.ok()) {
        std::cerr << "\nockpt_manager_root: " << s.ToString() << "\n";
        return 1;
      }
      std::cout << ", first row:";
      for (std::byte b : row) std::printf(" %02x", static_cast<unsigned>(b));
      std::fflush(stdout);
    }
    std::cout << "\n";
  }
  return 0;
}
