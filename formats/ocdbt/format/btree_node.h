// B+tree nodes (magic 0x0cdb20de). Body, column by column:
//
//   height                          byte (0 = leaf)
//   data file table                 §data_file_table.h
//   num_entries                     varint32, 1..1048576
//   key_prefix_length[1..n)         varint16: common prefix with the previous key
//   key_suffix_length[0..n)         varint16
//   subtree_common_prefix_length[n] varint16, interior nodes only
//   key suffix bytes                concatenated
// leaf (height 0):
//   value_length[n] varint64; value_kind[n] byte (0 inline, 1 out-of-line);
//   data_file_id[k], offset[k] varint64 for the k out-of-line entries;
//   inline value bytes, concatenated in entry order
// interior:
//   data_file_id[n], offset[n], length[n], num_keys[n], num_tree_bytes[n],
//   num_indirect_value_bytes[n] varint64
//
// Keys are relative to the node's implicit prefix (root: ""); an interior
// entry's child has the implicit prefix P + key[0:subtree_common_prefix_length].

#ifndef OCKPT_FORMATS_OCDBT_FORMAT_BTREE_NODE_H_
#define OCKPT_FORMATS_OCDBT_FORMAT_BTREE_NODE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "formats/ocdbt/format/data_file_table.h"
#include "formats/ocdbt/format/envelope.h"
#include "formats/ocdbt/format/version_tree.h"

namespace ockpt::ocdbt {

inline constexpr uint64_t kMaxNodeEntries = 1048576;
inline constexpr uint64_t kMaxKeyLength = 65535;

// Written to disk; never reuse.
enum class ValueKind : uint8_t {
  kInline = 0,
  kOutOfLine = 1,
};

struct LeafNodeEntry {
  std::string key;  // relative to the node's implicit prefix
  uint64_t value_length = 0;
  ValueKind kind = ValueKind::kInline;
  Bytes inline_value;              // kInline
  IndirectDataReference location;  // kOutOfLine; length == value_length
  friend bool operator==(const LeafNodeEntry&, const LeafNodeEntry&) = default;
};

struct InteriorNodeEntry {
  std::string key;  // relative; inclusive lower bound of the child's range
  uint32_t subtree_common_prefix_length = 0;
  IndirectDataReference child;
  BtreeStatistics statistics;
  friend bool operator==(const InteriorNodeEntry&, const InteriorNodeEntry&) = default;
};

struct BtreeNode {
  uint8_t height = 0;
  DataFileTable data_files;
  std::vector<LeafNodeEntry> leaf_entries;          // height == 0
  std::vector<InteriorNodeEntry> interior_entries;  // height > 0
  friend bool operator==(const BtreeNode&, const BtreeNode&) = default;
};

// Decodes a node blob whose decoded body may be at most max_body_bytes.
// Checks key order (strictly increasing), lengths, file ids and counts.
Result<BtreeNode> DecodeBtreeNode(ByteView blob, size_t max_body_bytes);
Result<BtreeNode> DecodeBtreeNodeBody(ByteView body);
Bytes EncodeBtreeNodeBody(const BtreeNode& node);
Result<Bytes> EncodeBtreeNode(const BtreeNode& node, EnvelopeCompression compression,
                              int zstd_level = 0);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_FORMAT_BTREE_NODE_H_
