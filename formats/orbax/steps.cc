// Steps of a manager root: listing, retention, deletion, the writer lock.

#include "formats/orbax/steps.h"
#include "lib/base/json.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/layout.h"
#include "formats/orbax/tree_metadata.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

std::string_view StepStatusName(StepStatus status) {
  switch (status) {
    case StepStatus::kCommitted: return "committed";
    case StepStatus::kInProgress: return "in_progress";
    case StepStatus::kIncomplete: return "incomplete";
  }
  return "unknown";
}

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

// Python's json.dumps writes NaN, Infinity and -Infinity for non-finite
// floats (a NaN loss in metrics/metrics); they become null here.
std::string NonFiniteToNull(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    bool replaced = false;
    for (std::string_view tok : {"-Infinity", "Infinity", "NaN"}) {
      if (text.substr(i, tok.size()) == tok) {
        out += "null";
        i += tok.size() - 1;
        replaced = true;
        break;
      }
    }
    if (replaced) continue;
    if (c == '"') in_string = true;
    out += c;
  }
  return out;
}

Result<Json> ReadJson(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(path, uint64_t{1} << 28));
  auto j = ParseJson(text);
  if (!j.ok() && (text.find("NaN") != std::string::npos || text.find("Infinity") != std::string::npos)) {
    auto k = ParseJson(NonFiniteToNull(text));
    if (k.ok()) return k;
  }
  if (!j.ok()) return std::move(j).WithContext(path);
  return j;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsItemFile(std::string_view name) {
  return name == kTreeMetadataFile || name == kManifestFile || name == kLegacyMsgpackFile;
}

// Fills everything but name/step of one step directory.
void DescribeStep(const std::string& root, StepInfo* s) {
  std::string dir = P(root, s->name);
  auto walk = Walk(dir);
  if (!walk.ok()) {
    s->status = StepStatus::kIncomplete;
    s->problem = fmt::format("unreadable: {}", walk.status().message());
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) s->mtime_ns = StatMtimeNs(st);
    return;
  }
  s->bytes = walk->bytes;
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) s->mtime_ns = StatMtimeNs(st);

  bool direct_item = false;  // the step directory is itself a PyTree item
  for (const std::string& f : walk->top_files) direct_item |= IsItemFile(f);
  for (const std::string& d : walk->top_dirs) {
    if (d.empty() || d[0] == '.' || IsTmpName(d)) continue;
    if (d.rfind(kProcessDirPrefix, 0) == 0) direct_item = true;
  }

  Json md;
  bool has_md = std::binary_search(walk->top_files.begin(), walk->top_files.end(),
                                   std::string(kCheckpointMetadataFile));
  if (has_md) {
    auto j = ReadJson(P(dir, kCheckpointMetadataFile));
    if (!j.ok()) {
      s->status = StepStatus::kIncomplete;
      s->problem = fmt::format("unreadable {}: {}", kCheckpointMetadataFile, j.status().message());
    } else if (!j->is_object()) {
      s->status = StepStatus::kIncomplete;
      s->problem = fmt::format("{} is not a JSON object", P(dir, kCheckpointMetadataFile));
    } else {
      md = std::move(j).value();
      const Json& ts = md.contains("commit_timestamp_nsecs") ? md["commit_timestamp_nsecs"] : Json();
      if (ts.is_number_integer()) s->commit_timestamp_nsecs = ts.get<int64_t>();
      if (md.contains("custom_metadata")) s->custom_metadata = md["custom_metadata"];
      const Json& handlers = md.contains("item_handlers") ? md["item_handlers"] : Json();
      if (handlers.is_string()) direct_item = true;
    }
  }

  if (direct_item) {
    s->items = {""};
  } else {
    for (const std::string& d : walk->top_dirs) {
      if (d.empty() || d[0] == '.' || IsTmpName(d)) continue;
      s->items.push_back(d);
    }
  }

  if (s->status == StepStatus::kCommitted) {
    if (md.is_object() && md.contains("item_handlers") && md["item_handlers"].is_object()) {
      std::vector<std::string> missing;
      for (const auto& [item, handler] : md["item_handlers"].items()) {
        if (std::binary_search(walk->top_dirs.begin(), walk->top_dirs.end(), item)) continue;
        // Handlers that write no directory: Orbax v1 lists a "descriptor"
        // item that has none; a null typestr is an item Orbax could not
        // resolve, not one it saved.
        if (!handler.is_string() || EndsWith(handler.get<std::string>(), "DescriptorHandler")) continue;
        missing.push_back(item);
      }
      if (!missing.empty()) {
        s->status = StepStatus::kIncomplete;
        s->problem = fmt::format("item{} {} listed in {} missing", missing.size() == 1 ? "" : "s",
                                 fmt::join(missing, ", "), kCheckpointMetadataFile);
      }
    } else if (!has_md && s->items.empty()) {
      s->status = StepStatus::kIncomplete;
      s->problem = fmt::format("no {} and no items", kCheckpointMetadataFile);
    }
  }

  if (std::binary_search(walk->top_dirs.begin(), walk->top_dirs.end(), std::string(kMetricsItem))) {
    std::string mpath = P(P(dir, kMetricsItem), kMetricsItem);
    if (IsRegularFile(mpath)) {
      auto j = ReadJson(mpath);
      if (j.ok()) s->metrics = std::move(j).value();
    }
  }
}

