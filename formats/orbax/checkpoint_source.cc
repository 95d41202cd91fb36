// A checkpoint's PyTree item as a CheckpointSource (for re-layout saves).
// Arrays are staged, one at a time, through an unnamed temporary file: the
// zarr reader scatters chunks into it and the writer gathers from it, so
// memory stays bounded by a chunk whatever the two chunkings are.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "formats/npy/npy_dir.h"
#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/save.h"
#include "lib/base/file.h"

namespace ockpt::orbax {
namespace {

// An anonymous file used as both ArrayWriter and ArraySource.
class StagingFile final : public ArrayWriter, public ArraySource {
 public:
  static Result<std::unique_ptr<StagingFile>> Create(uint64_t size) {
    std::string dir = std::filesystem::temp_directory_path().string();
    std::string tmpl = dir + "/ockpt-stage-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return StatusFromErrno(errno, "create staging file in", dir);
    ::unlink(tmpl.c_str());
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      int err = errno;
      ::close(fd);
      return StatusFromErrno(err, "size staging file in", dir);
    }
    return std::unique_ptr<StagingFile>(new StagingFile(fd, size));
  }
  ~StagingFile() override { ::close(fd_); }

  Status WriteAt(uint64_t offset, ByteView data) override {
    if (offset > size_ || data.size() > size_ - offset) return InternalError("staging write out of range");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, offset + done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "write", "staging file");
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) return InternalError("staging read out of range");
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, dst + done, n - done, offset + done);
      if (r < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "read", "staging file");
      }
      if (r == 0) return InternalError("staging file ended early");
      done += static_cast<size_t>(r);
    }
    return Status::Ok();
  }

 private:
  StagingFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  int fd_;
  uint64_t size_;
};

class CheckpointItemSource final : public CheckpointSource {
 public:
  CheckpointItemSource(Checkpoint ckpt, size_t index) : ckpt_(std::move(ckpt)), index_(index) {}
  const std::vector<LeafRecord>& leaves() const override { return item().leaves(); }
  const Json& custom_metadata() const override { return item().custom_metadata(); }
  std::string Describe() const override { return item().dir(); }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    return item().OpenLeafSource(i);
  }

 private:
  const PyTreeItem& item() const { return *ckpt_.items[index_].pytree; }
  Checkpoint ckpt_;
  size_t index_;
};

}  // namespace

Result<std::unique_ptr<CheckpointSource>> OpenSource(const std::string& path,
                                                     const std::optional<std::string>& item) {
  if (!PathExists(path)) return NotFoundError("source {} does not exist", path);
  if (!IsDirectory(path)) {
    return UnimplementedError("source {}: only .npy directories and checkpoints are supported so far", path);
  }
  bool npy_dir = IsRegularFile(JoinPath(path, "_tree.json")) ||
                 !(LooksLikeItem(path) || LooksLikeCheckpoint(path) || LooksLikeRoot(path));
  if (npy_dir) return npy::OpenNpyDirectory(path);
  OpenOptions open;
  open.item = item;
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(path, open));
  std::vector<size_t> pytrees;
  for (size_t i = 0; i < ckpt.items.size(); ++i) {
    if (ckpt.items[i].kind == ItemKind::kPyTree) pytrees.push_back(i);
  }
  if (pytrees.empty()) return NotFoundError("source {} holds no PyTree item", path);
  if (pytrees.size() > 1) {
    // A manager step: prefer its "default" item.
    auto it = std::find_if(pytrees.begin(), pytrees.end(),
                           [&](size_t i) { return ckpt.items[i].name == "default"; });
    if (it == pytrees.end()) {
      return InvalidArgumentError("source {} holds several PyTree items; pick one with NAME=SRC --item", path);
    }
    pytrees = {*it};
  }
  const ItemEntry& e = ckpt.items[pytrees[0]];
  if (!e.pytree) return e.error;
  if (!e.pytree->leaf_error().ok()) return e.pytree->leaf_error();
  return std::unique_ptr<CheckpointSource>(new CheckpointItemSource(std::move(ckpt), pytrees[0]));
}

}  // namespace ockpt::orbax
