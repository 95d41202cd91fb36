// POSIX implementation of lib/base/file.h.

#include "lib/base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "lib/remote/remote_fs.h"
#include "lib/remote/object_store.h"

namespace ockpt {

bool IsRemotePath(std::string_view path) { return remote::IsUrl(path); }
bool HasAtomicRename(std::string_view path) { return !IsRemotePath(path); }

namespace {
// A URL's stat; a failed store reads as absent (its next Status-returning
// call reports the failure: the client fails fast once a server is gone).
remote::PathStat RemoteStat(const std::string& path) {
  auto s = remote::Stat(path);
  return s.ok() ? *s : remote::PathStat{};
}
}  // namespace

Status MissingPathError(const std::string& path, Status absent) {
  if (IsRemotePath(path)) {
    Status s = CheckExists(path);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  return absent;
}

Status CheckExists(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(remote::PathStat s, remote::Stat(path));
    if (!s.exists) return NotFoundError("{} does not exist", path);
    return Status::Ok();
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFoundError("{} does not exist", path);
    return StatusFromErrno(errno, "stat", path);
  }
  return Status::Ok();
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  if (b.front() == '/') return std::string(b);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

std::string Basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string Dirname(std::string_view path) {
  if (IsRemotePath(path)) {  // never above scheme://bucket
    size_t root = path.find("://") + 3;
    size_t first = path.find('/', root);
    while (path.size() > root && path.back() == '/') path.remove_suffix(1);
    if (first == std::string_view::npos || path.size() <= first) return std::string(path);
  }
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

bool PathExists(const std::string& path) {
  if (IsRemotePath(path)) return RemoteStat(path).exists;
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  if (IsRemotePath(path)) return RemoteStat(path).is_dir;
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsRegularFile(const std::string& path) {
  if (IsRemotePath(path)) {
    remote::PathStat s = RemoteStat(path);
    return s.exists && !s.is_dir;
  }
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

const char* FileTypeName(unsigned mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

Status CheckRegularFile(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(remote::PathStat s, remote::Stat(path));
    if (!s.exists) return NotFoundError("{} does not exist", path);
    if (s.is_dir) return NotFoundError("{} is a directory, expected a file", path);
    return Status();
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return StatusFromErrno(errno, "stat", path);
  if (S_ISDIR(st.st_mode)) return NotFoundError("{} is a directory, expected a file", path);
  if (!S_ISREG(st.st_mode)) {
    return DataLossError("{} is not a regular file ({}), refusing to read it", path,
                         FileTypeName(st.st_mode));
  }
  return Status();
}

Result<uint64_t> FileSize(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_RETURN_IF_ERROR(CheckRegularFile(path));
    return remote::Stat(path)->size;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return StatusFromErrno(errno, "stat", path);
  return static_cast<uint64_t>(st.st_size);
}

Result<int64_t> ModTimeNs(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(remote::PathStat s, remote::Stat(path));
    if (!s.exists) return NotFoundError("{} does not exist", path);
    return s.mtime_ns;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return StatusFromErrno(errno, "stat", path);
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

Result<Bytes> ReadFile(const std::string& path, uint64_t max_size) {
  if (IsRemotePath(path)) return remote::ReadFile(path, max_size);
  OCKPT_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(path));
  if (f.size() > max_size) {
    return DataLossError("{} is {} bytes, more than the {} allowed", path, f.size(), max_size);
  }
  return f.Read(0, f.size());
}

Result<Bytes> ReadFileRange(const std::string& path, uint64_t offset, uint64_t length) {
  OCKPT_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(path));
  return f.Read(offset, length);
}

Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(std::vector<remote::DirEntry> entries, remote::ListDir(path));
    std::vector<std::string> names;
    for (auto& e : entries) names.push_back(std::move(e.name));
    return names;
  }
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return StatusFromErrno(errno, "opendir", path);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<DirEntryInfo>> ListDirectoryEntries(const std::string& path) {
  std::vector<DirEntryInfo> out;
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(std::vector<remote::DirEntry> entries, remote::ListDir(path));
    for (auto& e : entries) out.push_back(DirEntryInfo{std::move(e.name), e.is_dir, e.size, e.mtime_ns});
    return out;
  }
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return StatusFromErrno(errno, "opendir", path);
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    unsigned char type = e->d_type;
    struct stat st;
    bool have_stat = false;
    if (type == DT_UNKNOWN || type == DT_LNK) {
      if (::stat(JoinPath(path, n).c_str(), &st) != 0) continue;
      have_stat = true;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (type != DT_DIR && type != DT_REG) continue;
    DirEntryInfo info{std::move(n), type == DT_DIR, 0, 0};
    if (have_stat) {
      info.size = static_cast<uint64_t>(st.st_size);
      info.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    }
    out.push_back(std::move(info));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const DirEntryInfo& a, const DirEntryInfo& b) { return a.name < b.name; });
  return out;
}

Result<std::vector<DirEntryInfo>> ListFilesRecursive(const std::string& path) {
  std::vector<DirEntryInfo> out;
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(std::vector<remote::DirEntry> entries, remote::ListTree(path));
    for (auto& e : entries) out.push_back(DirEntryInfo{std::move(e.name), false, e.size, e.mtime_ns});
    return out;
  }
  std::vector<std::string> skipped;
  OCKPT_RETURN_IF_ERROR(WalkTree(
      path,
      [&](const std::vector<std::string>& components, const std::string& file) -> Status {
        struct stat st;
        if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Status::Ok();
        std::string rel;
        for (const std::string& c : components) rel = rel.empty() ? c : rel + "/" + c;
        out.push_back(DirEntryInfo{std::move(rel), false, static_cast<uint64_t>(st.st_size),
                                   int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec});
        return Status::Ok();
      },
      &skipped));
  std::sort(out.begin(), out.end(), [](const DirEntryInfo& a, const DirEntryInfo& b) { return a.name < b.name; });
  return out;
}

namespace {

struct DirId {
  dev_t dev;
  ino_t ino;
};

// Directories one walk may enter: links to sibling directories (not loops)
// can still multiply the tree; this bounds the work.
constexpr size_t kMaxWalkDirectories = size_t{1} << 20;

Status WalkDir(const std::string& dir, std::vector<std::string>& components,
               std::vector<DirId>& on_path, size_t& entered,
               const std::function<Status(const std::vector<std::string>&, const std::string&)>& visit,
               std::vector<std::string>* skipped, const WalkOptions& options) {
  if (static_cast<int>(on_path.size()) > options.max_depth) {
    return DataLossError("{}: directories nested more than {} deep", dir, options.max_depth);
  }
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));
  for (const std::string& n : names) {
    std::string path = JoinPath(dir, n);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      // A dangling link or a vanished entry: the visitor reports it if it
      // cares (opening it fails with the reason).
      components.push_back(n);
      Status s = visit(components, path);
      components.pop_back();
      OCKPT_RETURN_IF_ERROR(s);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      bool loop = false;
      for (const DirId& d : on_path) loop |= d.dev == st.st_dev && d.ino == st.st_ino;
      if (loop) {
        if (skipped) skipped->push_back(fmt::format("{}: skipped, a link back to a directory above it", path));
        continue;
      }
      if (++entered > kMaxWalkDirectories) {
        return DataLossError("{}: more than {} directories to walk (links that multiply the tree?)",
                             path, kMaxWalkDirectories);
      }
      components.push_back(n);
      on_path.push_back({st.st_dev, st.st_ino});
      Status s = WalkDir(path, components, on_path, entered, visit, skipped, options);
      on_path.pop_back();
      components.pop_back();
      OCKPT_RETURN_IF_ERROR(s);
      continue;
    }
    components.push_back(n);
    Status s = visit(components, path);
    components.pop_back();
    OCKPT_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

}  // namespace