void DescribeTmp(const std::string& root, int64_t now_ns, TmpDirInfo* t) {
  size_t pos = t->name.find(kTmpSuffix);
  std::string_view base = std::string_view(t->name).substr(0, pos);
  constexpr std::string_view kPartial = ".partial_save";
  if (base.size() > kPartial.size() && base.substr(base.size() - kPartial.size()) == kPartial) {
    base.remove_suffix(kPartial.size());
  }
  if (!base.empty() && base[0] != '.') t->step = ParseStepName(base);
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

std::string IsoTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  if (ns < 0 && ns % 1000000000 != 0) --secs;
  struct tm tm;
  if (::gmtime_r(&secs, &tm) == nullptr) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string HumanBytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return v < 10 ? fmt::format("{:.2f} {}", v, kUnits[u]) : v < 100 ? fmt::format("{:.1f} {}", v, kUnits[u])
                                                                   : fmt::format("{:.0f} {}", v, kUnits[u]);
}

// "loss=0.5 eval.acc=0.9" (keys in file order, nested objects dotted).
void FlattenMetrics(const Json& j, const std::string& prefix, std::vector<std::string>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) FlattenMetrics(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  std::string v = j.is_string() ? j.get<std::string>() : DumpJson(j);
  out->push_back(prefix.empty() ? v : prefix + "=" + v);
}

std::string MetricsText(const Json& metrics) {
  if (metrics.is_null()) return "-";
  std::vector<std::string> parts;
  FlattenMetrics(metrics, "", &parts);
  return parts.empty() ? "{}" : fmt::format("{}", fmt::join(parts, " "));
}

std::string ItemsText(const std::vector<std::string>& items) {
  if (items.empty()) return "-";
  if (items.size() == 1 && items[0].empty()) return "(direct)";
  return fmt::format("{}", fmt::join(items, ","));
}

// Prints rows as left-aligned columns separated by two spaces; the last
// column is not padded.
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      if (c + 1 < r.size()) {
        line += r[c];
        line.append(width[c] - r[c].size() + 2, ' ');
      } else {
        line += r[c];
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

}  // namespace

