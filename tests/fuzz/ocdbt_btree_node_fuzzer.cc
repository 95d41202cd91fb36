// Feeds the input to the OCDBT B+tree node decoders: as a body
// (DecodeBtreeNodeBody) and, with its envelope length and CRC-32C repaired, as
// a whole node blob (DecodeBtreeNode, body capped at 16 MiB).

#include <cstddef>
#include <cstdint>

#include "formats/ocdbt/format/btree_node.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  ByteView input(reinterpret_cast<const char*>(data), size);
  (void)ocdbt::DecodeBtreeNodeBody(input);
  Bytes blob(input);
  fuzz::RepairEnvelope(blob.data(), blob.size());
  (void)ocdbt::DecodeBtreeNode(blob, size_t{16} << 20);
  return 0;
}
