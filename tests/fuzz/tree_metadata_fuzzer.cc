// Feeds the input to the Orbax `_METADATA` parser (DecodeTreeMetadata) and to
// the JSON helper ParseJson of formats/orbax/tree_metadata.h.

#include <cstddef>
#include <cstdint>

#include "formats/orbax/tree_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  (void)orbax::DecodeTreeMetadata(input);
  (void)orbax::ParseJson(input);
  return 0;
}
