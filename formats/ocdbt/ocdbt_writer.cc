// OcdbtWriter: values -> data files, then B+tree bottom-up, then manifest.
//
// One file on purpose (~700 lines): the writer's data-file appends, the
// bottom-up tree build and the multi-process merge (WriteMergedRoot) share
// the node-splitting rules that must match TensorStore's; the byte formats
// are in format/.
//
// Memory. Put keeps the key and, for inline values, the value; a larger
// value goes straight to an open data file and only its (file, offset,
// length) is kept.
//
// Threads. PutStreamed may run on several threads at once: each value that
// goes out of line takes an open data file for itself (the one given back
// last, else a new one) and gives it back when it ends, so values written
// one after the other share one file, as before, and values written side by
// side go to files of their own. The bookkeeping (entries, the file list,
// the sticky error) is under one mutex; appends are not. Commit sorts the keys and encodes one node at a time, so
// at most one node's worth of decoded entries is held beyond the keys.
//
// Tree shape. The nodes are the ones TensorStore builds for a fresh tree
// (reference §7.5): each level is cut into nodes by estimated decoded size
// (TensorStore's estimate: 16 + key + value or 16 + file path per leaf entry,
// 56 + key + file path per interior entry, minus the level's common key
// prefix for every entry but a node's first), aiming at equal sizes below
// max_decoded_node_bytes. A non-root node leaves out the prefix its first
// and last keys share (bounded, for interior nodes, by its children's
// excluded prefixes); its parent entry carries that length as
// subtree_common_prefix_length. The root stores its keys in full. Levels are
// added until one node remains.
//
// Durability. Data files are flushed as they grow (fdatasync on a thread of
// their own, BackgroundSync) and fsynced when they are finished, the d/
// directory before the manifest; the manifest is written to a temporary
// name, fsynced and hard-linked to manifest.ocdbt (which fails if it exists),
// then the database directory is fsynced.

#include "formats/ocdbt/ocdbt_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "formats/ocdbt/format/btree_node.h"
#include "formats/ocdbt/format/manifest.h"
#include "formats/ocdbt/key_text.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "lib/base/background_sync.h"
#include "lib/base/file.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::ocdbt {