Status WalkTree(const std::string& root,
                const std::function<Status(const std::vector<std::string>&, const std::string&)>& visit,
                std::vector<std::string>* skipped, const WalkOptions& options) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return StatusFromErrno(errno, "stat", root);
  if (!S_ISDIR(st.st_mode)) return NotFoundError("{} is not a directory", root);
  std::vector<std::string> components;
  std::vector<DirId> on_path{{st.st_dev, st.st_ino}};
  size_t entered = 0;
  return WalkDir(root, components, on_path, entered, visit, skipped, options);
}

Result<bool> ResolvesInside(const std::string& path, const std::string& root) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::canonical(path, ec);
  if (ec) return NotFoundError("{}: {}", path, ec.message());
  std::filesystem::path r = std::filesystem::canonical(root, ec);
  if (ec) return NotFoundError("{}: {}", root, ec.message());
  std::string ps = p.string(), rs = r.string();
  if (ps == rs) return true;
  if (rs.empty() || rs.back() != '/') rs += '/';
  return ps.compare(0, rs.size(), rs) == 0;
}

namespace {
std::atomic<bool> g_allow_external_links{false};
}  // namespace

void SetAllowExternalLinks(bool allow) { g_allow_external_links.store(allow); }
bool AllowExternalLinks() { return g_allow_external_links.load(); }

