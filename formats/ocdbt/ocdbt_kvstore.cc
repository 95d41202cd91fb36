// OcdbtKvStore: manifest -> version tree -> B+tree -> values.
//
// One file on purpose (~700 lines): path resolution, node caching, lookup,
// listing, ranged and coalesced reads all walk the same resolved-path and
// node-cache state of one class; the byte formats are in format/.
//
// Paths. Every blob reference is (file id, offset, length) where the file id
// indexes the data file table of the structure holding it. A structure read
// from a file reached through table entry (base, relative) has the
// transitive path T(parent) + base; its own entries resolve to
// T + base' + relative'. The manifest's T is "". Resolved paths are relative
// to the database directory and must be safe (no absolute path, no empty,
// "." or ".." component), so hostile input cannot name a file outside it.
//
// Key ranges. An interior entry i with relative key K_i covers the full keys
// [P + K_i, P + K_{i+1}) (the last one up to the parent's bound); its child
// has the implicit prefix P + K_i[0:subtree_common_prefix_length]. Every
// node's keys are checked against the range its parent gives it, which also
// stops a hostile tree from reaching one node through two parents.

#include "formats/ocdbt/ocdbt_kvstore.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "formats/ocdbt/format/btree_node.h"
#include "formats/ocdbt/format/manifest.h"
#include "formats/ocdbt/format/version_tree.h"
#include "formats/ocdbt/key_text.h"
#include "lib/base/file.h"
#include "lib/compression/compression.h"

namespace ockpt::ocdbt {

namespace {

constexpr size_t kMaxOpenFiles = 256;
constexpr size_t kMaxCachedNodeBytes = size_t{256} << 20;
// Resolved paths grow with each base path on the way down; TensorStore caps
// a path at 65535 bytes.
constexpr size_t kMaxResolvedPathLength = 65535;

// Where a blob is, relative to the database directory, and the transitive
// path for the references inside it.
struct BlobLocation {
  std::string file;        // T + base_path + relative_path
  std::string transitive;  // T + base_path
  uint64_t offset = 0;
  uint64_t length = 0;
};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Result<BlobLocation> Resolve(const DataFileTable& table, const std::string& transitive,
                             const IndirectDataReference& ref) {
  if (ref.file_id >= table.size()) {
    return DataLossError("data_file_id {} is out of range (the table has {} files)", ref.file_id,
                         table.size());
  }
  const DataFileId& id = table[ref.file_id];
  BlobLocation loc;
  loc.transitive = transitive + id.base_path;
  loc.file = loc.transitive + id.relative_path;
  loc.offset = ref.offset;
  loc.length = ref.length;
  if (loc.file.size() > kMaxResolvedPathLength) {
    return DataLossError("data file path of {} bytes exceeds the limit of {}", loc.file.size(),
                         kMaxResolvedPathLength);
  }
  if (!IsSafeRelativeKey(loc.file)) {
    return DataLossError(
        "data file path \"{}\" is not a safe relative path (absolute, or an empty, '.' or '..' "
        "component)",
        EscapeKey(loc.file));
  }
  return loc;
}

VersionInfo ToVersionInfo(const BtreeGenerationReference& ref) {
  VersionInfo v;
  v.generation = ref.generation;
  v.commit_time_ns = ref.commit_time_ns;
  v.num_keys = ref.statistics.num_keys;
  v.num_tree_bytes = ref.statistics.num_tree_bytes;
  v.num_indirect_value_bytes = ref.statistics.num_indirect_value_bytes;
  return v;
}

size_t NodeCost(const BtreeNode& node) {
  size_t cost = sizeof(BtreeNode);
  for (const auto& e : node.leaf_entries) cost += sizeof(e) + e.key.size() + e.inline_value.size();
  for (const auto& e : node.interior_entries) cost += sizeof(e) + e.key.size();
  for (const auto& f : node.data_files) cost += f.base_path.size() + f.relative_path.size() + 64;
  return cost;
}

}  // namespace

class OcdbtKvStore::Impl {
 public:
  std::string dir;
  Manifest manifest;  // the one holding the version tree
  VersionInfo version;
  uint8_t root_height = 0;
  std::optional<BlobLocation> root;  // nullopt: the empty tree
  size_t max_node_body_bytes = kMaxDecodedBlobBytes;