namespace {

constexpr std::string_view kDataDir = "d";
// TensorStore's size estimates for an entry, excluding key and value.
constexpr uint64_t kLeafEntryFixedSize = 16;
constexpr uint64_t kIndirectValueFixedSize = 16;
constexpr uint64_t kInteriorEntryFixedSize = 56;

// n bytes from the kernel's CSPRNG.
Status RandomBytes(uint8_t* out, size_t n) {
  constexpr const char* kPath = "/dev/urandom";
  int fd = ::open(kPath, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open", kPath);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, out + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int err = r < 0 ? errno : EIO;
      ::close(fd);
      return StatusFromErrno(err, "read", kPath);
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return Status::Ok();
}

Result<std::string> RandomHex16() {
  std::array<uint8_t, 16> bytes;
  OCKPT_RETURN_IF_ERROR(RandomBytes(bytes.data(), bytes.size()));
  return HexString(ByteView(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

uint64_t CeilDiv(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// Cuts a level of n entries into nodes, as TensorStore does. sizes[i] is the
// estimated decoded size of entry i including its full key; common_prefix is
// the prefix every key of the level shares (counted once per node). Each
// node gets at least min_arity entries (but the last) and at most
// kMaxNodeEntries; max_node_bytes 0 means no size limit. Returns the end of
// each node.
std::vector<size_t> SplitLevel(const std::vector<uint64_t>& sizes, uint64_t common_prefix,
                               size_t min_arity, uint64_t max_node_bytes) {
  const size_t n = sizes.size();
  std::vector<uint64_t> cumulative(n + 1, 0);
  for (size_t i = 0; i < n; ++i) cumulative[i + 1] = cumulative[i] + sizes[i];
  // Estimated size of entries [start, end).
  auto range_size = [&](size_t start, size_t end) {
    return cumulative[end] - cumulative[start] - (end - start - 1) * common_prefix;
  };
  std::vector<size_t> ends;
  size_t start = 0;
  while (start < n) {
    const uint64_t remaining_size = range_size(start, n);
    uint64_t num_nodes = CeilDiv(n - start, kMaxNodeEntries);
    if (max_node_bytes != 0) {
      num_nodes = std::max(num_nodes, CeilDiv(remaining_size, max_node_bytes));
    }
    const uint64_t target = CeilDiv(remaining_size, num_nodes);
    size_t end = start + 1;
    for (; end < n; ++end) {
      if (end - start >= kMaxNodeEntries) break;
      const uint64_t size = range_size(start, end);
      if (size >= target && end - start >= min_arity) {
        // Rather one entry less than a node over the limit.
        if (max_node_bytes != 0 && size > max_node_bytes && end - start > min_arity) --end;
        break;
      }
    }
    ends.push_back(end);
    start = end;
  }
  return ends;
}

// One written node as its parent sees it.
struct ChildNode {
  std::string key;        // first full key (inclusive lower bound)
  uint32_t excluded = 0;  // prefix length the node leaves out of its keys
  uint32_t file = 0;      // index into the writer's file list
  uint64_t offset = 0;
  uint64_t length = 0;
  BtreeStatistics statistics;
};

// Resolved path of a child DB's value file, split into the part that becomes
// the base path and the data file's own relative path ("d/<hex>").
std::pair<std::string, std::string> SplitDataFilePath(std::string_view file) {
  size_t last = file.rfind('/');
  if (last == std::string_view::npos || last == 0) return {"", std::string(file)};
  size_t before = file.rfind('/', last - 1);
  if (before == std::string_view::npos) return {"", std::string(file)};
  return {std::string(file.substr(0, before + 1)), std::string(file.substr(before + 1))};
}

}  // namespace

class OcdbtWriter::Impl {
 public:
  Impl(std::string dir, const WriterOptions& options, const Config& config)
      : dir_(std::move(dir)), options_(options), config_(config) {}

  Status Put(std::string key, ByteView value);
  Status PutStreamed(std::string key, uint64_t size_bound,
                     const std::function<Status(const std::function<Status(ByteView)>&)>& produce);
  Status PutReference(std::string key, std::string base_path, std::string relative_path,
                      uint64_t offset, uint64_t length);
  Status Commit(uint64_t commit_time_ns);

 private:
  struct Entry {
    std::string key;
    uint64_t length = 0;
    bool is_inline = true;
    Bytes value;        // inline
    uint32_t file = 0;  // out of line: index into files_
    uint64_t offset = 0;
  };

  // An open data file, appended to by whoever took it.
  struct OpenFile {
    WritableFile file;
    uint32_t index = 0;            // into files_
    uint64_t size = 0;
    uint64_t writeback_from = 0;   // bytes before this were handed to writeback
    uint64_t flushed_from = 0;     // bytes before this were queued to flusher_
  };

  Status CheckUsable();
  Status CheckKey(const std::string& key) const;
  // Records a sticky error and returns it.
  Status Fail(Status status);
  uint32_t FileIndex(const DataFileId& id);  // caller holds mu_
  Result<std::unique_ptr<OpenFile>> StartDataFile();
  Status FinishDataFile(std::unique_ptr<OpenFile> file);
  // An open data file for a value of at most `bound` bytes: the one given
  // back last, finished first (and a new one started) when the value would
  // take it past the target size; a new one when none is open.
  Result<std::unique_ptr<OpenFile>> TakeFile(uint64_t bound);
  void GiveBack(std::unique_ptr<OpenFile> file);
  // Appends to a taken file. With options_.sync, every kWritebackBytes
  // appended start being written to the device, and every kFlushBytes a
  // flush of the file is queued to flusher_, so that the fsync at Commit
  // overlaps with encoding instead of following it.
  Status AppendTo(OpenFile& file, ByteView piece);
  // Appends blob to an open data file. Returns (file, offset).
  Result<std::pair<uint32_t, uint64_t>> AppendBlob(ByteView blob);
  // The node blob in an open data file, as its parent's child.
  Result<ChildNode> WriteNode(const BtreeNode& node, std::string first_key, uint32_t excluded,
                              BtreeStatistics statistics);
  // The data file table of a node referencing `files` (indices into files_),
  // and each index's position in it.
  DataFileTable NodeTable(std::vector<uint32_t> files, std::map<uint32_t, uint64_t>* ids) const;
  Result<std::vector<ChildNode>> WriteLeaves();
  Result<std::vector<ChildNode>> WriteInteriorLevel(std::vector<ChildNode> children,
                                                    uint8_t height);
  Status WriteManifest(const Manifest& manifest);
  Status CommitImpl(uint64_t commit_time_ns);

  std::string dir_;
  WriterOptions options_;
  Config config_;

  std::mutex mu_;  // guards the members below
  std::vector<Entry> entries_;
  std::vector<DataFileId> files_;
  std::map<DataFileId, uint32_t> file_index_;
  std::vector<std::unique_ptr<OpenFile>> idle_;  // open, not taken; the last given back last
  bool made_data_dir_ = false;

  bool committed_ = false;
  Status error_;  // sticky: after a failed write the data files are suspect

  BackgroundSync flusher_;  // with options_.sync: data files flushed as they grow
};

Status OcdbtWriter::Impl::CheckUsable() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  if (committed_) {
    return FailedPreconditionError("OCDBT writer for {} has already committed", dir_);
  }
  return Status::Ok();
}

Status OcdbtWriter::Impl::CheckKey(const std::string& key) const {
  if (key.size() > kMaxKeyLength) {
    return InvalidArgumentError("OCDBT key of {} bytes (starting \"{}\") exceeds the limit of {}",
                                key.size(), EscapeKey(ByteView(key).substr(0, 64)), kMaxKeyLength);
  }
  return Status::Ok();
}

Status OcdbtWriter::Impl::Fail(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.ok()) error_ = status;
  return status;
}

uint32_t OcdbtWriter::Impl::FileIndex(const DataFileId& id) {
  auto [it, inserted] = file_index_.emplace(id, static_cast<uint32_t>(files_.size()));
  if (inserted) files_.push_back(id);
  return it->second;
}

Result<std::unique_ptr<OcdbtWriter::Impl::OpenFile>> OcdbtWriter::Impl::StartDataFile() {
  OCKPT_ASSIGN_OR_RETURN(std::string hex, RandomHex16());
  DataFileId id{"", fmt::format("{}/{}", kDataDir, hex)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!made_data_dir_) {
      OCKPT_RETURN_IF_ERROR(MakeDirectories(JoinPath(dir_, kDataDir)));
      made_data_dir_ = true;
    }
  }
  OCKPT_ASSIGN_OR_RETURN(WritableFile file, WritableFile::Create(JoinPath(dir_, id.relative_path)));
  auto open = std::make_unique<OpenFile>(OpenFile{std::move(file)});
  std::lock_guard<std::mutex> lock(mu_);
  open->index = FileIndex(id);
  return open;
}

Status OcdbtWriter::Impl::FinishDataFile(std::unique_ptr<OpenFile> file) {
  if (options_.sync) OCKPT_RETURN_IF_ERROR(file->file.Sync());
  return file->file.Close();
}

Result<std::unique_ptr<OcdbtWriter::Impl::OpenFile>> OcdbtWriter::Impl::TakeFile(uint64_t bound) {
  std::unique_ptr<OpenFile> file;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      file = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (file && file->size > 0 &&
      bound > options_.target_data_file_size - std::min(options_.target_data_file_size, file->size)) {
    OCKPT_RETURN_IF_ERROR(FinishDataFile(std::move(file)));
  }
  if (!file) return StartDataFile();
  return file;
}

void OcdbtWriter::Impl::GiveBack(std::unique_ptr<OpenFile> file) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(file));
}

