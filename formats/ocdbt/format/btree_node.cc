// B+tree node codec.

#include "formats/ocdbt/format/btree_node.h"

#include <algorithm>

namespace ockpt::ocdbt {

namespace {

// Reads the key columns shared by leaf and interior nodes into keys; for
// interior nodes also the subtree_common_prefix_length column.
Status DecodeKeys(ByteReader& reader, size_t n, bool interior, std::vector<std::string>* keys,
                  std::vector<uint32_t>* scp) {
  std::vector<uint32_t> prefix(n, 0), suffix(n);
  for (size_t i = 1; i < n; ++i) {
    OCKPT_ASSIGN_OR_RETURN(uint64_t v, reader.ReadVarintMax("key_prefix_length", kMaxKeyLength));
    prefix[i] = static_cast<uint32_t>(v);
  }
  for (size_t i = 0; i < n; ++i) {
    OCKPT_ASSIGN_OR_RETURN(uint64_t v, reader.ReadVarintMax("key_suffix_length", kMaxKeyLength));
    suffix[i] = static_cast<uint32_t>(v);
  }
  if (interior) {
    scp->resize(n);
    for (size_t i = 0; i < n; ++i) {
      OCKPT_ASSIGN_OR_RETURN(uint64_t v, reader.ReadVarintMax("subtree_common_prefix_length",
                                                              kMaxKeyLength));
      (*scp)[i] = static_cast<uint32_t>(v);
    }
  }
  keys->resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::string& key = (*keys)[i];
    if (i > 0) {
      const std::string& prev = (*keys)[i - 1];
      if (prefix[i] > prev.size()) {
        return DataLossError("key {}: key_prefix_length {} exceeds the previous key's length {}",
                             i, prefix[i], prev.size());
      }
      if (uint64_t{prefix[i]} + suffix[i] > kMaxKeyLength) {
        return DataLossError("key {}: length {} exceeds the limit of {}", i,
                             uint64_t{prefix[i]} + suffix[i], kMaxKeyLength);
      }
      key.assign(prev, 0, prefix[i]);
    }
    OCKPT_ASSIGN_OR_RETURN(ByteView s, reader.ReadBytes(suffix[i], "key suffix"));
    key.append(s.data(), s.size());
    if (i > 0 && !((*keys)[i - 1] < key)) {
      return DataLossError("key {} is not greater than key {} (keys must be strictly increasing)",
                           i, i - 1);
    }
    if (interior && (*scp)[i] > key.size()) {
      return DataLossError("key {}: subtree_common_prefix_length {} exceeds the key length {}",
                           i, (*scp)[i], key.size());
    }
  }
  return Status::Ok();
}

Status DecodeLeafEntries(ByteReader& reader, const DataFileTable& table,
                         std::vector<std::string>& keys, std::vector<LeafNodeEntry>* entries) {
  size_t n = keys.size();
  entries->resize(n);
  auto& e = *entries;
  for (size_t i = 0; i < n; ++i) e[i].key = std::move(keys[i]);
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "value_length",
                                         [&](size_t i, uint64_t v) { e[i].value_length = v; }));
  size_t out_of_line = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t pos = reader.position();
    OCKPT_ASSIGN_OR_RETURN(uint8_t kind, reader.ReadU8("value_kind"));
    if (kind > 1) {
      return DataLossError("entry {}: value_kind at byte {} is {}, expected 0 (inline) or 1 (out-of-line)",
                           i, pos, kind);
    }
    e[i].kind = static_cast<ValueKind>(kind);
    if (e[i].kind == ValueKind::kOutOfLine) ++out_of_line;
  }
  std::vector<LeafNodeEntry*> indirect;
  indirect.reserve(out_of_line);
  for (auto& entry : e) {
    if (entry.kind == ValueKind::kOutOfLine) indirect.push_back(&entry);
  }
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, out_of_line, "value data_file_id",
      [&](size_t i, uint64_t v) { indirect[i]->location.file_id = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, out_of_line, "value offset",
      [&](size_t i, uint64_t v) { indirect[i]->location.offset = v; }));
  for (size_t i = 0; i < n; ++i) {
    LeafNodeEntry& entry = e[i];
    if (entry.kind == ValueKind::kOutOfLine) {
      entry.location.length = entry.value_length;
      OCKPT_RETURN_IF_ERROR(
          ValidateReference(entry.location, table.size(), fmt::format("entry {} value", i)));
      if (entry.location.IsMissing()) {
        return DataLossError("entry {}: out-of-line value has no location", i);
      }
    } else {
      if (entry.value_length > reader.remaining()) {
        return DataLossError("entry {}: inline value of {} bytes, only {} bytes left", i,
                             entry.value_length, reader.remaining());
      }
      OCKPT_ASSIGN_OR_RETURN(ByteView v, reader.ReadBytes(entry.value_length, "inline value"));
      entry.inline_value.assign(v.data(), v.size());
    }
  }
  return Status::Ok();
}