  Status ReadManifest();
  // The generation reference and its resolved root.
  Status SelectGeneration(uint64_t generation);
  Result<std::vector<VersionInfo>> ListVersions() const;

  Result<std::shared_ptr<const BtreeNode>> LoadNode(const BlobLocation& loc, uint8_t height) const;
  Result<Bytes> ReadBlob(const BlobLocation& loc) const;
  Result<std::shared_ptr<RandomAccessFile>> OpenDataFile(const std::string& file) const;
  std::string PathOf(const std::string& file) const { return JoinPath(dir, file); }

  // Calls visit(node, entry, node location, full key) for each leaf entry
  // under `loc` whose key starts with `prefix`, in key order.
  using LeafVisitor = std::function<Status(const BtreeNode&, const LeafNodeEntry&,
                                           const BlobLocation&, std::string_view)>;
  Status ListSubtree(const BlobLocation& loc, uint8_t height, const std::string& node_prefix,
                     const std::string& lower, const std::string* upper, std::string_view prefix,
                     const LeafVisitor& visit) const;
  // Room for the listing of `prefix` (the whole tree's key count when known).
  size_t ExpectedCount(std::string_view prefix) const {
    return prefix.empty() ? static_cast<size_t>(std::min<uint64_t>(version.num_keys, 1 << 20)) : 0;
  }
  Result<EntryInfo> MakeEntry(const BtreeNode& node, const LeafNodeEntry& e,
                              const BlobLocation& loc, std::string full_key, bool with_value) const;
  // The entry for `key`, or nullopt.
  Result<std::optional<EntryInfo>> Find(std::string_view key, bool with_value) const;

 private:
  Status WalkVersionNode(const BlobLocation& loc, uint8_t height, uint64_t lower_exclusive,
                         uint64_t upper_inclusive, std::vector<VersionInfo>* out) const;
  Result<VersionTreeNode> LoadVersionNode(const BlobLocation& loc, uint8_t height) const;
  Status CheckNodeRange(const BtreeNode& node, const BlobLocation& loc,
                        const std::string& node_prefix, const std::string& lower,
                        const std::string* upper) const;

  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<RandomAccessFile>> files_;
  mutable std::unordered_map<std::string, std::shared_ptr<const BtreeNode>> nodes_;
  mutable size_t cached_node_bytes_ = 0;
};

// --- manifest and versions ---

Status OcdbtKvStore::Impl::ReadManifest() {
  std::string path = JoinPath(dir, kManifestFileName);
  if (!IsRegularFile(path)) {
    OCKPT_RETURN_IF_ERROR(CheckExists(dir));
    return NotFoundError("not an OCDBT database: {} does not exist", path);
  }
  OCKPT_RETURN_IF_ERROR(CheckConfined(dir, kManifestFileName));
  OCKPT_ASSIGN_OR_RETURN(Bytes blob, ReadFile(path, kMaxManifestBodyBytes));
  auto decoded = DecodeManifest(blob);
  if (!decoded.ok()) return decoded.status().WithContext(path);
  manifest = std::move(decoded).value();
  if (manifest.config.manifest_kind == ManifestKind::kSingle) return Status::Ok();

  // Numbered: the latest manifest.%016x holds the version tree.
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));
  uint64_t latest = 0;
  for (const std::string& name : names) {
    if (auto g = ParseNumberedManifestName(name)) latest = std::max(latest, *g);
  }
  if (latest == 0) {
    return DataLossError("{} says the manifest is numbered, but {} holds no manifest.<16 hex> file",
                         path, dir);
  }
  std::string numbered_path = JoinPath(dir, NumberedManifestName(latest));
  OCKPT_ASSIGN_OR_RETURN(Bytes numbered_blob, ReadFile(numbered_path, kMaxManifestBodyBytes));
  auto numbered = DecodeManifest(numbered_blob);
  if (!numbered.ok()) return numbered.status().WithContext(numbered_path);
  if (numbered->config.manifest_kind != ManifestKind::kSingle) {
    return DataLossError("{}: expected a full manifest (manifest_kind 0), found manifest_kind {}",
                         numbered_path, static_cast<int>(numbered->config.manifest_kind));
  }
  if (numbered->config.uuid != manifest.config.uuid) {
    return DataLossError("{}: database uuid differs from the one in {}", numbered_path, path);
  }
  if (numbered->latest().generation != latest) {
    return DataLossError("{}: latest generation is {}, expected {} from the file name",
                         numbered_path, numbered->latest().generation, latest);
  }
  manifest = std::move(numbered).value();
  return Status::Ok();
}

