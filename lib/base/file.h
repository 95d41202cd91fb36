// POSIX file helpers that return Status values. Paths are std::string; every
// error names the path. Reads are bounded by the file size.

#ifndef OCKPT_LIB_BASE_FILE_H_
#define OCKPT_LIB_BASE_FILE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/bytes.h"

namespace ockpt {

// Remote paths (docs/remote.md): every function below also takes an
// s3://, gs://, http:// or https:// URL and hands it to lib/remote
// (objects are files, key prefixes directories). IsRemotePath is the one
// test of what is a URL.
bool IsRemotePath(std::string_view path);
// False for object stores: there a step is committed by its
// commit_success.txt marker (written last), not by a rename.
bool HasAtomicRename(std::string_view path);

// Joins path components with '/' (b absolute -> b; empty parts skipped).
std::string JoinPath(std::string_view a, std::string_view b);
std::string Basename(std::string_view path);
std::string Dirname(std::string_view path);

bool PathExists(const std::string& path);
// kOk when path exists, kNotFound when not; for a URL also the store's
// failure (server gone: kIoError), which PathExists cannot tell apart.
Status CheckExists(const std::string& path);
// For a path found absent: `absent` (the caller's own message), unless the
// path is a URL whose store failed; then that failure (exit 6, not 3).
Status MissingPathError(const std::string& path, Status absent);
bool IsDirectory(const std::string& path);
bool IsRegularFile(const std::string& path);
// "a FIFO", "a socket", ... for a st_mode that is not a regular file.
const char* FileTypeName(unsigned mode);
// kOk for a regular file (after symlinks); a FIFO, socket or device is
// kDataLoss (reading it could block forever), a directory kNotFound. For
// readers that open files through a third-party library (libzip, HDF5);
// RandomAccessFile::Open does the same check itself, without blocking.
Status CheckRegularFile(const std::string& path);

Result<uint64_t> FileSize(const std::string& path);
// Modification time in nanoseconds since the Unix epoch.
Result<int64_t> ModTimeNs(const std::string& path);

// Whole file; fails with kDataLoss when it is larger than max_size.
Result<Bytes> ReadFile(const std::string& path, uint64_t max_size = uint64_t{1} << 32);
// Exactly `length` bytes at `offset`; a short file is kDataLoss.
Result<Bytes> ReadFileRange(const std::string& path, uint64_t offset, uint64_t length);

// Names in a directory (not . and ..), sorted bytewise.
Result<std::vector<std::string>> ListDirectory(const std::string& path);

// One level of a directory with types (symlinks followed; entries that are
// neither files nor directories left out), sorted by name. For URLs the
// sizes and times come with the listing.
struct DirEntryInfo {
  std::string name;
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
Result<std::vector<DirEntryInfo>> ListDirectoryEntries(const std::string& path);
// Every regular file below path, as a relative path with size and time,
// sorted (symlinks followed, loops skipped).
Result<std::vector<DirEntryInfo>> ListFilesRecursive(const std::string& path);

// The one directory walk for sources (a .npy directory, ...): visits every
// non-directory entry under `root` (after symlinks) with its path components
// relative to root, depth first in sorted order. Symbolic links are followed,
// except into a directory that is already on the current path (a loop: the
// same device and inode); each such link is skipped and described in
// *skipped. Deeper than max_depth directories: kDataLoss.
struct WalkOptions {
  int max_depth = 64;
};
Status WalkTree(const std::string& root,
                const std::function<Status(const std::vector<std::string>& components,
                                           const std::string& path)>& visit,
                std::vector<std::string>* skipped, const WalkOptions& options = {});

// Whether `path` resolves (realpath, all symlinks) to `root` or below it.
// kNotFound when either does not exist.
Result<bool> ResolvesInside(const std::string& path, const std::string& root);

// Confinement of a checkpoint's own files (docs/design.md, "Hostile input"):
// by default a data or metadata file that a checkpoint names by a relative
// path must resolve (through any symbolic links) inside the directory that
// names it. SetAllowExternalLinks(true) (`--allow-external-links`) lifts
// this for trusted layouts whose files are links elsewhere. Process-wide.
void SetAllowExternalLinks(bool allow);
bool AllowExternalLinks();
// kDataLoss when root/rel passes through a symbolic link that leads outside
// root (and external links are not allowed); kOk otherwise, also when the
// file is absent (its open then says so). Costs one lstat per component of
// rel when no link is involved.
Status CheckConfined(const std::string& root, std::string_view rel);
// ReadFile of a checkpoint's own file (metadata, side files): the file must
// not be a symbolic link leading out of the directory it sits in, unless
// external links are allowed (CheckConfined).
Result<Bytes> ReadFileConfined(const std::string& path, uint64_t max_size = uint64_t{1} << 32);

// Creates the directory and its parents.
Status MakeDirectories(const std::string& path);
// Writes the whole file (truncating), optionally fsyncing it.
Status WriteFile(const std::string& path, ByteView data, bool sync = false);
Status SyncDirectory(const std::string& path);
Status RenamePath(const std::string& from, const std::string& to);
Status RemoveAll(const std::string& path);
// fsyncs every regular file and directory below (and including) path.
Status SyncTree(const std::string& path);
// Sum of the sizes of all regular files below path.
Result<uint64_t> DiskUsage(const std::string& path);

// A file opened for reading with pread; closes on destruction.
class RandomAccessFile {
 public:
  static Result<RandomAccessFile> Open(const std::string& path);
  RandomAccessFile(RandomAccessFile&& other) noexcept;
  RandomAccessFile& operator=(RandomAccessFile&& other) noexcept;
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;
  ~RandomAccessFile();

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Exactly `length` bytes at `offset`, or kDataLoss naming the file.
  Result<Bytes> Read(uint64_t offset, uint64_t length) const;
  // The same into caller memory (no allocation, no zero fill).
  Status ReadInto(uint64_t offset, size_t length, char* dst) const;
  // The same handed to `sink` in pieces as they arrive: for a URL one
  // ranged GET written through (no buffer of the range's size); for a local
  // file pieces of at most 1 MiB.
  Status ReadTo(uint64_t offset, uint64_t length, const ByteRangeSink& sink) const;