Status OcdbtWriter::Impl::AppendTo(OpenFile& file, ByteView piece) {
  constexpr uint64_t kWritebackBytes = uint64_t{16} << 20;
  constexpr uint64_t kFlushBytes = uint64_t{64} << 20;
  OCKPT_RETURN_IF_ERROR(file.file.Append(piece));
  file.size += piece.size();
  if (!options_.sync || file.size - file.writeback_from < kWritebackBytes) return Status::Ok();
  OCKPT_RETURN_IF_ERROR(file.file.StartWriteback(file.writeback_from, file.size - file.writeback_from));
  file.writeback_from = file.size;
  if (file.size - file.flushed_from >= kFlushBytes) {
    flusher_.Queue(file.file);
    file.flushed_from = file.size;
  }
  return Status::Ok();
}

Result<std::pair<uint32_t, uint64_t>> OcdbtWriter::Impl::AppendBlob(ByteView blob) {
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<OpenFile> file, TakeFile(blob.size()));
  const uint64_t offset = file->size;
  Status st = AppendTo(*file, blob);
  const uint32_t index = file->index;
  GiveBack(std::move(file));
  if (!st.ok()) return st;
  return std::make_pair(index, offset);
}

Status OcdbtWriter::Impl::Put(std::string key, ByteView value) {
  OCKPT_RETURN_IF_ERROR(CheckUsable());
  OCKPT_RETURN_IF_ERROR(CheckKey(key));
  Entry e;
  e.key = std::move(key);
  e.length = value.size();
  if (value.size() <= options_.max_inline_value_bytes) {
    e.value.assign(value.data(), value.size());
  } else {
    auto written = AppendBlob(value);
    if (!written.ok()) {
      return Fail(written.status().WithContext(
          fmt::format("writing the value of key \"{}\"", EscapeKey(e.key))));
    }
    e.is_inline = false;
    e.file = written->first;
    e.offset = written->second;
  }
  std::lock_guard<std::mutex> lock(mu_);
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Status OcdbtWriter::Impl::PutStreamed(
    std::string key, uint64_t size_bound,
    const std::function<Status(const std::function<Status(ByteView)>&)>& produce) {
  OCKPT_RETURN_IF_ERROR(CheckUsable());
  OCKPT_RETURN_IF_ERROR(CheckKey(key));
  Entry e;
  e.key = std::move(key);
  // The first bytes stay here until the value outgrows the inline limit.
  Bytes head;
  std::unique_ptr<OpenFile> file;  // taken for this value once it is out of line
  auto append = [&](ByteView piece) -> Status {
    e.length += piece.size();
    if (file) return AppendTo(*file, piece);
    head.append(piece.data(), piece.size());
    if (head.size() <= options_.max_inline_value_bytes) return Status::Ok();
    OCKPT_ASSIGN_OR_RETURN(file, TakeFile(size_bound));
    e.is_inline = false;
    e.file = file->index;
    e.offset = file->size;
    Status st = AppendTo(*file, head);
    Bytes().swap(head);
    return st;
  };
  Status st = produce(append);
  const bool in_file = file != nullptr;
  if (file) GiveBack(std::move(file));
  if (!st.ok()) {
    // Bytes of a value that will never be referenced are in the data file.
    return in_file ? Fail(st) : st;
  }
  if (!in_file) e.value = std::move(head);
  std::lock_guard<std::mutex> lock(mu_);
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Status OcdbtWriter::Impl::PutReference(std::string key, std::string base_path,
                                       std::string relative_path, uint64_t offset,
                                       uint64_t length) {
  OCKPT_RETURN_IF_ERROR(CheckUsable());
  OCKPT_RETURN_IF_ERROR(CheckKey(key));
  DataFileId id{std::move(base_path), std::move(relative_path)};
  const std::string path = id.FullPath();
  if (path.size() > kMaxPathLength || !IsSafeRelativeKey(path)) {
    return InvalidArgumentError(
        "key \"{}\": data file path \"{}\" is not a safe relative path of at most {} bytes",
        EscapeKey(key), EscapeKey(path), kMaxPathLength);
  }
  if (offset > IndirectDataReference::kMissing - length) {
    return InvalidArgumentError("key \"{}\": offset {} + length {} overflows", EscapeKey(key),
                                offset, length);
  }
  Entry e;
  e.key = std::move(key);
  e.length = length;
  e.is_inline = false;
  e.offset = offset;
  std::lock_guard<std::mutex> lock(mu_);
  e.file = FileIndex(id);
  entries_.push_back(std::move(e));
  return Status::Ok();
}

DataFileTable OcdbtWriter::Impl::NodeTable(std::vector<uint32_t> files,
                                           std::map<uint32_t, uint64_t>* ids) const {
  std::sort(files.begin(), files.end(),
            [&](uint32_t a, uint32_t b) { return files_[a] < files_[b]; });
  files.erase(std::unique(files.begin(), files.end()), files.end());
  DataFileTable table;
  table.reserve(files.size());
  for (uint32_t f : files) {
    (*ids)[f] = table.size();
    table.push_back(files_[f]);
  }
  return table;
}

Result<ChildNode> OcdbtWriter::Impl::WriteNode(const BtreeNode& node, std::string first_key,
                                               uint32_t excluded, BtreeStatistics statistics) {
  OCKPT_ASSIGN_OR_RETURN(
      Bytes blob,
      EncodeBtreeNode(
          node, options_.compress_nodes ? EnvelopeCompression::kZstd : EnvelopeCompression::kNone,
          options_.zstd_level));
  OCKPT_ASSIGN_OR_RETURN(auto where, AppendBlob(blob));
  ChildNode child;
  child.key = std::move(first_key);
  child.excluded = excluded;
  child.file = where.first;
  child.offset = where.second;
  child.length = blob.size();
  child.statistics = statistics;
  child.statistics.num_tree_bytes += blob.size();
  return child;
}

Result<std::vector<ChildNode>> OcdbtWriter::Impl::WriteLeaves() {
  const size_t n = entries_.size();
  std::vector<uint64_t> sizes(n);
  uint64_t common_prefix = n > 0 ? entries_[0].key.size() : 0;
  for (size_t i = 0; i < n; ++i) {
    const Entry& e = entries_[i];
    uint64_t value_size = e.is_inline ? e.length
                                      : kIndirectValueFixedSize + files_[e.file].base_path.size() +
                                            files_[e.file].relative_path.size();
    sizes[i] = kLeafEntryFixedSize + e.key.size() + value_size;
    if (i > 0)
      common_prefix = std::min<uint64_t>(common_prefix, CommonPrefix(entries_[i - 1].key, e.key));
  }
  std::vector<size_t> ends = SplitLevel(sizes, common_prefix, 1, config_.max_decoded_node_bytes);
  const bool single = ends.size() == 1;
  std::vector<ChildNode> out;
  out.reserve(ends.size());
  size_t start = 0;
  for (size_t end : ends) {
    const std::string& first = entries_[start].key;
    const std::string& last = entries_[end - 1].key;
    const uint32_t excluded = single ? 0 : static_cast<uint32_t>(CommonPrefix(first, last));
    std::string first_key = first;
    BtreeNode node;
    node.height = 0;
    std::vector<uint32_t> files;
    for (size_t i = start; i < end; ++i) {
      if (!entries_[i].is_inline) files.push_back(entries_[i].file);
    }
    std::map<uint32_t, uint64_t> ids;
    node.data_files = NodeTable(std::move(files), &ids);
    BtreeStatistics stats;
    stats.num_keys = end - start;
    node.leaf_entries.reserve(end - start);
    for (size_t i = start; i < end; ++i) {
      Entry& e = entries_[i];
      LeafNodeEntry le;
      le.key = e.key.substr(excluded);
      le.value_length = e.length;
      if (e.is_inline) {
        le.kind = ValueKind::kInline;
        le.inline_value = std::move(e.value);
      } else {
        le.kind = ValueKind::kOutOfLine;
        le.location = {ids.at(e.file), e.offset, e.length};
        stats.num_indirect_value_bytes += e.length;
      }
      node.leaf_entries.push_back(std::move(le));
    }
    OCKPT_ASSIGN_OR_RETURN(ChildNode child, WriteNode(node, std::move(first_key), excluded, stats));
    out.push_back(std::move(child));
    start = end;
  }
  return out;
}

Result<std::vector<ChildNode>> OcdbtWriter::Impl::WriteInteriorLevel(
    std::vector<ChildNode> children, uint8_t height) {
  const size_t n = children.size();
  std::vector<uint64_t> sizes(n);
  uint64_t common_prefix = children[0].key.size();
  for (size_t i = 0; i < n; ++i) {
    const ChildNode& c = children[i];
    sizes[i] = kInteriorEntryFixedSize + c.key.size() + files_[c.file].base_path.size() +
               files_[c.file].relative_path.size();
    if (i > 0)
      common_prefix = std::min<uint64_t>(common_prefix, CommonPrefix(children[i - 1].key, c.key));
  }
  std::vector<size_t> ends = SplitLevel(sizes, common_prefix, 2, config_.max_decoded_node_bytes);
  const bool single = ends.size() == 1;
  std::vector<ChildNode> out;
  out.reserve(ends.size());
  size_t start = 0;
  for (size_t end : ends) {
    uint32_t excluded = 0;
    if (!single) {
      size_t e = CommonPrefix(children[start].key, children[end - 1].key);
      for (size_t i = start; i < end; ++i) e = std::min<size_t>(e, children[i].excluded);
      excluded = static_cast<uint32_t>(e);
    }
    BtreeNode node;
    node.height = height;
    std::vector<uint32_t> files;
    for (size_t i = start; i < end; ++i) files.push_back(children[i].file);
    std::map<uint32_t, uint64_t> ids;
    node.data_files = NodeTable(std::move(files), &ids);
    BtreeStatistics stats;
    node.interior_entries.reserve(end - start);
    for (size_t i = start; i < end; ++i) {
      const ChildNode& c = children[i];
      InteriorNodeEntry ie;
      ie.key = c.key.substr(excluded);
      ie.subtree_common_prefix_length = c.excluded - excluded;
      ie.child = {ids.at(c.file), c.offset, c.length};
      ie.statistics = c.statistics;
      stats.num_keys += c.statistics.num_keys;
      stats.num_tree_bytes += c.statistics.num_tree_bytes;
      stats.num_indirect_value_bytes += c.statistics.num_indirect_value_bytes;
      node.interior_entries.push_back(std::move(ie));
    }
    OCKPT_ASSIGN_OR_RETURN(ChildNode child, WriteNode(node, children[start].key, excluded, stats));
    out.push_back(std::move(child));
    start = end;
  }
  return out;
}

Status OcdbtWriter::Impl::WriteManifest(const Manifest& manifest) {
  OCKPT_ASSIGN_OR_RETURN(Bytes blob, EncodeManifest(manifest));
  const std::string final_path = JoinPath(dir_, kManifestFileName);
  OCKPT_ASSIGN_OR_RETURN(std::string hex, RandomHex16());
  const std::string temp_path = final_path + ".tmp-" + hex;
  if (!HasAtomicRename(final_path)) {  // an object store: one PUT, nothing to link
    if (PathExists(final_path)) {
      return AlreadyExistsError("{} already exists; an OCDBT database is written only once", final_path);
    }
    return WriteFile(final_path, blob);
  }
  if (Status s = WriteFile(temp_path, blob, options_.sync); !s.ok()) {
    ::unlink(temp_path.c_str());
    return s;
  }
  // link() refuses to replace an existing manifest, unlike rename().
  Status published;
  if (::link(temp_path.c_str(), final_path.c_str()) == 0) {
    ::unlink(temp_path.c_str());
  } else if (errno == EEXIST) {
    ::unlink(temp_path.c_str());
    return AlreadyExistsError("{} already exists; an OCDBT database is written only once",
                              final_path);
  } else {
    // File systems without hard links: check, then rename.
    if (PathExists(final_path)) {
      ::unlink(temp_path.c_str());
      return AlreadyExistsError("{} already exists; an OCDBT database is written only once",
                                final_path);
    }
    published = RenamePath(temp_path, final_path);
  }
  OCKPT_RETURN_IF_ERROR(published);
  if (options_.sync) OCKPT_RETURN_IF_ERROR(SyncDirectory(dir_));
  return Status::Ok();
}

Status OcdbtWriter::Impl::CommitImpl(uint64_t commit_time_ns) {
  const std::string manifest_path = JoinPath(dir_, kManifestFileName);
  if (PathExists(manifest_path)) {
    return AlreadyExistsError("{} already exists; an OCDBT database is written only once",
                              manifest_path);
  }
  if (commit_time_ns > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgumentError("commit time {} ns is past INT64_MAX", commit_time_ns);
  }
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.key < b.key; });
  for (size_t i = 1; i < entries_.size(); ++i) {
    if (entries_[i - 1].key == entries_[i].key) {
      return InvalidArgumentError("key \"{}\" was put more than once", EscapeKey(entries_[i].key));
    }
  }

  BtreeGenerationReference version;
  version.generation = 1;
  version.commit_time_ns = commit_time_ns;
  Manifest manifest;
  manifest.config = config_;
  if (entries_.empty()) {
    // The empty tree: a missing root whose file id is the empty path.
    manifest.data_files = {DataFileId{}};
    version.root = {0, IndirectDataReference::kMissing, IndirectDataReference::kMissing};
  } else {
    OCKPT_ASSIGN_OR_RETURN(std::vector<ChildNode> level, WriteLeaves());
    entries_.clear();
    entries_.shrink_to_fit();
    uint8_t height = 0;
    while (level.size() > 1) {
      if (height == 255) return InternalError("B+tree would be higher than 255 levels");
      ++height;
      OCKPT_ASSIGN_OR_RETURN(level, WriteInteriorLevel(std::move(level), height));
    }
    const ChildNode& root = level.front();
    manifest.data_files = {files_[root.file]};
    version.root_height = height;
    version.root = {0, root.offset, root.length};
    version.statistics = root.statistics;
  }
  manifest.versions = {version};

  // Every value has ended: no file is taken.
  std::vector<std::unique_ptr<OpenFile>> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    open.swap(idle_);
  }
  for (std::unique_ptr<OpenFile>& file : open) OCKPT_RETURN_IF_ERROR(FinishDataFile(std::move(file)));
  // A flush that failed may have been the one the kernel told.
  OCKPT_RETURN_IF_ERROR(flusher_.Wait());
  if (options_.sync && made_data_dir_) {
    OCKPT_RETURN_IF_ERROR(SyncDirectory(JoinPath(dir_, kDataDir)));
    OCKPT_RETURN_IF_ERROR(SyncDirectory(dir_));
  }
  return WriteManifest(manifest);
}

