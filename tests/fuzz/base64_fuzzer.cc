// Feeds the input to Base64Decode, and checks that Base64Encode (both
// alphabets) round-trips the input through Base64Decode.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "lib/base/base64.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  (void)Base64Decode(input);
  for (bool url_safe : {false, true}) {
    auto back = Base64Decode(Base64Encode(input, url_safe));
    if (!back.ok() || *back != input) std::abort();
  }
  return 0;
}