Result<VersionTreeNode> OcdbtKvStore::Impl::LoadVersionNode(const BlobLocation& loc,
                                                            uint8_t height) const {
  std::string where = fmt::format("version tree node in {} at offset {} (length {})",
                                  PathOf(loc.file), loc.offset, loc.length);
  OCKPT_ASSIGN_OR_RETURN(Bytes blob, ReadBlob(loc));
  auto node = DecodeVersionTreeNode(blob, manifest.config.version_tree_arity_log2);
  if (!node.ok()) return node.status().WithContext(where);
  if (node->height != height) {
    return DataLossError("{}: height is {}, expected {} from its parent", where, node->height,
                         height);
  }
  return node;
}

Status OcdbtKvStore::Impl::SelectGeneration(uint64_t generation) {
  const BtreeGenerationReference* ref = nullptr;
  const DataFileTable* table = &manifest.data_files;
  std::string transitive;
  VersionTreeNode node;  // owns *table / *ref when found in a node

  const uint64_t latest = manifest.latest().generation;
  if (generation == 0) generation = latest;
  for (const auto& r : manifest.versions) {
    if (r.generation == generation) ref = &r;
  }
  if (ref == nullptr) {
    if (generation > latest) {
      return NotFoundError("generation {} does not exist in {}: the latest is {}", generation, dir,
                           latest);
    }
    // Version-node references are ordered by generation; the first whose
    // (latest) generation is >= the one wanted covers it.
    const VersionNodeReference* next = nullptr;
    uint64_t lower = 0;
    for (const auto& r : manifest.version_nodes) {
      if (r.generation >= generation) {
        next = &r;
        break;
      }
      lower = r.generation;
    }
    if (next == nullptr) {
      return NotFoundError("generation {} is not retained in {}", generation, dir);
    }
    OCKPT_ASSIGN_OR_RETURN(BlobLocation loc,
                           Resolve(manifest.data_files, "", next->location)
                               .WithContext(fmt::format("{}: manifest version_nodes",
                                                        PathOf(std::string(kManifestFileName)))));
    uint8_t height = next->height;
    uint64_t upper = next->generation;
    while (true) {
      OCKPT_ASSIGN_OR_RETURN(node, LoadVersionNode(loc, height));
      std::string where =
          fmt::format("version tree node in {} at offset {}", PathOf(loc.file), loc.offset);
      if (node.height == 0) {
        for (const auto& r : node.leaf_entries) {
          if (r.generation <= lower || r.generation > upper) {
            return DataLossError("{}: generation {} lies outside its parent's range ({}, {}]",
                                 where, r.generation, lower, upper);
          }
          if (r.generation == generation) ref = &r;
        }
        if (ref == nullptr) {
          return NotFoundError("generation {} is not retained in {}", generation, dir);
        }
        table = &node.data_files;
        transitive = loc.transitive;
        break;
      }
      const VersionNodeReference* child = nullptr;
      uint64_t previous = lower;
      uint64_t child_lower = lower;
      for (const auto& r : node.interior_entries) {
        if (r.generation <= lower || r.generation > upper) {
          return DataLossError("{}: generation {} lies outside its parent's range ({}, {}]", where,
                               r.generation, lower, upper);
        }
        if (child == nullptr && r.generation >= generation) {
          child = &r;
          child_lower = previous;
        }
        previous = r.generation;
      }
      if (child == nullptr) {
        return NotFoundError("generation {} is not retained in {}", generation, dir);
      }
      lower = child_lower;
      upper = child->generation;
      height = child->height;
      OCKPT_ASSIGN_OR_RETURN(
          loc, Resolve(node.data_files, loc.transitive, child->location).WithContext(where));
    }
  }
  version = ToVersionInfo(*ref);
  root_height = ref->root_height;
  if (ref->root.IsMissing()) {
    root.reset();
    return Status::Ok();
  }
  OCKPT_ASSIGN_OR_RETURN(root, Resolve(*table, transitive, ref->root)
                                   .WithContext(fmt::format("root of generation {}", generation)));
  return Status::Ok();
}