Status OcdbtWriter::Impl::Commit(uint64_t commit_time_ns) {
  OCKPT_RETURN_IF_ERROR(CheckUsable());
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed_ = true;
  }
  Status s = CommitImpl(commit_time_ns);
  if (!s.ok()) {
    // Leave nothing open; the data files written so far are orphans.
    std::lock_guard<std::mutex> lock(mu_);
    idle_.clear();
    error_ = s.WithContext(fmt::format("committing OCDBT database {}", dir_));
    return error_;
  }
  return Status::Ok();
}

// --- OcdbtWriter ---

OcdbtWriter::OcdbtWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OcdbtWriter::~OcdbtWriter() = default;

Result<std::unique_ptr<OcdbtWriter>> OcdbtWriter::Create(const std::string& dir,
                                                         const WriterOptions& options) {
  if (options.max_inline_value_bytes > kMaxInlineValueBytesLimit) {
    return InvalidArgumentError("max_inline_value_bytes {} exceeds the limit of {}",
                                options.max_inline_value_bytes, kMaxInlineValueBytesLimit);
  }
  if (options.version_tree_arity_log2 < 1 || options.version_tree_arity_log2 > 16) {
    return InvalidArgumentError("version_tree_arity_log2 is {}, expected 1..16",
                                options.version_tree_arity_log2);
  }
  if (options.compress_nodes &&
      (options.zstd_level < kMinZstdLevel || options.zstd_level > kMaxZstdLevel)) {
    return InvalidArgumentError("zstd level {} is outside {}..{}", options.zstd_level,
                                kMinZstdLevel, kMaxZstdLevel);
  }
  if (options.target_data_file_size == 0) {
    return InvalidArgumentError("target_data_file_size must be positive");
  }
  const std::string manifest_path = JoinPath(dir, kManifestFileName);
  if (PathExists(manifest_path)) {
    return AlreadyExistsError("{} already exists; an OCDBT database is written only once",
                              manifest_path);
  }
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));
  Config config;
  OCKPT_RETURN_IF_ERROR(RandomBytes(config.uuid.data(), config.uuid.size()));
  config.manifest_kind = ManifestKind::kSingle;
  config.max_inline_value_bytes = options.max_inline_value_bytes;
  config.max_decoded_node_bytes = options.max_decoded_node_bytes;
  config.version_tree_arity_log2 = options.version_tree_arity_log2;
  config.compression = options.compress_nodes ? CompressionMethod::kZstd : CompressionMethod::kNone;
  config.zstd_level = options.compress_nodes ? options.zstd_level : 0;
  return std::unique_ptr<OcdbtWriter>(
      new OcdbtWriter(std::make_unique<Impl>(dir, options, config)));
}

