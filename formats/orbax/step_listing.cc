// Listing the steps of a manager root (`ockpt ls-steps`, gc's plans): one
// walk per step for its size, the step's state from CheckCheckpointListing
// (locator.h, the one definition of "committed") and its metrics.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "formats/orbax/layout.h"
#include "formats/orbax/side_json.h"
#include "formats/orbax/steps.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

namespace {

std::string P(std::string_view dir, std::string_view name) { return JoinPath(dir, name); }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t StatMtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

// What one walk of a directory tree finds.
struct WalkResult {
  uint64_t bytes = 0;
  int64_t newest_mtime_ns = 0;
  std::vector<std::string> top_dirs;   // subdirectories of the top directory
  std::vector<std::string> top_files;  // files in the top directory
};

// Walks the tree below the open directory fd (which it takes over). Entries
// that vanish during the walk are skipped (a concurrent delete).
Status WalkFd(int fd, const std::string& path, int depth, WalkResult* out) {
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    ::close(fd);
    return StatusFromErrno(err, "opendir", path);
  }
  Status status;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      status = StatusFromErrno(errno, "stat", P(path, n));
      break;
    }
    out->newest_mtime_ns = std::max(out->newest_mtime_ns, StatMtimeNs(st));
    if (S_ISREG(st.st_mode)) {
      out->bytes += static_cast<uint64_t>(st.st_size);
      if (depth == 0) out->top_files.emplace_back(n);
    } else if (S_ISDIR(st.st_mode)) {
      if (depth == 0) out->top_dirs.emplace_back(n);
      if (depth >= 64) continue;  // no checkpoint is this deep; avoid running out of fds
      int sub = ::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (sub < 0) {
        if (errno == ENOENT) continue;
        status = StatusFromErrno(errno, "open directory", P(path, n));
        break;
      }
      status = WalkFd(sub, P(path, n), depth + 1, out);
      if (!status.ok()) break;
    }
  }
  ::closedir(d);
  return status;
}

Result<WalkResult> Walk(const std::string& path) {
  if (IsRemotePath(path)) {  // one recursive listing of the prefix
    OCKPT_ASSIGN_OR_RETURN(std::vector<DirEntryInfo> files, ListFilesRecursive(path));
    if (files.empty()) return NotFoundError("{} does not exist", path);
    WalkResult r;
    for (const DirEntryInfo& f : files) {
      r.bytes += f.size;
      r.newest_mtime_ns = std::max(r.newest_mtime_ns, f.mtime_ns);
      size_t slash = f.name.find('/');
      if (slash == std::string::npos) {
        r.top_files.push_back(f.name);
      } else if (r.top_dirs.empty() || r.top_dirs.back() != f.name.substr(0, slash)) {
        r.top_dirs.push_back(f.name.substr(0, slash));
      }
    }
    return r;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open directory", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return StatusFromErrno(err, "stat", path);
  }
  WalkResult r;
  r.newest_mtime_ns = StatMtimeNs(st);
  OCKPT_RETURN_IF_ERROR(WalkFd(fd, path, 0, &r));
  std::sort(r.top_dirs.begin(), r.top_dirs.end());
  std::sort(r.top_files.begin(), r.top_files.end());
  return r;
}

// Fills everything but name/step of one step directory.
void DescribeStep(const std::string& root, StepInfo* s) {
  std::string dir = P(root, s->name);
  struct stat st = {};
  if (IsRemotePath(dir)) {
    if (auto t = ModTimeNs(dir); t.ok()) s->mtime_ns = *t;
    if (auto n = FileSize(dir); n.ok()) st.st_size = static_cast<off_t>(*n);
  } else if (::stat(dir.c_str(), &st) == 0) {
    s->mtime_ns = StatMtimeNs(st);
  }
  if (IsRegularFile(dir)) {  // a flax checkpoint_<step> file
    s->bytes = static_cast<uint64_t>(st.st_size);
    CheckpointState state = CheckCheckpointDir(dir);
    s->status = state.status;
    s->problem = std::move(state.problem);
    return;
  }
  auto walk = Walk(dir);
  if (!walk.ok()) {
    s->status = StepStatus::kIncomplete;
    s->problem = fmt::format("unreadable: {}", walk.status().message());
    return;
  }
  s->bytes = walk->bytes;
  CheckpointState state = CheckCheckpointListing(dir, walk->top_files, walk->top_dirs);
  s->status = state.status;
  s->problem = std::move(state.problem);
  s->items = std::move(state.items);
  const Json& md = state.checkpoint_metadata;
  if (md.is_object()) {
    const Json& ts = md.contains("commit_timestamp_nsecs") ? md["commit_timestamp_nsecs"] : Json();
    if (ts.is_number_integer()) s->commit_timestamp_nsecs = ts.get<int64_t>();
    if (md.contains("custom_metadata")) s->custom_metadata = md["custom_metadata"];
  }
  if (std::binary_search(walk->top_dirs.begin(), walk->top_dirs.end(), std::string(kMetricsItem))) {
    std::string mpath = P(P(dir, kMetricsItem), kMetricsItem);
    if (IsRegularFile(mpath)) {
      auto j = ReadSideJson(mpath);
      if (j.ok()) s->metrics = std::move(j).value();
    }
  }
}