Status CheckConfined(const std::string& root, std::string_view rel) {
  if (AllowExternalLinks() || IsRemotePath(root)) return Status::Ok();  // object stores have no links
  std::string path = root;
  bool link = false;
  size_t start = 0;
  while (start < rel.size() && !link) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    path = JoinPath(path, rel.substr(start, end - start));
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return Status::Ok();  // absent: the open reports it
    link = S_ISLNK(st.st_mode);
    start = end + 1;
  }
  if (!link) return Status::Ok();
  std::string full = JoinPath(root, rel);
  auto inside = ResolvesInside(full, root);
  if (!inside.ok()) return Status::Ok();  // a dangling link: the open reports it
  if (!*inside) {
    return DataLossError(
        "{} is a symbolic link (or lies under one) that leads outside {}; refusing to follow it "
        "(links out of a checkpoint must be allowed explicitly)",
        full, root);
  }
  return Status::Ok();
}

Result<Bytes> ReadFileConfined(const std::string& path, uint64_t max_size) {
  OCKPT_RETURN_IF_ERROR(CheckConfined(Dirname(path), Basename(path)));
  return ReadFile(path, max_size);
}

Status MakeDirectories(const std::string& path) {
  if (IsRemotePath(path)) return Status::Ok();  // prefixes exist once an object is under them
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return IoError("cannot create directory {}: {}", path, ec.message());
  return Status::Ok();
}

Status WriteFile(const std::string& path, ByteView data, bool sync) {
  if (IsRemotePath(path)) return remote::WriteFile(path, data);
  OCKPT_ASSIGN_OR_RETURN(WritableFile f, WritableFile::Create(path));
  OCKPT_RETURN_IF_ERROR(f.Append(data));
  if (sync) OCKPT_RETURN_IF_ERROR(f.Sync());
  return f.Close();
}

Status SyncDirectory(const std::string& path) {
  if (IsRemotePath(path)) return Status::Ok();  // an object is durable once its PUT returns
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open directory", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return StatusFromErrno(err, "fsync", path);
  return Status::Ok();
}

Status RenamePath(const std::string& from, const std::string& to) {
  if (IsRemotePath(from) || IsRemotePath(to)) {
    return UnimplementedError("cannot rename {} to {}: object stores have no rename", from, to);
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return StatusFromErrno(errno, "rename to " + to + " from", from);
  }
  return Status::Ok();
}

Status RemoveAll(const std::string& path) {
  if (IsRemotePath(path)) return remote::RemoveAll(path);
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return IoError("cannot remove {}: {}", path, ec.message());
  return Status::Ok();
}

namespace {
Status SyncPath(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
  if (fd < 0) return StatusFromErrno(errno, "open", path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return StatusFromErrno(err, "fsync", path);
  return Status::Ok();
}
}  // namespace

Status SyncTree(const std::string& path) {
  if (IsRemotePath(path)) return Status::Ok();
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) {
      OCKPT_RETURN_IF_ERROR(SyncPath(it->path().string(), false));
    } else if (it->is_directory(ec2)) {
      OCKPT_RETURN_IF_ERROR(SyncPath(it->path().string(), true));
    }
  }
  if (ec) return IoError("cannot walk {}: {}", path, ec.message());
  return SyncPath(path, true);
}

