// Feeds the input to the one-shot decompressors of lib/compression: the first
// byte picks zstd, zlib, gzip or blosc; the rest is the compressed stream.
// Output is capped at 4 MiB (max_size), as callers cap it by the expected
// chunk size.

#include <cstddef>
#include <cstdint>

#include "lib/compression/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  if (size < 1) return 0;
  ByteView input(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kMax = size_t{4} << 20;
  switch (data[0] % 4) {
    case 0:
      (void)ZstdDecompress(input, kMax);
      break;
    case 1:
      (void)ZlibDecompress(input, kMax, /*gzip=*/false);
      break;
    case 2:
      (void)ZlibDecompress(input, kMax, /*gzip=*/true);
      break;
    case 3:
      (void)BloscDecompress(input, kMax);
      break;
  }
  return 0;
}