Status OcdbtKvStore::Impl::WalkVersionNode(const BlobLocation& loc, uint8_t height,
                                           uint64_t lower_exclusive, uint64_t upper_inclusive,
                                           std::vector<VersionInfo>* out) const {
  OCKPT_ASSIGN_OR_RETURN(VersionTreeNode node, LoadVersionNode(loc, height));
  std::string where =
      fmt::format("version tree node in {} at offset {}", PathOf(loc.file), loc.offset);
  auto check = [&](uint64_t g) -> Status {
    if (g <= lower_exclusive || g > upper_inclusive) {
      return DataLossError("{}: generation {} lies outside its parent's range ({}, {}]", where, g,
                           lower_exclusive, upper_inclusive);
    }
    return Status::Ok();
  };
  if (node.height == 0) {
    for (const auto& r : node.leaf_entries) {
      OCKPT_RETURN_IF_ERROR(check(r.generation));
      out->push_back(ToVersionInfo(r));
    }
    return Status::Ok();
  }
  uint64_t lower = lower_exclusive;
  for (const auto& r : node.interior_entries) {
    OCKPT_RETURN_IF_ERROR(check(r.generation));
    OCKPT_ASSIGN_OR_RETURN(BlobLocation child,
                           Resolve(node.data_files, loc.transitive, r.location).WithContext(where));
    OCKPT_RETURN_IF_ERROR(WalkVersionNode(child, r.height, lower, r.generation, out));
    lower = r.generation;
  }
  return Status::Ok();
}

Result<std::vector<VersionInfo>> OcdbtKvStore::Impl::ListVersions() const {
  std::vector<VersionInfo> out;
  uint64_t lower = 0;
  for (const auto& r : manifest.version_nodes) {
    OCKPT_ASSIGN_OR_RETURN(BlobLocation loc,
                           Resolve(manifest.data_files, "", r.location)
                               .WithContext(fmt::format("{}: manifest version_nodes",
                                                        PathOf(std::string(kManifestFileName)))));
    OCKPT_RETURN_IF_ERROR(WalkVersionNode(loc, r.height, lower, r.generation, &out));
    lower = r.generation;
  }
  for (const auto& r : manifest.versions) out.push_back(ToVersionInfo(r));
  // Already in order when the tree is well formed; sorting is cheap insurance.
  std::sort(out.begin(), out.end(),
            [](const VersionInfo& a, const VersionInfo& b) { return a.generation < b.generation; });
  return out;
}

// --- data files and nodes ---

Result<std::shared_ptr<RandomAccessFile>> OcdbtKvStore::Impl::OpenDataFile(
    const std::string& file) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(file);
    if (it != files_.end()) return it->second;
  }
  OCKPT_RETURN_IF_ERROR(CheckConfined(dir, file));
  std::string path = PathOf(file);
  auto opened = RandomAccessFile::Open(path);
  if (!opened.ok()) {
    if (opened.status().code() == StatusCode::kNotFound) {
      return DataLossError("data file {} is missing", path);
    }
    return opened.status();
  }
  auto shared = std::make_shared<RandomAccessFile>(std::move(opened).value());
  std::lock_guard<std::mutex> lock(mu_);
  if (files_.size() >= kMaxOpenFiles) files_.clear();
  files_.emplace(file, shared);
  return shared;
}