Status DecodeInteriorEntries(ByteReader& reader, const DataFileTable& table,
                             std::vector<std::string>& keys, const std::vector<uint32_t>& scp,
                             std::vector<InteriorNodeEntry>* entries) {
  size_t n = keys.size();
  entries->resize(n);
  auto& e = *entries;
  for (size_t i = 0; i < n; ++i) {
    e[i].key = std::move(keys[i]);
    e[i].subtree_common_prefix_length = scp[i];
  }
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "child data_file_id",
                                         [&](size_t i, uint64_t v) { e[i].child.file_id = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "child offset",
                                         [&](size_t i, uint64_t v) { e[i].child.offset = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(reader, n, "child length",
                                         [&](size_t i, uint64_t v) { e[i].child.length = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "child num_keys", [&](size_t i, uint64_t v) { e[i].statistics.num_keys = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "child num_tree_bytes",
      [&](size_t i, uint64_t v) { e[i].statistics.num_tree_bytes = v; }));
  OCKPT_RETURN_IF_ERROR(ReadVarintColumn(
      reader, n, "child num_indirect_value_bytes",
      [&](size_t i, uint64_t v) { e[i].statistics.num_indirect_value_bytes = v; }));
  for (size_t i = 0; i < n; ++i) {
    OCKPT_RETURN_IF_ERROR(
        ValidateReference(e[i].child, table.size(), fmt::format("entry {} child", i)));
    if (e[i].child.IsMissing()) return DataLossError("entry {}: child has no location", i);
  }
  return Status::Ok();
}

size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

template <typename Entry>
void EncodeKeys(const std::vector<Entry>& entries, Bytes* out, bool interior) {
  size_t n = entries.size();
  std::vector<size_t> prefix(n, 0);
  for (size_t i = 1; i < n; ++i) prefix[i] = CommonPrefix(entries[i - 1].key, entries[i].key);
  for (size_t i = 1; i < n; ++i) PutVarint(out, prefix[i]);
  for (size_t i = 0; i < n; ++i) PutVarint(out, entries[i].key.size() - prefix[i]);
  if constexpr (std::is_same_v<Entry, InteriorNodeEntry>) {
    if (interior) {
      for (const auto& e : entries) PutVarint(out, e.subtree_common_prefix_length);
    }
  }
  for (size_t i = 0; i < n; ++i) PutBytes(out, ByteView(entries[i].key).substr(prefix[i]));
}

}  // namespace

Result<BtreeNode> DecodeBtreeNodeBody(ByteView body) {
  ByteReader reader(body);
  BtreeNode node;
  OCKPT_ASSIGN_OR_RETURN(node.height, reader.ReadU8("B+tree node height"));
  OCKPT_ASSIGN_OR_RETURN(node.data_files, DecodeDataFileTable(reader).WithContext("B+tree node"));
  size_t pos = reader.position();
  OCKPT_ASSIGN_OR_RETURN(uint32_t n, reader.ReadVarint32("B+tree node num_entries"));
  if (n == 0 || n > kMaxNodeEntries) {
    return DataLossError("B+tree node num_entries at byte {} is {}, expected 1..{}", pos, n,
                         kMaxNodeEntries);
  }
  const bool interior = node.height > 0;
  // Least bytes per entry: a suffix length and, for leaves, a value length
  // and kind; for interior nodes a prefix length and 6 varints.
  const size_t min_entry_bytes = interior ? 8 : 3;
  if (n > reader.remaining() / min_entry_bytes + 1) {
    return DataLossError("B+tree node claims {} entries but only {} bytes are left", n,
                         reader.remaining());
  }
  std::vector<std::string> keys;
  std::vector<uint32_t> scp;
  OCKPT_RETURN_IF_ERROR(DecodeKeys(reader, n, interior, &keys, &scp));
  if (interior) {
    OCKPT_RETURN_IF_ERROR(
        DecodeInteriorEntries(reader, node.data_files, keys, scp, &node.interior_entries));
  } else {
    OCKPT_RETURN_IF_ERROR(DecodeLeafEntries(reader, node.data_files, keys, &node.leaf_entries));
  }
  if (!reader.empty()) {
    return DataLossError("B+tree node has {} unexpected trailing bytes at byte {}",
                         reader.remaining(), reader.position());
  }
  return node;
}

Result<BtreeNode> DecodeBtreeNode(ByteView blob, size_t max_body_bytes) {
  OCKPT_ASSIGN_OR_RETURN(DecodedEnvelope env,
                         DecodeEnvelope(blob, kBtreeNodeMagic, max_body_bytes));
  return DecodeBtreeNodeBody(env.body);
}

Bytes EncodeBtreeNodeBody(const BtreeNode& node) {
  Bytes out;
  PutU8(&out, node.height);
  EncodeDataFileTable(node.data_files, &out);
  if (node.height == 0) {
    const auto& e = node.leaf_entries;
    PutVarint(&out, e.size());
    EncodeKeys(e, &out, false);
    for (const auto& x : e) PutVarint(&out, x.value_length);
    for (const auto& x : e) PutU8(&out, static_cast<uint8_t>(x.kind));
    for (const auto& x : e) {
      if (x.kind == ValueKind::kOutOfLine) PutVarint(&out, x.location.file_id);
    }
    for (const auto& x : e) {
      if (x.kind == ValueKind::kOutOfLine) PutVarint(&out, x.location.offset);
    }
    for (const auto& x : e) {
      if (x.kind == ValueKind::kInline) PutBytes(&out, x.inline_value);
    }
  } else {
    const auto& e = node.interior_entries;
    PutVarint(&out, e.size());
    EncodeKeys(e, &out, true);
    for (const auto& x : e) PutVarint(&out, x.child.file_id);
    for (const auto& x : e) PutVarint(&out, x.child.offset);
    for (const auto& x : e) PutVarint(&out, x.child.length);
    for (const auto& x : e) PutVarint(&out, x.statistics.num_keys);
    for (const auto& x : e) PutVarint(&out, x.statistics.num_tree_bytes);
    for (const auto& x : e) PutVarint(&out, x.statistics.num_indirect_value_bytes);
  }
  return out;
}

Result<Bytes> EncodeBtreeNode(const BtreeNode& node, EnvelopeCompression compression,
                              int zstd_level) {
  return EncodeEnvelope(kBtreeNodeMagic, EncodeBtreeNodeBody(node), compression, zstd_level);
}

}  // namespace ockpt::ocdbt
