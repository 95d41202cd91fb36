// Feeds the input to the legacy Orbax msgpack checkpoint decoder
// (DecodeLegacyMsgpack: the `checkpoint` file of pre-OCDBT checkpoints).

#include <cstddef>
#include <cstdint>

#include "formats/orbax/legacy_msgpack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  (void)orbax::DecodeLegacyMsgpack(ByteView(reinterpret_cast<const char*>(data), size));
  return 0;
}
