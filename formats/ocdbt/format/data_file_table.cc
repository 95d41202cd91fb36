// Data file table codec.

#include "formats/ocdbt/format/data_file_table.h"

#include <algorithm>

namespace ockpt::ocdbt {

namespace {

size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

Result<DataFileTable> DecodeDataFileTable(ByteReader& reader) {
  OCKPT_ASSIGN_OR_RETURN(uint64_t n, reader.ReadVarint64("data file table num_files"));
  if (n == 0) return DataFileTable{};
  // Each file needs at least a suffix length and a base length byte, and
  // each but the first a prefix length byte.
  if (n > (reader.remaining() + 1) / 3) {
    return DataLossError("data file table claims {} files but only {} bytes are left", n,
                         reader.remaining());
  }
  std::vector<uint64_t> prefix(n, 0), suffix(n), base(n);
  for (size_t i = 1; i < n; ++i) {
    OCKPT_ASSIGN_OR_RETURN(prefix[i],
                           reader.ReadVarintMax("data file path_prefix_length", kMaxPathLength));
  }
  for (size_t i = 0; i < n; ++i) {
    OCKPT_ASSIGN_OR_RETURN(suffix[i],
                           reader.ReadVarintMax("data file path_suffix_length", kMaxPathLength));
  }
  for (size_t i = 0; i < n; ++i) {
    OCKPT_ASSIGN_OR_RETURN(base[i],
                           reader.ReadVarintMax("data file base_path_length", kMaxPathLength));
  }
  DataFileTable table(n);
  std::string prev;
  for (size_t i = 0; i < n; ++i) {
    if (prefix[i] > prev.size()) {
      return DataLossError("data file {}: path_prefix_length {} exceeds the previous path's length {}",
                           i, prefix[i], prev.size());
    }
    if (prefix[i] + suffix[i] > kMaxPathLength) {
      return DataLossError("data file {}: path length {} exceeds the limit of {}", i,
                           prefix[i] + suffix[i], kMaxPathLength);
    }
    if (i > 0 && base[i] != base[i - 1] && prefix[i] > std::min(base[i], base[i - 1])) {
      return DataLossError(
          "data file {}: path_prefix_length {} extends past a base path (lengths {} and {})", i,
          prefix[i], base[i - 1], base[i]);
    }
    OCKPT_ASSIGN_OR_RETURN(ByteView s, reader.ReadBytes(suffix[i], "data file path suffix"));
    std::string path = prev.substr(0, prefix[i]);
    path.append(s.data(), s.size());
    if (base[i] > path.size()) {
      return DataLossError("data file {}: base_path_length {} exceeds the path length {}", i,
                           base[i], path.size());
    }
    table[i].base_path = path.substr(0, base[i]);
    table[i].relative_path = path.substr(base[i]);
    prev = std::move(path);
  }
  return table;
}

void EncodeDataFileTable(const DataFileTable& table, Bytes* out) {
  // The common prefix never extends past a base path unless both base paths
  // are equal (TensorStore's rule; readers check it).
  std::vector<size_t> prefix(table.size(), 0);
  for (size_t i = 1; i < table.size(); ++i) {
    const DataFileId& a = table[i - 1];
    const DataFileId& b = table[i];
    size_t p = CommonPrefix(a.base_path, b.base_path);
    if (p == a.base_path.size() && p == b.base_path.size()) {
      p += CommonPrefix(a.relative_path, b.relative_path);
    }
    prefix[i] = p;
  }
  PutVarint(out, table.size());
  for (size_t i = 1; i < table.size(); ++i) PutVarint(out, prefix[i]);
  for (size_t i = 0; i < table.size(); ++i) {
    PutVarint(out, table[i].base_path.size() + table[i].relative_path.size() - prefix[i]);
  }
  for (const DataFileId& f : table) PutVarint(out, f.base_path.size());
  for (size_t i = 0; i < table.size(); ++i) {
    std::string path = table[i].FullPath();
    PutBytes(out, ByteView(path).substr(prefix[i]));
  }
}

Status ValidateReference(const IndirectDataReference& ref, size_t table_size,
                         std::string_view what) {
  if (ref.file_id >= table_size) {
    return DataLossError("{}: data_file_id {} is out of range (the table has {} files)", what,
                         ref.file_id, table_size);
  }
  if (ref.IsMissing()) return Status::Ok();
  if (ref.offset > IndirectDataReference::kMissing - ref.length) {
    return DataLossError("{}: offset {} + length {} overflows", what, ref.offset, ref.length);
  }
  return Status::Ok();
}

}  // namespace ockpt::ocdbt