Result<uint64_t> DiskUsage(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_ASSIGN_OR_RETURN(std::vector<DirEntryInfo> files, ListFilesRecursive(path));
    uint64_t total = 0;
    for (const auto& f : files) total += f.size;
    return total;
  }
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) total += it->file_size(ec2);
  }
  if (ec) return IoError("cannot walk {}: {}", path, ec.message());
  return total;
}

// --- RandomAccessFile ---

Result<RandomAccessFile> RandomAccessFile::Open(const std::string& path) {
  if (IsRemotePath(path)) {
    OCKPT_RETURN_IF_ERROR(CheckRegularFile(path));
    OCKPT_ASSIGN_OR_RETURN(remote::PathStat s, remote::Stat(path));
    return RandomAccessFile(-1, s.size, path, /*remote=*/true);
  }
  // O_NONBLOCK: a FIFO (or a device) in place of a data file must not block
  // the open; anything but a regular file is refused below, and the flag is
  // cleared for the reads of a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return StatusFromErrno(errno, "open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return StatusFromErrno(err, "stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return NotFoundError("{} is a directory, expected a file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return DataLossError("{} is not a regular file ({}), refusing to read it", path,
                         FileTypeName(st.st_mode));
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    int err = errno;
    ::close(fd);
    return StatusFromErrno(err, "fcntl", path);
  }
  return RandomAccessFile(fd, static_cast<uint64_t>(st.st_size), path);
}

RandomAccessFile::RandomAccessFile(RandomAccessFile&& o) noexcept
    : fd_(o.fd_), size_(o.size_), path_(std::move(o.path_)), remote_(o.remote_) {
  o.fd_ = -1;
}

RandomAccessFile& RandomAccessFile::operator=(RandomAccessFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    remote_ = o.remote_;
    o.fd_ = -1;
  }
  return *this;
}

RandomAccessFile::~RandomAccessFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Bytes> RandomAccessFile::Read(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset) {
    return DataLossError("{} is {} bytes; cannot read {} bytes at offset {}", path_, size_,
                         length, offset);
  }
  Bytes out = ReusedBytes(length);  // every byte is read into, or an error
  OCKPT_RETURN_IF_ERROR(ReadInto(offset, length, out.data()));
  return out;
}

Status RandomAccessFile::ReadTo(uint64_t offset, uint64_t length, const ByteRangeSink& sink) const {
  if (offset > size_ || length > size_ - offset) {
    return DataLossError("{} is {} bytes; cannot read {} bytes at offset {}", path_, size_,
                         length, offset);
  }
  if (remote_) return remote::ReadRangeTo(path_, offset, length, sink);
  const size_t piece = static_cast<size_t>(std::min<uint64_t>(length, uint64_t{1} << 20));
  std::unique_ptr<char[]> buffer(new char[piece + 1]);
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(piece, length - done));
    OCKPT_RETURN_IF_ERROR(ReadInto(offset + done, n, buffer.get()));
    OCKPT_RETURN_IF_ERROR(sink(done, ByteView(buffer.get(), n)));
    done += n;
  }
  return Status::Ok();
}

Status RandomAccessFile::ReadInto(uint64_t offset, size_t length, char* dst) const {
  if (offset > size_ || length > size_ - offset) {
    return DataLossError("{} is {} bytes; cannot read {} bytes at offset {}", path_, size_,
                         length, offset);
  }
  if (remote_) return remote::ReadRange(path_, offset, length, dst);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, dst + done, length - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return StatusFromErrno(errno, "read", path_);
    }
    if (n == 0) return DataLossError("{} ended early at offset {}", path_, offset + done);
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

// --- WritableFile ---

