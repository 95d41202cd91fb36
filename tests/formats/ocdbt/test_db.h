// Helpers for the OCDBT tests: hex literals, copying golden databases into a
// scratch directory, and writing small databases with the format encoders.

#ifndef OCKPT_TESTS_FORMATS_OCDBT_TEST_DB_H_
#define OCKPT_TESTS_FORMATS_OCDBT_TEST_DB_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/ocdbt/format/btree_node.h"
#include "formats/ocdbt/format/manifest.h"
#include "lib/base/file.h"

namespace ockpt::ocdbt::testing {

// "0c db 3a 2a" or "0cdb3a2a"; whitespace and '|' are ignored.
inline Bytes FromHex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else continue;
    if (hi < 0) {
      hi = d;
    } else {
      out.push_back(static_cast<char>(hi << 4 | d));
      hi = -1;
    }
  }
  return out;
}

// Copies a directory tree (golden data is read-only; copies are writable).
inline void CopyTree(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::copy(from, to, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(to)) {
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write |
                                  (e.is_directory() ? fs::perms::owner_exec : fs::perms::none),
                    fs::perm_options::add);
  }
}

// Appends `data` to the file at path (creating it and its folder); returns
// the offset it was written at.
inline uint64_t AppendBlob(const std::string& path, ByteView data) {
  uint64_t offset = 0;
  Bytes content;
  if (IsRegularFile(path)) content = ReadFile(path).value();
  offset = content.size();
  content.append(data.data(), data.size());
  (void)MakeDirectories(Dirname(path));
  (void)WriteFile(path, content);
  return offset;
}

inline Config TestConfig() {
  Config c;
  for (int i = 0; i < 16; ++i) c.uuid[i] = static_cast<uint8_t>(i * 7 + 1);
  return c;
}

// Writes manifest.ocdbt for one generation whose root is `root` in `file`.
inline void WriteSingleVersionManifest(const std::string& dir, const DataFileId& file,
                                       IndirectDataReference root, uint8_t root_height,
                                       uint64_t num_keys, uint64_t commit_time_ns = 1000) {
  Manifest m;
  m.config = TestConfig();
  m.data_files = {file};
  BtreeGenerationReference ref;
  ref.generation = 1;
  ref.root_height = root_height;
  ref.root = root;
  ref.root.file_id = 0;
  ref.statistics.num_keys = num_keys;
  ref.commit_time_ns = commit_time_ns;
  m.versions = {ref};
  (void)WriteFile(JoinPath(dir, "manifest.ocdbt"), EncodeManifest(m).value());
}

inline size_t CommonPrefixLength(std::string_view a, std::string_view b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

// Writes a database of two levels (one leaf when everything fits): values
// longer than max_inline go to d/values, nodes to d/nodes. Leaves store
// their keys without their common prefix, as TensorStore does.
inline void WriteSimpleDb(const std::string& dir,
                          const std::vector<std::pair<std::string, std::string>>& kvs,
                          size_t leaf_size, size_t max_inline = 100) {
  const std::string values_path = JoinPath(dir, "d/values");
  const std::string nodes_path = JoinPath(dir, "d/nodes");
  std::vector<InteriorNodeEntry> children;
  const bool one_leaf = kvs.size() <= leaf_size;
  for (size_t start = 0; start < kvs.size(); start += leaf_size) {
    size_t end = std::min(kvs.size(), start + leaf_size);
    size_t excluded =
        one_leaf ? 0 : CommonPrefixLength(kvs[start].first, kvs[end - 1].first);
    BtreeNode leaf;
    leaf.height = 0;
    bool any_indirect = false;
    for (size_t i = start; i < end; ++i) {
      LeafNodeEntry e;
      e.key = kvs[i].first.substr(excluded);
      e.value_length = kvs[i].second.size();
      if (kvs[i].second.size() <= max_inline) {
        e.kind = ValueKind::kInline;
        e.inline_value = kvs[i].second;
      } else {
        e.kind = ValueKind::kOutOfLine;
        e.location.file_id = 0;
        e.location.offset = AppendBlob(values_path, kvs[i].second);
        e.location.length = e.value_length;
        any_indirect = true;
      }
      leaf.leaf_entries.push_back(std::move(e));
    }
    if (any_indirect) leaf.data_files = {DataFileId{"", "d/values"}};
    Bytes blob = EncodeBtreeNode(leaf, EnvelopeCompression::kZstd).value();
    InteriorNodeEntry child;
    child.key = kvs[start].first;
    child.subtree_common_prefix_length = static_cast<uint32_t>(excluded);
    child.child = {0, AppendBlob(nodes_path, blob), blob.size()};
    child.statistics.num_keys = end - start;
    children.push_back(std::move(child));
  }
  if (children.empty()) {
    Manifest m;
    m.config = TestConfig();
    m.data_files = {DataFileId{"", ""}};
    BtreeGenerationReference ref;
    ref.generation = 1;
    ref.root = {0, IndirectDataReference::kMissing, IndirectDataReference::kMissing};
    m.versions = {ref};
    (void)MakeDirectories(dir);
    (void)WriteFile(JoinPath(dir, "manifest.ocdbt"), EncodeManifest(m).value());
    return;
  }
  if (one_leaf) {
    WriteSingleVersionManifest(dir, DataFileId{"", "d/nodes"}, children[0].child, 0,
                               kvs.size());
    return;
  }
  BtreeNode root;
  root.height = 1;
  root.data_files = {DataFileId{"", "d/nodes"}};
  root.interior_entries = std::move(children);
  Bytes blob = EncodeBtreeNode(root, EnvelopeCompression::kZstd).value();
  uint64_t offset = AppendBlob(nodes_path, blob);
  WriteSingleVersionManifest(dir, DataFileId{"", "d/nodes"}, {0, offset, blob.size()}, 1,
                             kvs.size());
}

}  // namespace ockpt::ocdbt::testing

#endif  // OCKPT_TESTS_FORMATS_OCDBT_TEST_DB_H_
