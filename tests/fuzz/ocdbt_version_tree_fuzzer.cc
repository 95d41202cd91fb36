// Feeds the input to the OCDBT version-tree node decoders. The first byte
// gives the arity log2 (1..16, as a manifest's config validates it); the rest is a node body
// (DecodeVersionTreeNodeBody) and, with its envelope length and CRC-32C
// repaired, a whole node blob (DecodeVersionTreeNode).

#include <cstddef>
#include <cstdint>

#include "formats/ocdbt/format/version_tree.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  if (size < 1) return 0;
  uint8_t arity_log2 = static_cast<uint8_t>(1 + data[0] % 16);
  ByteView input(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)ocdbt::DecodeVersionTreeNodeBody(input, arity_log2);
  Bytes blob(input);
  fuzz::RepairEnvelope(blob.data(), blob.size());
  (void)ocdbt::DecodeVersionTreeNode(blob, arity_log2, size_t{16} << 20);
  return 0;
}