 private:
  RandomAccessFile(int fd, uint64_t size, std::string path, bool remote = false)
      : fd_(fd), size_(size), path_(std::move(path)), remote_(remote) {}
  friend class WritableFile;  // CopyFrom
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
  bool remote_ = false;  // path_ is a URL: reads are ranged GETs
};

// A file opened for writing; WriteAt uses pwrite. A URL is written to a
// local spool file and uploaded by Close(). Close() reports errors;
// the destructor closes silently.
class WritableFile {
 public:
  // Creates or truncates.
  static Result<WritableFile> Create(const std::string& path);
  WritableFile(WritableFile&& other) noexcept;
  WritableFile& operator=(WritableFile&& other) noexcept;
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;
  ~WritableFile();

  const std::string& path() const { return path_; }
  Status Append(ByteView data);
  Status WriteAt(uint64_t offset, ByteView data);
  Status Truncate(uint64_t size);
  // Copies n bytes at src_offset of src to offset of this file inside the
  // kernel (copy_file_range: no copy through user memory; a reflink where
  // the file system shares extents). kUnimplemented, with nothing written,
  // when the kernel or file systems cannot, or when the two offsets differ
  // within a page, where the kernel's copy is slower than the caller's
  // (the caller copies itself);
  // other failures as WriteAt's, and a source that ends early is kDataLoss.
  Status CopyFrom(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset, uint64_t n);
  // Starts writing bytes [offset, offset + length) to the device without
  // waiting (sync_file_range), so that a later Sync has less left to do.
  Status StartWriteback(uint64_t offset, uint64_t length);
  Status Sync();
  Status Close();

 private:
  WritableFile(int fd, std::string path, std::string spool = "")
      : fd_(fd), path_(std::move(path)), spool_(std::move(spool)) {}
  friend class BackgroundSync;  // flushes a duplicate of fd_
  int fd_ = -1;
  uint64_t append_pos_ = 0;
  std::string path_;
  // For a URL: the local file the object is written to first; Close()
  // uploads it (multipart when large) and removes it.
  std::string spool_;
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_FILE_H_