Status CheckManagerRoot(const std::string& root) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFoundError("{} does not exist", root);
    return StatusFromErrno(errno, "stat", root);
  }
  if (!S_ISDIR(st.st_mode)) return NotFoundError("{} is not a directory (expected a manager root)", root);
  if (IsRegularFile(P(root, kCheckpointMetadataFile))) {
    return NotFoundError("{} is a checkpoint (it has {}), not a manager root of step directories", root,
                         kCheckpointMetadataFile);
  }
  if (LooksLikeItem(root)) {
    return NotFoundError("{} is a checkpoint item, not a manager root of step directories", root);
  }
  return Status::Ok();
}

Result<RootListing> ListSteps(const std::string& root, const ListStepsOptions& options) {
  OCKPT_RETURN_IF_ERROR(CheckManagerRoot(root));
  RootListing listing;
  listing.root = root;
  listing.now_ns = options.now_ns != 0 ? options.now_ns : NowNs();

  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return StatusFromErrno(errno, "opendir", root);
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (n.rfind(kDeletingPrefix, 0) == 0) {
      listing.interrupted_deletes.push_back(n);
      continue;
    }
    if (n[0] == '.') continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) is_dir = IsDirectory(P(root, n));
    if (!is_dir) continue;
    if (IsTmpName(n)) {
      TmpDirInfo t;
      t.name = n;
      listing.tmp.push_back(std::move(t));
    } else if (std::optional<int64_t> step = ParseStepName(n)) {
      StepInfo s;
      s.step = *step;
      s.name = n;
      listing.steps.push_back(std::move(s));
    }
  }
  ::closedir(d);
  std::sort(listing.interrupted_deletes.begin(), listing.interrupted_deletes.end());
  std::sort(listing.steps.begin(), listing.steps.end(), [](const StepInfo& a, const StepInfo& b) {
    return a.step != b.step ? a.step < b.step : a.name < b.name;
  });
  std::sort(listing.tmp.begin(), listing.tmp.end(),
            [](const TmpDirInfo& a, const TmpDirInfo& b) { return a.name < b.name; });

  ParallelFor(listing.steps.size(), options.threads, [&](size_t i) { DescribeStep(root, &listing.steps[i]); });
  for (TmpDirInfo& t : listing.tmp) DescribeTmp(root, listing.now_ns, &t);

  for (const StepInfo& s : listing.steps) {
    if (s.status == StepStatus::kCommitted) listing.latest_step = s.step;
  }
  for (std::string_view f : {kRootMetadataFile, std::string_view("metadata")}) {
    std::string path = P(P(root, kRootMetadataDir), f);
    if (IsRegularFile(path)) {
      auto j = ReadJson(path);
      if (j.ok()) listing.root_metadata = std::move(j).value();
      break;
    }
  }
  return listing;
}

Json RootListingToJson(const RootListing& listing) {
  Json j = Json::object();
  j["root"] = listing.root;
  j["latest_step"] = listing.latest_step ? Json(*listing.latest_step) : Json(nullptr);
  Json steps = Json::array();
  for (const StepInfo& s : listing.steps) {
    Json e = Json::object();
    e["step"] = s.step;
    e["path"] = s.name;
    e["status"] = std::string(StepStatusName(s.status));
    e["commit_timestamp_nsecs"] = s.commit_timestamp_nsecs ? Json(*s.commit_timestamp_nsecs) : Json(nullptr);
    e["bytes"] = s.bytes;
    e["items"] = s.items;
    e["metrics"] = s.metrics;
    steps.push_back(std::move(e));
  }
  j["steps"] = std::move(steps);
  Json tmp = Json::array();
  for (const TmpDirInfo& t : listing.tmp) {
    tmp.push_back(Json{{"path", t.name}, {"age_seconds", t.age_seconds}});
  }
  j["tmp"] = std::move(tmp);
  return j;
}