Result<WritableFile> WritableFile::Create(const std::string& path) {
  if (IsRemotePath(path)) {
    if (!remote::Writable(path)) return InvalidArgumentError("{}: http(s) URLs are read-only", path);
    const char* tmpdir = std::getenv("TMPDIR");
    std::string spool = std::string(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp") + "/ockpt-upload-XXXXXX";
    int fd = ::mkstemp(spool.data());
    if (fd < 0) return StatusFromErrno(errno, "create a spool file for", path);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return WritableFile(fd, path, spool);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return StatusFromErrno(errno, "create", path);
  return WritableFile(fd, path);
}

WritableFile::WritableFile(WritableFile&& o) noexcept
    : fd_(o.fd_), append_pos_(o.append_pos_), path_(std::move(o.path_)), spool_(std::move(o.spool_)) {
  o.fd_ = -1;
  o.spool_.clear();
}

WritableFile& WritableFile::operator=(WritableFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    if (!spool_.empty()) ::unlink(spool_.c_str());
    append_pos_ = o.append_pos_;
    path_ = std::move(o.path_);
    spool_ = std::move(o.spool_);
    o.spool_.clear();
    o.fd_ = -1;
  }
  return *this;
}

WritableFile::~WritableFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!spool_.empty()) ::unlink(spool_.c_str());  // never uploaded: no object
}

Status WritableFile::Append(ByteView data) {
  OCKPT_RETURN_IF_ERROR(WriteAt(append_pos_, data));
  append_pos_ += data.size();
  return Status::Ok();
}

Status WritableFile::WriteAt(uint64_t offset, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return StatusFromErrno(errno, "write", path_);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WritableFile::CopyFrom(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset,
                              uint64_t n) {
  // The kernel copies page by page of the source: when the two offsets sit
  // at different places within a page (a 128-byte .npy header, a chunk at
  // any offset of a data file), every destination page is written in two
  // parts, and measured on ext4 that is 30-40% slower than pread + pwrite
  // of 4 MiB pieces (docs/perf.md). The caller copies those itself.
  constexpr uint64_t kPage = 4096;
  if ((src_offset % kPage) != (offset % kPage)) {
    return UnimplementedError("copy_file_range from {} to {}: offsets {} and {} not aligned alike",
                              src.path(), path_, src_offset, offset);
  }
  uint64_t done = 0;
  while (done < n) {
    loff_t in = static_cast<loff_t>(src_offset + done), out = static_cast<loff_t>(offset + done);
    // At most 1 GiB per call (the kernel caps a call near 2 GiB anyway).
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, uint64_t{1} << 30));
    ssize_t got = ::copy_file_range(src.fd_, &in, fd_, &out, want, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // Not possible here (old kernel, across file systems, special files):
      // the caller copies. Only before the first byte: later failures are
      // real ones.
      if (done == 0 && (errno == ENOSYS || errno == EXDEV || errno == EINVAL ||
                        errno == EOPNOTSUPP || errno == EBADF)) {
        return UnimplementedError("copy_file_range from {} to {}: {}", src.path(), path_,
                                  std::strerror(errno));
      }
      return StatusFromErrno(errno, "copy into", path_);
    }
    if (got == 0) {
      return DataLossError("{} ends before byte {} (copying {} bytes at {})", src.path(),
                           src_offset + n, n, src_offset);
    }
    done += static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

Status WritableFile::Truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return StatusFromErrno(errno, "truncate", path_);
  }
  return Status::Ok();
}

Status WritableFile::StartWriteback(uint64_t offset, uint64_t length) {
  if (!spool_.empty()) return Status::Ok();
  // A hint: failure (e.g. a file system without it) only loses the overlap.
  ::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(length),
                    SYNC_FILE_RANGE_WRITE);
  return Status::Ok();
}

Status WritableFile::Sync() {
  if (!spool_.empty()) return Status::Ok();  // the upload in Close() is the durable step
  if (::fsync(fd_) != 0) return StatusFromErrno(errno, "fsync", path_);
  return Status::Ok();
}

Status WritableFile::Close() {
  if (fd_ < 0) return Status::Ok();
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return StatusFromErrno(errno, "close", path_);
  if (!spool_.empty()) {
    struct stat st;
    Status s = ::stat(spool_.c_str(), &st) == 0 ? remote::UploadFile(path_, spool_, static_cast<uint64_t>(st.st_size))
                                                : StatusFromErrno(errno, "stat", spool_);
    ::unlink(spool_.c_str());
    spool_.clear();
    return s;
  }
  return Status::Ok();
}

}  // namespace ockpt
