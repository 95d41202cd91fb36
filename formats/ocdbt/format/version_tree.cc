// Version-tree references and nodes.

#include "formats/ocdbt/format/version_tree.h"

namespace ockpt::ocdbt {

namespace {

// Smallest encodings: generation + height + 6 varints + 8-byte time.
constexpr size_t kMinGenerationRefBytes = 1 + 1 + 6 + 8;
// generation + 3 location varints + num_generations + 8-byte time.
constexpr size_t kMinVersionNodeRefBytes = 5 + 8;

Status CheckCount(uint64_t n, uint64_t min, uint64_t max, size_t min_bytes_each,
                  const ByteReader& reader, std::string_view what) {
  if (n < min || n > max) {
    return DataLossError("{}: {} entries, expected {}..{}", what, n, min, max);
  }
  if (n > reader.remaining() / min_bytes_each) {
    return DataLossError("{}: {} entries need at least {} bytes, {} left", what, n,
                         n * min_bytes_each, reader.remaining());
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<BtreeGenerationReference>> DecodeGenerationReferences(
    ByteReader& reader, size_t table_size, uint8_t arity_log2, uint64_t max_entries) {
  OCKPT_ASSIGN_OR_RETURN(uint64_t n, reader.ReadVarint64("num_versions"));
  OCKPT_RETURN_IF_ERROR(
      CheckCount(n, 1, max_entries, kMinGenerationRefBytes, reader, "versions"));
  std::vector<BtreeGenerationReference> refs(n);
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "version generation_number",
                                         [&](size_t i, uint64_t v) { refs[i].generation = v; }));
  for (auto& r : refs) {
    OCKPT_ASSIGN_OR_RETURN(r.root_height, reader.ReadU8("version root_height"));
  }
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "version data_file_id",
                                         [&](size_t i, uint64_t v) { refs[i].root.file_id = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "version offset",
                                         [&](size_t i, uint64_t v) { refs[i].root.offset = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "version length",
                                         [&](size_t i, uint64_t v) { refs[i].root.length = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version num_keys",
      [&](size_t i, uint64_t v) { refs[i].statistics.num_keys = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version num_tree_bytes",
      [&](size_t i, uint64_t v) { refs[i].statistics.num_tree_bytes = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version num_indirect_value_bytes",
      [&](size_t i, uint64_t v) { refs[i].statistics.num_indirect_value_bytes = v; }));
  for (auto& r : refs) {
    OCKPT_ASSIGN_OR_RETURN(r.commit_time_ns, reader.ReadU64LE("version commit_time"));
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& r = refs[i];
    if (r.generation == 0) return DataLossError("version {}: generation number 0", i);
    if (i > 0 && r.generation <= refs[i - 1].generation) {
      return DataLossError("version {}: generation {} does not follow {}", i, r.generation,
                           refs[i - 1].generation);
    }
    OCKPT_RETURN_IF_ERROR(
        ValidateReference(r.root, table_size, fmt::format("generation {} root", r.generation)));
  }
  uint64_t first = refs.front().generation, last = refs.back().generation;
  uint64_t arity_mask = (uint64_t{1} << arity_log2) - 1;
  if (first < last - ((last - 1) & arity_mask)) {
    return DataLossError("versions {}..{} span more than one leaf of {} generations", first,
                         last, arity_mask + 1);
  }
  return refs;
}

void EncodeGenerationReferences(const std::vector<BtreeGenerationReference>& refs,
                                Bytes* out) {
  PutVarint(out, refs.size());
  for (const auto& r : refs) PutVarint(out, r.generation);
  for (const auto& r : refs) PutU8(out, r.root_height);
  for (const auto& r : refs) PutVarint(out, r.root.file_id);
  for (const auto& r : refs) PutVarint(out, r.root.offset);
  for (const auto& r : refs) PutVarint(out, r.root.length);
  for (const auto& r : refs) PutVarint(out, r.statistics.num_keys);
  for (const auto& r : refs) PutVarint(out, r.statistics.num_tree_bytes);
  for (const auto& r : refs) PutVarint(out, r.statistics.num_indirect_value_bytes);
  for (const auto& r : refs) PutU64LE(out, r.commit_time_ns);
}

Result<std::vector<VersionNodeReference>> DecodeVersionNodeReferences(
    ByteReader& reader, size_t table_size, uint8_t arity_log2, uint64_t min_entries,
    uint64_t max_entries, bool with_heights, uint8_t child_height) {
  OCKPT_ASSIGN_OR_RETURN(uint64_t n, reader.ReadVarint64("num_children"));
  OCKPT_RETURN_IF_ERROR(CheckCount(n, min_entries, max_entries,
                                   kMinVersionNodeRefBytes + (with_heights ? 1 : 0), reader,
                                   "version node references"));
  std::vector<VersionNodeReference> refs(n);
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "version node generation_number",
                                         [&](size_t i, uint64_t v) { refs[i].generation = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version node data_file_id",
      [&](size_t i, uint64_t v) { refs[i].location.file_id = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version node offset",
      [&](size_t i, uint64_t v) { refs[i].location.offset = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version node length",
      [&](size_t i, uint64_t v) { refs[i].location.length = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "version node num_generations",
      [&](size_t i, uint64_t v) { refs[i].num_generations = v; }));
  for (auto& r : refs) {
    OCKPT_ASSIGN_OR_RETURN(r.commit_time_ns, reader.ReadU64LE("version node commit_time"));
  }
  uint8_t max_height = MaxVersionTreeHeight(arity_log2);
  for (auto& r : refs) {
    if (with_heights) {
      size_t pos = reader.position();
      OCKPT_ASSIGN_OR_RETURN(r.height, reader.ReadU8("version node entry_height"));
      if (r.height > max_height) {
        return DataLossError("version node entry_height at byte {} is {}, more than {} for arity 2^{}",
                             pos, r.height, max_height, arity_log2);
      }
    } else {
      r.height = child_height;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& r = refs[i];
    if (r.generation == 0) return DataLossError("version node {}: generation number 0", i);
    if (i > 0 && r.generation <= refs[i - 1].generation) {
      return DataLossError("version node {}: generation {} does not follow {}", i,
                           r.generation, refs[i - 1].generation);
    }
    if (r.num_generations == 0) {
      return DataLossError("version node {} (generation {}): num_generations is 0", i,
                           r.generation);
    }
    if (i > 0 && with_heights && r.height >= refs[i - 1].height) {
      return DataLossError("version node {}: height {} does not decrease from {}", i, r.height,
                           refs[i - 1].height);
    }
    if (r.location.IsMissing()) {
      return DataLossError("version node {} (generation {}) has no location", i, r.generation);
    }
    OCKPT_RETURN_IF_ERROR(ValidateReference(
        r.location, table_size, fmt::format("version node for generation {}", r.generation)));
  }
  return refs;
}

void EncodeVersionNodeReferences(const std::vector<VersionNodeReference>& refs,
                                 bool with_heights, Bytes* out) {
  PutVarint(out, refs.size());
  for (const auto& r : refs) PutVarint(out, r.generation);
  for (const auto& r : refs) PutVarint(out, r.location.file_id);
  for (const auto& r : refs) PutVarint(out, r.location.offset);
  for (const auto& r : refs) PutVarint(out, r.location.length);
  for (const auto& r : refs) PutVarint(out, r.num_generations);
  for (const auto& r : refs) PutU64LE(out, r.commit_time_ns);
  if (with_heights) {
    for (const auto& r : refs) PutU8(out, r.height);
  }
}

Result<VersionTreeNode> DecodeVersionTreeNodeBody(ByteView body, uint8_t arity_log2) {
  ByteReader reader(body);
  VersionTreeNode node;
  OCKPT_ASSIGN_OR_RETURN(node.version_tree_arity_log2,
                         reader.ReadU8("version tree node arity_log2"));
  if (node.version_tree_arity_log2 != arity_log2) {
    return DataLossError("version tree node arity_log2 is {}, expected {} (from the manifest)",
                         node.version_tree_arity_log2, arity_log2);
  }
  OCKPT_ASSIGN_OR_RETURN(node.height, reader.ReadU8("version tree node height"));
  if (node.height > MaxVersionTreeHeight(arity_log2)) {
    return DataLossError("version tree node height {} exceeds {} for arity 2^{}", node.height,
                         MaxVersionTreeHeight(arity_log2), arity_log2);
  }
  OCKPT_ASSIGN_OR_RETURN(node.data_files,
                         DecodeDataFileTable(reader).WithContext("version tree node"));
  uint64_t arity = uint64_t{1} << arity_log2;
  if (node.height == 0) {
    OCKPT_ASSIGN_OR_RETURN(node.leaf_entries,
                           DecodeGenerationReferences(reader, node.data_files.size(),
                                                      arity_log2, arity)
                               .WithContext("version tree leaf node"));
  } else {
    OCKPT_ASSIGN_OR_RETURN(
        node.interior_entries,
        DecodeVersionNodeReferences(reader, node.data_files.size(), arity_log2, 1, arity,
                                    /*with_heights=*/false,
                                    static_cast<uint8_t>(node.height - 1))
            .WithContext(fmt::format("version tree node of height {}", node.height)));
  }
  if (!reader.empty()) {
    return DataLossError("version tree node has {} unexpected trailing bytes at byte {}",
                         reader.remaining(), reader.position());
  }
  return node;
}

Result<VersionTreeNode> DecodeVersionTreeNode(ByteView blob, uint8_t arity_log2,
                                              size_t max_body_bytes) {
  OCKPT_ASSIGN_OR_RETURN(DecodedEnvelope env,
                         DecodeEnvelope(blob, kVersionTreeNodeMagic, max_body_bytes));
  return DecodeVersionTreeNodeBody(env.body, arity_log2);
}

Bytes EncodeVersionTreeNodeBody(const VersionTreeNode& node) {
  Bytes out;
  PutU8(&out, node.version_tree_arity_log2);
  PutU8(&out, node.height);
  EncodeDataFileTable(node.data_files, &out);
  if (node.height == 0) {
    EncodeGenerationReferences(node.leaf_entries, &out);
  } else {
    EncodeVersionNodeReferences(node.interior_entries, /*with_heights=*/false, &out);
  }
  return out;
}

Result<Bytes> EncodeVersionTreeNode(const VersionTreeNode& node,
                                    EnvelopeCompression compression, int zstd_level) {
  return EncodeEnvelope(kVersionTreeNodeMagic, EncodeVersionTreeNodeBody(node), compression,
                        zstd_level);
}

}  // namespace ockpt::ocdbt