Result<Bytes> OcdbtKvStore::Impl::ReadBlob(const BlobLocation& loc) const {
  OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<RandomAccessFile> f, OpenDataFile(loc.file));
  return f->Read(loc.offset, loc.length);
}

Result<std::shared_ptr<const BtreeNode>> OcdbtKvStore::Impl::LoadNode(const BlobLocation& loc,
                                                                      uint8_t height) const {
  std::string cache_key = fmt::format("{}\n{}\n{}", loc.file, loc.offset, loc.length);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(cache_key);
    if (it != nodes_.end()) {
      if (it->second->height != height) {
        return DataLossError(
            "B+tree node in {} at offset {} (length {}): height is {}, expected {}",
            PathOf(loc.file), loc.offset, loc.length, it->second->height, height);
      }
      return it->second;
    }
  }
  std::string where = fmt::format("B+tree node in {} at offset {} (length {})", PathOf(loc.file),
                                  loc.offset, loc.length);
  OCKPT_ASSIGN_OR_RETURN(Bytes blob, ReadBlob(loc));
  auto decoded = DecodeBtreeNode(blob, max_node_body_bytes);
  if (!decoded.ok()) return decoded.status().WithContext(where);
  if (decoded->height != height) {
    return DataLossError("{}: height is {}, expected {} from its parent", where, decoded->height,
                         height);
  }
  auto node = std::make_shared<const BtreeNode>(std::move(decoded).value());
  size_t cost = NodeCost(*node);
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_node_bytes_ + cost > kMaxCachedNodeBytes) {
    nodes_.clear();
    cached_node_bytes_ = 0;
  }
  if (nodes_.emplace(std::move(cache_key), node).second) cached_node_bytes_ += cost;
  return node;
}

Status OcdbtKvStore::Impl::CheckNodeRange(const BtreeNode& node, const BlobLocation& loc,
                                          const std::string& node_prefix, const std::string& lower,
                                          const std::string* upper) const {
  const bool leaf = node.height == 0;
  const std::string& first =
      leaf ? node.leaf_entries.front().key : node.interior_entries.front().key;
  const std::string& last = leaf ? node.leaf_entries.back().key : node.interior_entries.back().key;
  if (node_prefix + first < lower) {
    return DataLossError(
        "B+tree node in {} at offset {}: first key \"{}\" is below its parent's bound \"{}\"",
        PathOf(loc.file), loc.offset, EscapeKey(node_prefix + first), EscapeKey(lower));
  }
  if (upper != nullptr && !(node_prefix + last < *upper)) {
    return DataLossError(
        "B+tree node in {} at offset {}: last key \"{}\" is not below the next key \"{}\" of its "
        "parent",
        PathOf(loc.file), loc.offset, EscapeKey(node_prefix + last), EscapeKey(*upper));
  }
  return Status::Ok();
}

Result<EntryInfo> OcdbtKvStore::Impl::MakeEntry(const BtreeNode& node, const LeafNodeEntry& e,
                                                const BlobLocation& loc, std::string full_key,
                                                bool with_value) const {
  EntryInfo info;
  info.key = std::move(full_key);
  info.size = e.value_length;
  if (e.kind == ValueKind::kInline) {
    info.is_inline = true;
    if (with_value) info.inline_value = e.inline_value;
    return info;
  }
  info.is_inline = false;
  OCKPT_ASSIGN_OR_RETURN(
      BlobLocation value,
      Resolve(node.data_files, loc.transitive, e.location)
          .WithContext(fmt::format("B+tree node in {} at offset {}: value of key \"{}\"",
                                   PathOf(loc.file), loc.offset, EscapeKey(info.key))));
  info.file = std::move(value.file);
  info.offset = e.location.offset;
  return info;
}

