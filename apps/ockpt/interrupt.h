// Interrupts: SIGINT / SIGTERM during save, restore and convert remove the
// command's temporary outputs and exit 130 / 143.
//
// How: main() blocks both signals before any thread starts (every thread
// inherits the mask), so no asynchronous handler runs at all; one watcher
// thread takes them with sigwait(). On a signal it sets `interrupted()`, on
// which the progress sink (progress_bar.h) parks every data worker at its
// next chunk, renames each registered temporary path aside (one atomic step,
// so a commit racing with it either wins whole or fails) and removes it, and
// calls _exit(128 + signal). The only state shared with that thread lives in this object
// (owned by main, never freed: the thread may outlive main's locals), so
// there is no global.
//
// Also: a later run removes the stale temporaries of an earlier one that was
// SIGKILLed (RemoveStaleTemporaries).

#ifndef OCKPT_APPS_OCKPT_INTERRUPT_H_
#define OCKPT_APPS_OCKPT_INTERRUPT_H_

#include <atomic>
#include <cstdint>
#include <utility>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ockpt {

class InterruptWatcher {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread and starts the watcher.
  // Call first thing in main(), before any other thread exists. The object
  // is never destroyed (it is leaked on purpose; see above).
  static InterruptWatcher* Start();

  // A path to remove (recursively) when interrupted. Thread-safe.
  void RemoveOnInterrupt(std::string path);
  // True once SIGINT or SIGTERM arrived.
  const std::atomic<bool>* interrupted() const { return &interrupted_; }

 private:
  InterruptWatcher() = default;
  void Run();

  struct Registered {
    std::string path;
    std::optional<std::pair<uint64_t, uint64_t>> identity;  // when it existed at registration
  };
  std::mutex mu_;
  std::vector<Registered> paths_;
  std::atomic<bool> interrupted_{false};
};

// Removes `<out>.ockpt-tmp-<pid>` siblings of `out` whose process is gone
// (left by a SIGKILLed restore or convert); by name only, never anything
// else. Returns the paths removed.
std::vector<std::string> RemoveStaleTemporaries(const std::string& out);

// The temporary path restore / convert write `out` to (formats/registry.cc).
std::string OutputTemporary(const std::string& out);
// The temporary directory save writes DEST (or step N of the root DEST) to
// (formats/orbax/save.cc): "<final>.orbax-checkpoint-tmp".
std::string SaveTemporary(const std::string& dest, const std::optional<int64_t>& step);

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_INTERRUPT_H_
