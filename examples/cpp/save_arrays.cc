// ockpt_save_arrays DEST [--zarr3] [--no-ocdbt] [--step N]
//
// Saves three arrays built in memory as an Orbax checkpoint at DEST (with
// --step, as step N of the manager root DEST):
//   params.w  float32 [2, 3]  = 0.5 * arange(6)
//   params.b  bfloat16 [3]    = 1, 2, 3
//   step      int64 []        = 42

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include <ockpt/ockpt.h>

namespace {

template <typename T>
std::span<const std::byte> Bytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

// bfloat16: the top 16 bits of a float32 (these values are exact).
uint16_t ToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dest;
  ockpt::SaveOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--zarr3") {
      options.zarr3 = true;
    } else if (a == "--no-ocdbt") {
      options.ocdbt = false;
    } else if (a == "--step" && i + 1 < argc) {
      options.step = std::atoll(argv[++i]);
    } else {
      dest = a;
    }
  }
  if (dest.empty()) {
    std::cerr << "usage: ockpt_save_arrays DEST [--zarr3] [--no-ocdbt] [--step N]\n";
    return 2;
  }
  // Values are little-endian in memory on the machines ockpt runs on.
  std::vector<float> w = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f};
  std::vector<uint16_t> b = {ToBFloat16(1.0f), ToBFloat16(2.0f), ToBFloat16(3.0f)};
  std::vector<int64_t> step = {42};
  std::vector<ockpt::ArrayView> arrays = {
      {"params.w", "float32", {2, 3}, Bytes(w)},
      {"params.b", "bfloat16", {3}, Bytes(b)},
      {"step", "int64", {}, Bytes(step)},
  };
  ockpt::Status s = ockpt::Save(dest, arrays, options);
  if (!s.ok()) {
    std::cerr << "ockpt_save_arrays: " << s.ToString() << "\n";
    return 1;
  }
  std::cout << "saved " << arrays.size() << " arrays to " << dest << "\n";
  return 0;
}
