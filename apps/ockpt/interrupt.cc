// SIGINT / SIGTERM: cleanup of temporaries, exit 130 / 143.

#include "apps/ockpt/interrupt.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "formats/orbax/layout.h"
#include "lib/base/file.h"

namespace ockpt {
namespace {

sigset_t InterruptSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// (device, inode) of a path, or nothing when it does not exist.
std::optional<std::pair<uint64_t, uint64_t>> Identity(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
}

std::string StripTrailingSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

void WriteStderr(const std::string& text) {
  ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
  (void)n;
}

}  // namespace

InterruptWatcher* InterruptWatcher::Start() {
  sigset_t set = InterruptSignals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto* w = new InterruptWatcher();  // never freed: the thread may outlive main's locals
  std::thread([w] { w->Run(); }).detach();
  return w;
}

void InterruptWatcher::RemoveOnInterrupt(std::string path) {
  Registered r;
  r.path = std::move(path);
  r.identity = Identity(r.path);
  std::lock_guard<std::mutex> lock(mu_);
  paths_.push_back(std::move(r));
}

void InterruptWatcher::Run() {
  sigset_t set = InterruptSignals();
  int sig = 0;
  while (::sigwait(&set, &sig) != 0) {
  }
  interrupted_ = true;
  // Let the data workers reach their next chunk and park (progress_bar.h),
  // then remove what this run wrote. Retries: a worker may still be
  // finishing a file in a directory being removed.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<Registered> registered;
  {
    std::lock_guard<std::mutex> lock(mu_);
    registered = paths_;
  }
  for (const Registered& r : registered) {
    const std::string& p = r.path;
    // Only what this run created: a path that existed when it was registered
    // and is still the same file (another writer's, e.g. while waiting for
    // a root's lock) is left alone.
    if (r.identity && Identity(p) == r.identity) continue;
    // First move it out of the way with one atomic rename: the main thread
    // may be committing it (rename to the final name) right now, and either
    // that rename wins (the output is complete; it stays) or this one does
    // (the commit fails), but never a commit of a half-removed directory.
    std::string trash = fmt::format("{}.ockpt-interrupted-{}", p, ::getpid());
    if (::rename(p.c_str(), trash.c_str()) != 0) continue;  // gone, or committed already
    for (int attempt = 0; attempt < 5 && PathExists(trash); ++attempt) {
      RemoveAll(trash).IgnoreError();
      if (PathExists(trash)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  WriteStderr(fmt::format("ockpt: interrupted by {}\n", sig == SIGINT ? "SIGINT" : "SIGTERM"));
  ::_exit(128 + sig);
}

std::string OutputTemporary(const std::string& out) {
  return fmt::format("{}.ockpt-tmp-{}", StripTrailingSlashes(out), ::getpid());
}

std::string SaveTemporary(const std::string& dest, const std::optional<int64_t>& step) {
  std::string final_path = StripTrailingSlashes(dest);
  if (step) final_path = JoinPath(final_path, std::to_string(*step));
  return final_path + std::string(orbax::kTmpSuffix);
}

std::vector<std::string> RemoveStaleTemporaries(const std::string& out) {
  std::vector<std::string> removed;
  std::string base = StripTrailingSlashes(out);
  std::string dir = Dirname(base);
  std::string prefix = Basename(base) + ".ockpt-tmp-";
  auto names = ListDirectory(dir.empty() ? "." : dir);
  if (!names.ok()) return removed;
  for (const std::string& name : *names) {
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    std::string path = JoinPath(dir, name);
    if (RemoveAll(path).ok()) removed.push_back(path);
  }
  return removed;
}

}  // namespace ockpt