Status OcdbtKvStore::Impl::ListSubtree(const BlobLocation& loc, uint8_t height,
                                       const std::string& node_prefix, const std::string& lower,
                                       const std::string* upper, std::string_view prefix,
                                       const LeafVisitor& visit) const {
  OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<const BtreeNode> node, LoadNode(loc, height));
  OCKPT_RETURN_IF_ERROR(CheckNodeRange(*node, loc, node_prefix, lower, upper));
  std::string full;
  if (node->height == 0) {
    for (const LeafNodeEntry& e : node->leaf_entries) {
      full.assign(node_prefix).append(e.key);
      if (!StartsWith(full, prefix)) {
        if (full < prefix) continue;
        break;  // past every key with the prefix
      }
      OCKPT_RETURN_IF_ERROR(visit(*node, e, loc, full));
    }
    return Status::Ok();
  }
  const auto& entries = node->interior_entries;
  std::string next;
  for (size_t i = 0; i < entries.size(); ++i) {
    const InteriorNodeEntry& e = entries[i];
    full.assign(node_prefix).append(e.key);
    if (full > prefix && !StartsWith(full, prefix)) break;
    const std::string* child_upper = upper;
    if (i + 1 < entries.size()) {
      next.assign(node_prefix).append(entries[i + 1].key);
      child_upper = &next;
      // Every key of child i is below `next`; none can carry the prefix.
      if (next <= prefix) continue;
    }
    std::string child_prefix = node_prefix + e.key.substr(0, e.subtree_common_prefix_length);
    OCKPT_ASSIGN_OR_RETURN(BlobLocation child,
                           Resolve(node->data_files, loc.transitive, e.child)
                               .WithContext(fmt::format("B+tree node in {} at offset {}",
                                                        PathOf(loc.file), loc.offset)));
    OCKPT_RETURN_IF_ERROR(ListSubtree(child, static_cast<uint8_t>(height - 1), child_prefix, full,
                                      child_upper, prefix, visit));
  }
  return Status::Ok();
}

Result<std::optional<EntryInfo>> OcdbtKvStore::Impl::Find(std::string_view key,
                                                          bool with_value) const {
  if (!root) return std::optional<EntryInfo>();
  BlobLocation loc = *root;
  uint8_t height = root_height;
  std::string node_prefix;
  std::string lower;
  std::string upper_storage;
  std::optional<std::string> upper;
  while (true) {
    OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<const BtreeNode> node, LoadNode(loc, height));
    OCKPT_RETURN_IF_ERROR(
        CheckNodeRange(*node, loc, node_prefix, lower, upper ? &*upper : nullptr));
    if (!StartsWith(key, node_prefix)) return std::optional<EntryInfo>();
    std::string_view rel = key.substr(node_prefix.size());
    if (node->height == 0) {
      const auto& entries = node->leaf_entries;
      auto it =
          std::lower_bound(entries.begin(), entries.end(), rel,
                           [](const LeafNodeEntry& e, std::string_view k) { return e.key < k; });
      if (it == entries.end() || it->key != rel) return std::optional<EntryInfo>();
      OCKPT_ASSIGN_OR_RETURN(EntryInfo info,
                             MakeEntry(*node, *it, loc, std::string(key), with_value));
      return std::optional<EntryInfo>(std::move(info));
    }
    const auto& entries = node->interior_entries;
    auto it =
        std::upper_bound(entries.begin(), entries.end(), rel,
                         [](std::string_view k, const InteriorNodeEntry& e) { return k < e.key; });
    if (it == entries.begin()) return std::optional<EntryInfo>();
    if (it != entries.end()) upper = node_prefix + it->key;
    const InteriorNodeEntry& e = *(it - 1);
    lower = node_prefix + e.key;
    OCKPT_ASSIGN_OR_RETURN(loc, Resolve(node->data_files, loc.transitive, e.child)
                                    .WithContext(fmt::format("B+tree node in {} at offset {}",
                                                             PathOf(loc.file), loc.offset)));
    node_prefix += e.key.substr(0, e.subtree_common_prefix_length);
    height = static_cast<uint8_t>(height - 1);
  }
}

// --- OcdbtKvStore ---

OcdbtKvStore::OcdbtKvStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OcdbtKvStore::~OcdbtKvStore() = default;

