// Data file ids, the data file table, and indirect data references.
//
// Every node body (and the manifest's version-tree part) starts with a table
// of the data files its entries point into, stored column by column with
// prefix compression over the full paths (base_path + relative_path):
//
//   num_files                 varint64
//   path_prefix_length[1..n)  varint16: common prefix with the previous path
//   path_suffix_length[0..n)  varint16
//   base_path_length[0..n)    varint16
//   path suffix bytes         concatenated
//
// Entries refer to files by their index in this table. A path resolves
// relative to the *transitive path* of the node holding the table (see
// docs/format/ocdbt.md): T + base_path + relative_path.

#ifndef OCKPT_FORMATS_OCDBT_FORMAT_DATA_FILE_TABLE_H_
#define OCKPT_FORMATS_OCDBT_FORMAT_DATA_FILE_TABLE_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lib/base/bytes.h"

namespace ockpt::ocdbt {

inline constexpr uint64_t kMaxPathLength = 65535;

struct DataFileId {
  std::string base_path;
  std::string relative_path;

  std::string FullPath() const { return base_path + relative_path; }
  friend bool operator==(const DataFileId&, const DataFileId&) = default;
  // (base_path, relative_path), bytewise: the order tables are written in.
  friend bool operator<(const DataFileId& a, const DataFileId& b) {
    return a.base_path != b.base_path ? a.base_path < b.base_path
                                      : a.relative_path < b.relative_path;
  }
};

using DataFileTable = std::vector<DataFileId>;

// Reads a table; checks every count and length against the bytes left and
// the path limits before allocating.
Result<DataFileTable> DecodeDataFileTable(ByteReader& reader);
// Writes `table` in its given order (a writer sorts it by operator< first,
// as TensorStore does) with TensorStore's prefix rule.
void EncodeDataFileTable(const DataFileTable& table, Bytes* out);

// (file, offset, length) of a blob or value. file_id indexes the data file
// table of the structure holding the reference.
struct IndirectDataReference {
  static constexpr uint64_t kMissing = std::numeric_limits<uint64_t>::max();

  uint64_t file_id = 0;
  uint64_t offset = 0;
  uint64_t length = 0;

  // The empty tree's root: offset = length = 2^64-1.
  bool IsMissing() const { return offset == kMissing && length == kMissing; }
  friend bool operator==(const IndirectDataReference&,
                         const IndirectDataReference&) = default;
};

// Checks file_id against the table size and offset + length for overflow
// (unless the reference is the missing one). `what` names the field.
Status ValidateReference(const IndirectDataReference& ref, size_t table_size,
                         std::string_view what);

// Reads n varints of one column into field(i). Checks n against the bytes
// left first (a varint is at least one byte).
template <typename SetFn>
Status ReadVarintColumn(ByteReader& reader, size_t n, std::string_view field, SetFn&& set) {
  if (n > reader.remaining()) {
    return DataLossError("{} column needs at least {} bytes, {} left", field, n,
                         reader.remaining());
  }
  for (size_t i = 0; i < n; ++i) {
    OCKPT_ASSIGN_OR_RETURN(uint64_t v, reader.ReadVarint64(field));
    set(i, v);
  }
  return Status::Ok();
}

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_FORMAT_DATA_FILE_TABLE_H_
