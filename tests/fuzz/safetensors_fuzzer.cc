// Feeds the input as a .safetensors file: written to a per-process scratch
// file, then OpenSafetensorsFile and, for every leaf, OpenArray and a read of
// its first MiB and last bytes.

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "formats/safetensors/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  static const std::string path = fuzz::ScratchDir() + "/input.safetensors";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!f) return 0;
  }
  auto source = safetensors::OpenSafetensorsFile(path);
  if (!source.ok()) return 0;
  (void)(*source)->custom_metadata();
  std::vector<char> buf;
  for (size_t i = 0; i < (*source)->leaves().size(); ++i) {
    auto array = (*source)->OpenArray(i);
    if (!array.ok()) continue;
    uint64_t n = (*array)->size();
    size_t head = static_cast<size_t>(n < (uint64_t{1} << 20) ? n : (uint64_t{1} << 20));
    buf.resize(head);
    (void)(*array)->ReadAt(0, head, buf.data());
    if (n >= 8) (void)(*array)->ReadAt(n - 8, 8, buf.data());
  }
  return 0;
}