void DescribeTmp(const std::string& root, int64_t now_ns, TmpDirInfo* t) {
  t->step = TmpNameStep(t->name);
  auto walk = Walk(P(root, t->name));
  if (walk.ok()) {
    t->bytes = walk->bytes;
    t->newest_mtime_ns = walk->newest_mtime_ns;
  } else {
    // Unreadable (or vanished): treat as brand new, so gc never removes it.
    t->newest_mtime_ns = now_ns;
  }
  t->age_seconds = std::max<int64_t>(0, (now_ns - t->newest_mtime_ns) / 1000000000);
}

// Runs fn(i) for i in [0, n) on up to `threads` threads.
template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  size_t workers = threads > 0 ? static_cast<size_t>(threads) : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min({workers, n, size_t{16}});
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

Status CheckManagerRoot(const std::string& root) {
  OCKPT_ASSIGN_OR_RETURN(LocationKind kind, Classify(root));
  switch (kind) {
    case LocationKind::kRoot:
      return Status::Ok();
    case LocationKind::kNotCheckpoint:
      // An empty directory (or one of unrelated files) is an empty root.
      if (!IsDirectory(root)) return NotFoundError("{} is not a directory (expected a manager root)", root);
      return Status::Ok();
    case LocationKind::kCheckpoint:
      return NotFoundError("{} is a checkpoint, not a manager root of step directories", root);
    case LocationKind::kItem:
      return NotFoundError("{} is a checkpoint item, not a manager root of step directories", root);
    case LocationKind::kInProgress:
      return NotFoundError("{} is an in-progress save, not a manager root of step directories", root);
  }
  return Status::Ok();
}

Result<RootListing> ListSteps(const std::string& root, const ListStepsOptions& options) {
  OCKPT_RETURN_IF_ERROR(CheckManagerRoot(root));
  RootListing listing;
  listing.root = root;
  listing.now_ns = options.now_ns != 0 ? options.now_ns : NowNs();

  // Which entries are steps is the locator's one rule (ListRootEntries);
  // every list comes sorted.
  OCKPT_ASSIGN_OR_RETURN(RootEntries entries, ListRootEntries(root));
  for (std::string& n : entries.hidden) {
    if (n.rfind(kDeletingPrefix, 0) == 0) listing.interrupted_deletes.push_back(std::move(n));
  }
  for (StepName& name : entries.steps) {
    StepInfo s;
    s.step = name.step;
    s.name = std::move(name.name);
    listing.steps.push_back(std::move(s));
  }
  for (std::string& n : entries.tmp) {
    TmpDirInfo t;
    t.name = std::move(n);
    listing.tmp.push_back(std::move(t));
  }

  ParallelFor(listing.steps.size(), options.threads, [&](size_t i) { DescribeStep(root, &listing.steps[i]); });
  for (TmpDirInfo& t : listing.tmp) DescribeTmp(root, listing.now_ns, &t);

  for (const StepInfo& s : listing.steps) {
    if (s.status == StepStatus::kCommitted) listing.latest_step = s.step;
  }
  for (std::string_view f : {kRootMetadataFile, std::string_view("metadata")}) {
    std::string path = P(P(root, kRootMetadataDir), f);
    if (IsRegularFile(path)) {
      auto j = ReadSideJson(path);
      if (j.ok()) listing.root_metadata = std::move(j).value();
      break;
    }
  }
  return listing;
}

}  // namespace ockpt::orbax
