// BackgroundSync: flushes files being written to the device on a thread of
// its own, so that the fsync that later makes each file durable has little
// left to wait for.

#ifndef OCKPT_LIB_BASE_BACKGROUND_SYNC_H_
#define OCKPT_LIB_BASE_BACKGROUND_SYNC_H_

#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "lib/base/file.h"
#include "lib/base/status.h"
#include "lib/base/thread_pool.h"

namespace ockpt {

// The first fsync after a large write waits for the device, and on a VM for
// the host to flush what the guest wrote (0.5 s after 1.3 GB on the
// benchmark machine; sync_file_range only starts the writes). A writer that
// queues a flush of its file every so often moves that wait beside its own
// work: each queued flush is an fdatasync of the file as it is when the
// flush runs, on a duplicate of its descriptor (so that the file may be
// closed meanwhile). Flushes are hints: a file is made durable by its own
// Sync() as before, which then finds little to do. A failed flush is kept
// and returned by Wait(), because the kernel reports a write-back error to
// one fsync only and the flush may be the one that gets it.
//
// Thread-safe. The thread (a ThreadPool of one) starts with the first flush
// queued and ends in the destructor, which waits for the flushes queued.
class BackgroundSync {
 public:
  BackgroundSync() = default;
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;
  ~BackgroundSync() = default;

  // Queues a flush of file (nothing for a URL's spool file, whose upload is
  // the durable step). A flush of the same file already waiting covers it.
  void Queue(const WritableFile& file);
  // Waits until every flush queued so far has run; the first that failed.
  Status Wait();

 private:
  std::mutex mu_;
  std::condition_variable done_;
  std::set<std::string> waiting_;  // paths queued, their flush not started
  int pending_ = 0;                // flushes queued, not finished
  Status error_;
  std::optional<ThreadPool> thread_;  // last: joined before the members above go
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_BACKGROUND_SYNC_H_