Result<std::unique_ptr<OcdbtKvStore>> OcdbtKvStore::Open(const std::string& dir,
                                                         uint64_t generation) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  OCKPT_RETURN_IF_ERROR(impl->ReadManifest());
  // Nodes are split near max_decoded_node_bytes; one entry may overshoot.
  uint64_t target = impl->manifest.config.max_decoded_node_bytes;
  if (target != 0) {
    impl->max_node_body_bytes = static_cast<size_t>(std::min<uint64_t>(
        kMaxDecodedBlobBytes, std::max<uint64_t>(64 << 20, 2 * target + (16 << 20))));
  }
  OCKPT_RETURN_IF_ERROR(impl->SelectGeneration(generation));
  // Read the root now so that a database whose tree is unreadable fails to
  // open rather than looking empty.
  if (impl->root) {
    OCKPT_RETURN_IF_ERROR(impl->LoadNode(*impl->root, impl->root_height).status());
  }
  return std::unique_ptr<OcdbtKvStore>(new OcdbtKvStore(std::move(impl)));
}

Result<Bytes> OcdbtKvStore::Read(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::optional<EntryInfo> entry, impl_->Find(key, /*with_value=*/true));
  if (!entry) {
    return NotFoundError("key \"{}\" not found in OCDBT database {} (generation {})",
                         EscapeKey(key), impl_->dir, impl_->version.generation);
  }
  return ReadEntry(*entry);
}

Result<std::unique_ptr<ValueReader>> OcdbtKvStore::OpenValue(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::optional<EntryInfo> entry, impl_->Find(key, /*with_value=*/true));
  if (!entry) {
    return NotFoundError("key \"{}\" not found in OCDBT database {} (generation {})",
                         EscapeKey(key), impl_->dir, impl_->version.generation);
  }
  if (entry->is_inline) {
    return std::unique_ptr<ValueReader>(new MemoryValueReader(std::move(entry->inline_value)));
  }
  if (!IsSafeRelativeKey(entry->file)) {
    return DataLossError("value of key \"{}\": data file path \"{}\" is not a safe relative path",
                         EscapeKey(entry->key), EscapeKey(entry->file));
  }
  auto file = impl_->OpenDataFile(entry->file);
  if (!file.ok()) {
    return file.status().WithContext(fmt::format("value of key \"{}\"", EscapeKey(entry->key)));
  }
  if (entry->offset > (*file)->size() || entry->size > (*file)->size() - entry->offset) {
    return DataLossError("value of key \"{}\": {} is {} bytes; cannot read {} bytes at offset {}",
                         EscapeKey(entry->key), (*file)->path(), (*file)->size(), entry->size,
                         entry->offset);
  }
  return MakeFileRangeReader(std::move(file).value(), entry->offset, entry->size);
}