Status OcdbtWriter::Put(std::string key, ByteView value) {
  return impl_->Put(std::move(key), value);
}

Status OcdbtWriter::PutStreamed(
    std::string key, uint64_t size_bound,
    const std::function<Status(const std::function<Status(ByteView)>& append)>& produce) {
  return impl_->PutStreamed(std::move(key), size_bound, produce);
}

Status OcdbtWriter::PutReference(std::string key, std::string base_path, std::string relative_path,
                                 uint64_t offset, uint64_t length) {
  return impl_->PutReference(std::move(key), std::move(base_path), std::move(relative_path), offset,
                             length);
}

Status OcdbtWriter::Commit(uint64_t commit_time_ns) { return impl_->Commit(commit_time_ns); }

// --- merge ---

Status WriteMergedRoot(const std::string& item_dir, const std::string& child_rel,
                       uint64_t commit_time_ns, const WriterOptions& options) {
  return WriteMergedRoot(item_dir, std::vector<std::string>{child_rel}, commit_time_ns, options);
}

Status WriteMergedRoot(const std::string& item_dir, const std::vector<std::string>& children_rel,
                       uint64_t commit_time_ns, const WriterOptions& options) {
  std::vector<std::string> children;
  for (const std::string& rel : children_rel) {
    std::string child = rel;
    while (!child.empty() && child.back() == '/') child.pop_back();
    if (!IsSafeRelativeKey(child)) {
      return InvalidArgumentError("child database path \"{}\" is not a safe relative path", EscapeKey(rel));
    }
    children.push_back(std::move(child));
  }
  std::string what = children.size() == 1 ? JoinPath(item_dir, children[0])
                                          : fmt::format("{} process databases", children.size());
  auto merge = [&]() -> Status {
    // Every child is read before the root is begun (a missing one leaves
    // nothing behind).
    std::vector<std::vector<EntryInfo>> listed;
    for (const std::string& child : children) {
      OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<OcdbtKvStore> store, OcdbtKvStore::Open(JoinPath(item_dir, child)));
      OCKPT_ASSIGN_OR_RETURN(std::vector<EntryInfo> entries, store->ListEntries(""));
      listed.push_back(std::move(entries));
    }
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<OcdbtWriter> writer, OcdbtWriter::Create(item_dir, options));
    for (size_t i = 0; i < children.size(); ++i) {
      const std::string& child = children[i];
      for (EntryInfo& e : listed[i]) {
        if (e.is_inline) {
          OCKPT_RETURN_IF_ERROR(writer->Put(std::move(e.key), e.inline_value));
        } else {
          // The child's value stays where it is: the root names its file
          // through the child's directory (base path "<child>/").
          auto [base, relative] = SplitDataFilePath(e.file);
          OCKPT_RETURN_IF_ERROR(writer->PutReference(std::move(e.key), child + "/" + base,
                                                     std::move(relative), e.offset, e.size));
        }
      }
    }
    return writer->Commit(commit_time_ns);
  };
  return merge().WithContext(fmt::format("merging {} into {}", what, item_dir));
}

}  // namespace ockpt::ocdbt