void PrintRootListingText(const RootListing& listing, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"STEP", "STATUS", "COMMITTED (UTC)", "SIZE", "ITEMS", "METRICS"});
  uint64_t total = 0;
  size_t committed = 0;
  for (const StepInfo& s : listing.steps) {
    std::string when = IsoTime(s.time_ns());
    if (!s.commit_timestamp_nsecs) when += " (mtime)";
    std::string status(StepStatusName(s.status));
    rows.push_back({s.name, status, when, HumanBytes(s.bytes), ItemsText(s.items), MetricsText(s.metrics)});
    total += s.bytes;
    committed += s.status == StepStatus::kCommitted;
  }
  PrintTable(rows, out);
  if (!listing.tmp.empty()) {
    // In-progress saves: their own table, so long tmp names do not widen the steps'.
    std::vector<std::vector<std::string>> tmp_rows;
    tmp_rows.push_back({"IN PROGRESS", "STATUS", "AGE", "SIZE"});
    for (const TmpDirInfo& t : listing.tmp) {
      tmp_rows.push_back({t.name, std::string(StepStatusName(StepStatus::kInProgress)), FormatDuration(t.age_seconds),
                          HumanBytes(t.bytes)});
      total += t.bytes;
    }
    out << "\n";
    PrintTable(tmp_rows, out);
  }
  out << fmt::format("{} step{} ({} committed", listing.steps.size(), listing.steps.size() == 1 ? "" : "s",
                     committed);
  if (!listing.tmp.empty()) out << fmt::format(", {} in progress", listing.tmp.size());
  out << fmt::format("), {}; latest committed step: {}\n", HumanBytes(total),
                     listing.latest_step ? std::to_string(*listing.latest_step) : "none");
  for (const StepInfo& s : listing.steps) {
    if (s.status == StepStatus::kIncomplete) out << fmt::format("{}: incomplete: {}\n", s.name, s.problem);
  }
}

// --- Lock ---

RootLock::RootLock(RootLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

RootLock& RootLock::operator=(RootLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

RootLock::~RootLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<RootLock> LockRoot(const std::string& root, bool wait) {
  if (!IsDirectory(root)) return NotFoundError("{} does not exist or is not a directory", root);
  std::string path = P(root, kLockFile);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return StatusFromErrno(errno, "open lock file", path);
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    if (err == EWOULDBLOCK) {
      char buf[32] = {};
      ssize_t got = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      std::string holder;
      if (got > 0) {
        std::string_view text(buf, static_cast<size_t>(got));
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
        if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
          holder = fmt::format(" (pid {})", text);
        }
      }
      return UnavailableError("{} is locked by another writer{}: {} is held; try again later or drop --no-wait",
                              root, holder, path);
    }
    ::close(fd);
    return StatusFromErrno(err, "flock", path);
  }
  // Record the holder for the message above (best effort).
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) == 0) {
    ssize_t w = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)w;
  }
  return RootLock(fd, path);
}

// --- gc ---

namespace {

// Moves root/name out of the step namespace: into trash, or to
// `.ockpt-deleting-<name>-<pid>` beside it. One atomic rename, so every
// state is either the untouched directory under its own name or a directory
// no step listing sees. Returns the new path.
Result<std::string> MoveOut(const std::string& root, const std::string& name, const std::optional<std::string>& trash) {
  std::string from = P(root, name);
  if (trash) {
    std::string to = P(*trash, name);
    for (int i = 1; PathExists(to); ++i) to = P(*trash, fmt::format("{}.{}", name, i));
    if (::rename(from.c_str(), to.c_str()) != 0) {
      int err = errno;
      if (err == EXDEV) {
        return IoError("cannot move {} into the trash {}: it is on another file system (a rename is needed)",
                       from, *trash);
      }
      return StatusFromErrno(err, "rename to " + to + " from", from);
    }
    return to;
  }
  std::string base = fmt::format("{}{}-{}", kDeletingPrefix, name, ::getpid());
  std::string to = P(root, base);
  for (int i = 1; PathExists(to); ++i) to = P(root, fmt::format("{}.{}", base, i));
  OCKPT_RETURN_IF_ERROR(RenamePath(from, to));
  return to;
}

}  // namespace

