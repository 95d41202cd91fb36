// KvStore defaults and FileKvStore.

#include "lib/kvstore/kvstore.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "lib/base/file.h"

namespace ockpt {

Result<bool> KvStore::Contains(std::string_view key) const {
  auto r = Read(key);
  if (r.ok()) return true;
  if (r.status().code() == StatusCode::kNotFound) return false;
  return r.status();
}

Result<std::unique_ptr<ValueReader>> KvStore::OpenValue(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(Bytes value, Read(key));
  return std::unique_ptr<ValueReader>(new MemoryValueReader(std::move(value)));
}

std::vector<Result<Bytes>> KvStore::ReadMany(const std::vector<std::string>& keys) const {
  std::vector<Result<Bytes>> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) out.push_back(Read(key));
  return out;
}

Status MemoryValueReader::ReadAt(uint64_t offset, size_t n, char* dst) const {
  if (offset > data_.size() || n > data_.size() - offset) {
    return DataLossError("cannot read {} bytes at offset {} of a {}-byte value", n, offset,
                         data_.size());
  }
  std::memcpy(dst, data_.data() + offset, n);
  return Status::Ok();
}

namespace {

// A byte range of a file: a whole file of a FileKvStore, or an OCDBT value
// inside a data file.
class FileRangeReader final : public ValueReader {
 public:
  FileRangeReader(std::shared_ptr<const RandomAccessFile> file, uint64_t offset, uint64_t size)
      : file_(std::move(file)), offset_(offset), size_(size) {}
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return DataLossError("cannot read {} bytes at offset {} of a {}-byte value in {}", n, offset,
                           size_, file_->path());
    }
    return file_->ReadInto(offset_ + offset, n, dst);
  }
  const RandomAccessFile* file(uint64_t* offset) const override {
    *offset = offset_;
    return file_.get();
  }

 private:
  std::shared_ptr<const RandomAccessFile> file_;
  uint64_t offset_, size_;
};

}  // namespace

std::unique_ptr<ValueReader> MakeFileRangeReader(std::shared_ptr<const RandomAccessFile> file,
                                                 uint64_t offset, uint64_t size) {
  return std::make_unique<FileRangeReader>(std::move(file), offset, size);
}

bool IsSafeRelativeKey(std::string_view key) {
  if (key.empty() || key.front() == '/') return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view part = key.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (part.find('\0') != std::string_view::npos) return false;
    start = end + 1;
  }
  return true;
}

Result<std::string> FileKvStore::PathOf(std::string_view key) const {
  if (!IsSafeRelativeKey(key)) {
    // Keys come from checkpoint data: an unsafe one is corrupt data.
    return DataLossError("key '{}' is not a safe relative path under {}", key, root_);
  }
  OCKPT_RETURN_IF_ERROR(CheckConfined(root_, key));
  return JoinPath(root_, key);
}

Result<Bytes> FileKvStore::Read(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  return ReadFile(path);
}

Result<std::unique_ptr<ValueReader>> FileKvStore::OpenValue(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  OCKPT_ASSIGN_OR_RETURN(RandomAccessFile file, RandomAccessFile::Open(path));
  auto shared = std::make_shared<const RandomAccessFile>(std::move(file));
  const uint64_t size = shared->size();
  return MakeFileRangeReader(std::move(shared), 0, size);
}

Result<bool> FileKvStore::Contains(std::string_view key) const {
  OCKPT_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  return IsRegularFile(path);
}

Result<std::vector<KeyInfo>> FileKvStore::List(std::string_view prefix) const {
  std::vector<KeyInfo> out;
  if (IsRemotePath(root_)) {
    OCKPT_ASSIGN_OR_RETURN(std::vector<DirEntryInfo> files, ListFilesRecursive(root_));
    for (DirEntryInfo& f : files) {
      if (f.name.compare(0, prefix.size(), prefix) == 0) out.push_back({std::move(f.name), f.size});
    }
    return out;
  }
  std::error_code ec;
  std::filesystem::path root(root_);
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_regular_file(ec2)) continue;
    std::string key = it->path().lexically_relative(root).generic_string();
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    out.push_back({std::move(key), it->file_size(ec2)});
  }
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      return NotFoundError("{} does not exist", root_);
    return IoError("cannot list {}: {}", root_, ec.message());
  }
  std::sort(out.begin(), out.end(),
            [](const KeyInfo& a, const KeyInfo& b) { return a.key < b.key; });
  return out;
}

}  // namespace ockpt