std::vector<Result<Bytes>> OcdbtKvStore::ReadMany(const std::vector<std::string>& keys) const {
  std::vector<Result<Bytes>> out(keys.size(), Result<Bytes>(InternalError("not read")));
  // Small out-of-line values, by data file, to be read in runs.
  struct Pending {
    uint64_t offset, size;
    size_t slot;
  };
  std::map<std::string, std::vector<Pending>> by_file;
  std::vector<std::optional<EntryInfo>> entries(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    Result<std::optional<EntryInfo>> found = impl_->Find(keys[i], /*with_value=*/true);
    if (!found.ok()) {
      out[i] = found.status();
    } else if (!found->has_value()) {
      out[i] = NotFoundError("key \"{}\" not found in OCDBT database {} (generation {})",
                             EscapeKey(keys[i]), impl_->dir, impl_->version.generation);
    } else if ((*found)->is_inline || (*found)->size > kCoalesceValueBytes ||
               (*found)->offset > ~uint64_t{0} - kCoalesceSpanBytes ||
               !IsSafeRelativeKey((*found)->file)) {
      out[i] = ReadEntry(**found);  // inline, large, or an error to report
    } else {
      entries[i] = std::move(*found);
      by_file[entries[i]->file].push_back({entries[i]->offset, entries[i]->size, i});
    }
  }
  for (auto& [file, values] : by_file) {
    std::sort(values.begin(), values.end(), [](const Pending& a, const Pending& b) {
      return a.offset != b.offset ? a.offset < b.offset : a.slot < b.slot;
    });
    Result<std::shared_ptr<RandomAccessFile>> f = impl_->OpenDataFile(file);
    size_t first = 0;
    while (first < values.size()) {
      // The run [first, last): values whose gaps are small, within the span.
      const uint64_t begin = values[first].offset;
      uint64_t end = begin + values[first].size;
      size_t last = first + 1;
      while (last < values.size() && values[last].offset <= end + kCoalesceGapBytes &&
             std::max(end, values[last].offset + values[last].size) - begin <= kCoalesceSpanBytes) {
        end = std::max(end, values[last].offset + values[last].size);
        ++last;
      }
      // The run's bytes are copied into each value: no zero fill here.
      std::unique_ptr<char[]> run;
      if (last - first > 1 && f.ok() && end <= (*f)->size()) {
        run.reset(new char[end - begin]);
        if (!(*f)->ReadInto(begin, end - begin, run.get()).ok()) run.reset();
      }
      for (size_t k = first; k < last; ++k) {
        const Pending& v = values[k];
        out[v.slot] = run ? Result<Bytes>(Bytes(run.get() + (v.offset - begin), v.size))
                          : ReadEntry(*entries[v.slot]);  // one by one: precise errors
      }
      first = last;
    }
  }
  return out;
}

Result<bool> OcdbtKvStore::Contains(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::optional<EntryInfo> entry, impl_->Find(key, /*with_value=*/false));
  return entry.has_value();
}

Result<std::vector<KeyInfo>> OcdbtKvStore::List(std::string_view prefix) const {
  std::vector<KeyInfo> out;
  if (!impl_->root) return out;
  out.reserve(impl_->ExpectedCount(prefix));
  OCKPT_RETURN_IF_ERROR(impl_->ListSubtree(
      *impl_->root, impl_->root_height, "", "", nullptr, prefix,
      [&](const BtreeNode&, const LeafNodeEntry& e, const BlobLocation&, std::string_view key) {
        out.push_back({std::string(key), e.value_length});
        return Status::Ok();
      }));
  return out;
}

std::string OcdbtKvStore::Describe() const { return impl_->dir; }

Result<std::vector<EntryInfo>> OcdbtKvStore::ListEntries(std::string_view prefix) const {
  std::vector<EntryInfo> out;
  if (!impl_->root) return out;
  out.reserve(impl_->ExpectedCount(prefix));
  OCKPT_RETURN_IF_ERROR(impl_->ListSubtree(
      *impl_->root, impl_->root_height, "", "", nullptr, prefix,
      [&](const BtreeNode& node, const LeafNodeEntry& e, const BlobLocation& loc,
          std::string_view key) -> Status {
        OCKPT_ASSIGN_OR_RETURN(EntryInfo info,
                               impl_->MakeEntry(node, e, loc, std::string(key), true));
        out.push_back(std::move(info));
        return Status::Ok();
      }));
  return out;
}

Result<Bytes> OcdbtKvStore::ReadEntry(const EntryInfo& entry) const {
  if (entry.is_inline) return entry.inline_value;
  if (!IsSafeRelativeKey(entry.file)) {
    return DataLossError("value of key \"{}\": data file path \"{}\" is not a safe relative path",
                         EscapeKey(entry.key), EscapeKey(entry.file));
  }
  auto read = [&]() -> Result<Bytes> {
    OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<RandomAccessFile> f, impl_->OpenDataFile(entry.file));
    return f->Read(entry.offset, entry.size);
  };
  return read().WithContext(fmt::format("value of key \"{}\"", EscapeKey(entry.key)));
}

const VersionInfo& OcdbtKvStore::version() const { return impl_->version; }

Result<std::vector<VersionInfo>> OcdbtKvStore::ListVersions() const {
  return impl_->ListVersions();
}

}  // namespace ockpt::ocdbt