Result<std::vector<std::string>> FinishInterruptedDeletes(const std::string& root) {
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(root));
  std::vector<std::string> done;
  for (const std::string& n : names) {
    if (n.rfind(kDeletingPrefix, 0) != 0) continue;
    OCKPT_RETURN_IF_ERROR(RemoveAll(P(root, n)));
    done.push_back(n);
  }
  return done;
}

Result<GcPlan> PlanGc(const std::string& root, const GcOptions& options, const ListStepsOptions& list_options) {
  if (!options.policy.HasPolicy() && !options.clean_tmp) {
    return InvalidArgumentError(
        "nothing to do: give a retention policy (--max-to-keep, --keep-period, --keep-time-interval) "
        "or --clean-tmp");
  }
  OCKPT_RETURN_IF_ERROR(options.policy.Validate());
  if (options.tmp_older_than_s < 0) return InvalidArgumentError("--tmp-older-than must not be negative");
  GcPlan plan;
  OCKPT_ASSIGN_OR_RETURN(plan.listing, ListSteps(root, list_options));
  const RootListing& l = plan.listing;
  plan.has_policy = options.policy.HasPolicy();
  if (plan.has_policy) {
    RetentionPolicy policy = options.policy;
    policy.protect_step = l.latest_step;
    std::vector<RetentionStep> steps;
    steps.reserve(l.steps.size());
    for (const StepInfo& s : l.steps) steps.push_back({s.step, s.time_ns(), s.metrics});
    plan.decisions = PlanRetention(steps, policy);
    for (size_t i = 0; i < l.steps.size(); ++i) {
      if (!plan.decisions[i].keep) plan.bytes_freed += l.steps[i].bytes;
    }
  }
  plan.remove_tmp.resize(l.tmp.size(), false);
  if (options.clean_tmp) {
    const __int128 threshold = static_cast<__int128>(options.tmp_older_than_s) * 1000000000;
    for (size_t i = 0; i < l.tmp.size(); ++i) {
      __int128 age = static_cast<__int128>(l.now_ns) - l.tmp[i].newest_mtime_ns;
      if (age >= threshold) {
        plan.remove_tmp[i] = true;
        plan.bytes_freed += l.tmp[i].bytes;
      }
    }
  }
  return plan;
}

Status ExecuteGc(const GcPlan& plan, const GcOptions& options,
                 const std::function<void(const std::string& name)>& done) {
  const RootListing& l = plan.listing;
  std::vector<std::string> names;
  for (size_t i = 0; i < plan.decisions.size(); ++i) {
    if (plan.decisions[i].keep) continue;
    const StepInfo& s = l.steps[i];
    // Belt and braces: the plan never deletes the latest committed step.
    if (l.latest_step && s.step == *l.latest_step && s.status == StepStatus::kCommitted) {
      return InternalError("refusing to delete the latest committed step {}", s.name);
    }
    names.push_back(s.name);
  }
  for (size_t i = 0; i < plan.remove_tmp.size(); ++i) {
    if (plan.remove_tmp[i]) names.push_back(l.tmp[i].name);
  }
  if (names.empty()) return Status::Ok();
  if (options.trash) OCKPT_RETURN_IF_ERROR(MakeDirectories(*options.trash));
  // 1. Rename everything out of the step namespace, 2. make the renames
  // durable (one fsync), 3. remove. A crash in 3 leaves only
  // .ockpt-deleting-* directories, which the next gc removes.
  std::vector<std::pair<std::string, std::string>> moved;  // name, new path
  Status status;
  for (const std::string& n : names) {
    auto to = MoveOut(l.root, n, options.trash);
    if (!to.ok()) {
      status = to.status();
      break;
    }
    moved.emplace_back(n, std::move(to).value());
  }
  if (!moved.empty()) {
    Status sync = SyncDirectory(l.root);
    if (sync.ok() && options.trash) sync = SyncDirectory(*options.trash);
    if (status.ok()) status = sync;
  }
  for (const auto& [name, path] : moved) {
    if (!options.trash) {
      Status rm = RemoveAll(path);
      if (!rm.ok()) {
        if (status.ok()) status = rm;
        continue;
      }
    }
    if (done) done(name);
  }
  return status;
}

