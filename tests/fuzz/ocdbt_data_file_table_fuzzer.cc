// Feeds the input to the OCDBT data file table decoder (DecodeDataFileTable)
// and to the version-tree reference list decoders (the other column-wise
// structures inside nodes). First byte: arity log2 and table size for those.

#include <cstddef>
#include <cstdint>

#include "formats/ocdbt/format/data_file_table.h"
#include "formats/ocdbt/format/version_tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ockpt;
  if (size < 1) return 0;
  ByteView input(reinterpret_cast<const char*>(data + 1), size - 1);
  {
    ByteReader reader(input);
    auto table = ocdbt::DecodeDataFileTable(reader);
    if (table.ok()) {
      Bytes out;
      ocdbt::EncodeDataFileTable(*table, &out);
    }
  }
  // Low nibble: arity log2 - 1; high nibble: the data file table's size.
  uint8_t arity_log2 = static_cast<uint8_t>(1 + (data[0] & 15));
  size_t table_size = data[0] >> 4;
  {
    ByteReader reader(input);
    (void)ocdbt::DecodeGenerationReferences(reader, table_size, arity_log2, 1000);
  }
  for (bool with_heights : {false, true}) {
    ByteReader reader(input);
    (void)ocdbt::DecodeVersionNodeReferences(reader, table_size, arity_log2, 1, 1000, with_heights,
                                             1);
  }
  return 0;
}
