// Feeds the input to the .npy header parser (DecodeNpyHeader); a header that
// parses must end inside the input, and its re-encoding must parse back to it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "formats/npy/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  size_t offset = 0;
  auto header = npy::DecodeNpyHeader(input, &offset);
  if (!header.ok()) return 0;
  if (offset > size) std::abort();
  Bytes again = npy::EncodeNpyHeader(*header);
  size_t again_offset = 0;
  auto back = npy::DecodeNpyHeader(again, &again_offset);
  if (!back.ok() || !(*back == *header)) std::abort();
  return 0;
}