Result<GcPlan> ApplyRetention(const std::string& root, const RetentionPolicy& policy) {
  GcOptions options;
  options.policy = policy;
  OCKPT_ASSIGN_OR_RETURN(GcPlan plan, PlanGc(root, options));
  OCKPT_RETURN_IF_ERROR(ExecuteGc(plan, options));
  return plan;
}

Json GcPlanToJson(const GcPlan& plan, bool dry_run) {
  const RootListing& l = plan.listing;
  Json j = Json::object();
  j["root"] = l.root;
  j["dry_run"] = dry_run;
  Json steps = Json::array();
  for (size_t i = 0; i < plan.decisions.size(); ++i) {
    const RetentionDecision& d = plan.decisions[i];
    steps.push_back(Json{{"step", d.step}, {"action", d.keep ? "keep" : "delete"}, {"reasons", d.reasons}});
  }
  j["plan"] = std::move(steps);
  Json tmp = Json::array();
  for (size_t i = 0; i < l.tmp.size(); ++i) {
    tmp.push_back(Json{{"path", l.tmp[i].name},
                       {"age_seconds", l.tmp[i].age_seconds},
                       {"action", plan.remove_tmp[i] ? "delete" : "keep"}});
  }
  j["tmp"] = std::move(tmp);
  j["bytes_freed"] = plan.bytes_freed;
  return j;
}

void PrintGcPlanText(const GcPlan& plan, bool dry_run, const GcOptions& options, std::ostream& out) {
  const RootListing& l = plan.listing;
  const char* del = options.trash ? "trash" : "delete";
  size_t n_delete = 0;
  if (plan.has_policy) {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"STEP", "ACTION", "SIZE", "REASONS"});
    for (size_t i = 0; i < plan.decisions.size(); ++i) {
      const RetentionDecision& d = plan.decisions[i];
      n_delete += !d.keep;
      std::string reasons = fmt::format("{}", fmt::join(d.reasons, ", "));
      if (l.steps[i].status == StepStatus::kIncomplete) reasons += " (incomplete)";
      rows.push_back({l.steps[i].name, d.keep ? "keep" : del, HumanBytes(l.steps[i].bytes), reasons});
    }
    if (plan.decisions.empty()) {
      out << "no steps\n";
    } else {
      PrintTable(rows, out);
    }
  } else {
    out << "no retention policy given: steps are left alone\n";
  }
  if (!l.tmp.empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"IN PROGRESS", "ACTION", "SIZE", "AGE"});
    for (size_t i = 0; i < l.tmp.size(); ++i) {
      const TmpDirInfo& t = l.tmp[i];
      std::string why;
      if (!options.clean_tmp) {
        why = " (no --clean-tmp)";
      } else if (!plan.remove_tmp[i]) {
        why = fmt::format(" (younger than {})", FormatDuration(options.tmp_older_than_s));
      }
      n_delete += plan.remove_tmp[i];
      rows.push_back({t.name, plan.remove_tmp[i] ? del : "keep", HumanBytes(t.bytes),
                      FormatDuration(t.age_seconds) + why});
    }
    PrintTable(rows, out);
  }
  std::string verb = options.trash ? fmt::format("move to {}", *options.trash) : std::string("free");
  out << fmt::format("{}{} {} ({} director{})\n", dry_run ? "dry run: would " : "", dry_run ? verb : "will " + verb,
                     HumanBytes(plan.bytes_freed), n_delete, n_delete == 1 ? "y" : "ies");
}

}  // namespace ockpt::orbax
