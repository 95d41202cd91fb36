// The version tree: references to B+tree roots (one per generation) and to
// version-tree nodes, and the node that holds them (magic 0x0cdb1234).
//
// Generation references (leaf entry array; also the manifest's inline
// versions), stored column by column:
//   num_versions varint64; generation_number[n] varint64; root_height[n] byte;
//   data_file_id[n], offset[n], length[n] varint64; num_keys[n],
//   num_tree_bytes[n], num_indirect_value_bytes[n] varint64;
//   commit_time[n] uint64 LE (ns since the Unix epoch).
// Version-node references (interior entry array):
//   num_children varint64; generation_number[n] varint64 (latest in the
//   subtree); data_file_id[n], offset[n], length[n] varint64;
//   num_generations[n] varint64; commit_time[n] uint64 LE (earliest in the
//   subtree, ns); entry_height[n] byte (only in the manifest).
// Node body: version_tree_arity_log2 byte; height byte; data file table;
// leaf entries (height 0) or interior entries (children of height-1).

#ifndef OCKPT_FORMATS_OCDBT_FORMAT_VERSION_TREE_H_
#define OCKPT_FORMATS_OCDBT_FORMAT_VERSION_TREE_H_

#include <cstdint>
#include <vector>

#include "formats/ocdbt/format/data_file_table.h"
#include "formats/ocdbt/format/envelope.h"
#include "lib/base/bytes.h"

namespace ockpt::ocdbt {

// Cap on a decoded version-tree node body (a node holds at most 2^16 entries
// whose paths are in its table).
inline constexpr size_t kMaxVersionNodeBodyBytes = size_t{1} << 30;

struct BtreeStatistics {
  uint64_t num_keys = 0;
  uint64_t num_tree_bytes = 0;
  uint64_t num_indirect_value_bytes = 0;
  friend bool operator==(const BtreeStatistics&, const BtreeStatistics&) = default;
};

// One generation: where its B+tree root is.
struct BtreeGenerationReference {
  uint64_t generation = 0;
  uint8_t root_height = 0;
  IndirectDataReference root;  // IsMissing() for the empty tree
  BtreeStatistics statistics;
  uint64_t commit_time_ns = 0;
  friend bool operator==(const BtreeGenerationReference&,
                         const BtreeGenerationReference&) = default;
};

// A version-tree node and what its subtree holds.
struct VersionNodeReference {
  uint64_t generation = 0;  // latest generation in the subtree
  IndirectDataReference location;
  uint64_t num_generations = 0;
  uint64_t commit_time_ns = 0;  // earliest commit time in the subtree
  uint8_t height = 0;           // the node's height
  friend bool operator==(const VersionNodeReference&, const VersionNodeReference&) = default;
};

struct VersionTreeNode {
  uint8_t version_tree_arity_log2 = 4;
  uint8_t height = 0;
  DataFileTable data_files;
  std::vector<BtreeGenerationReference> leaf_entries;  // height == 0
  std::vector<VersionNodeReference> interior_entries;  // height > 0
  friend bool operator==(const VersionTreeNode&, const VersionTreeNode&) = default;
};

// The largest node height for an arity: (height + 1) * arity_log2 < 64.
inline uint8_t MaxVersionTreeHeight(uint8_t arity_log2) {
  return static_cast<uint8_t>(63 / arity_log2 - 1);
}

// Leaf entry array: 1..max_entries references, generations increasing and
// all in one leaf range of 2^arity_log2 generations; file ids < table_size.
Result<std::vector<BtreeGenerationReference>> DecodeGenerationReferences(
    ByteReader& reader, size_t table_size, uint8_t arity_log2, uint64_t max_entries);
void EncodeGenerationReferences(const std::vector<BtreeGenerationReference>& refs,
                                Bytes* out);

// Interior entry array: min_entries..max_entries references with increasing
// generations. with_heights: read the entry_height column (manifest; heights
// strictly decreasing); otherwise every height is child_height.
Result<std::vector<VersionNodeReference>> DecodeVersionNodeReferences(
    ByteReader& reader, size_t table_size, uint8_t arity_log2, uint64_t min_entries,
    uint64_t max_entries, bool with_heights, uint8_t child_height);
void EncodeVersionNodeReferences(const std::vector<VersionNodeReference>& refs,
                                 bool with_heights, Bytes* out);

// A whole node blob (envelope included). The node's arity must equal
// arity_log2 (the manifest's).
Result<VersionTreeNode> DecodeVersionTreeNode(ByteView blob, uint8_t arity_log2,
                                              size_t max_body_bytes = kMaxVersionNodeBodyBytes);
Result<VersionTreeNode> DecodeVersionTreeNodeBody(ByteView body, uint8_t arity_log2);
Bytes EncodeVersionTreeNodeBody(const VersionTreeNode& node);
Result<Bytes> EncodeVersionTreeNode(const VersionTreeNode& node,
                                    EnvelopeCompression compression, int zstd_level = 0);

}  // namespace ockpt::ocdbt

#endif  // OCKPT_FORMATS_OCDBT_FORMAT_VERSION_TREE_H_
