// BackgroundSync (lib/base/background_sync.h): fdatasyncs queued to a
// thread of their own.

#include "lib/base/background_sync.h"

#include <unistd.h>

#include <cerrno>

namespace ockpt {

void BackgroundSync::Queue(const WritableFile& file) {
  if (!file.spool_.empty() || file.fd_ < 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (waiting_.count(file.path_) > 0) return;
  const int fd = ::dup(file.fd_);
  if (fd < 0) return;  // a hint: the file's own Sync still makes it durable
  waiting_.insert(file.path_);
  if (!thread_) thread_.emplace(1);
  thread_->Submit([this, fd, path = file.path_] {
    // Off the waiting list first: a flush queued from now on covers bytes
    // this one may miss.
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_.erase(path);
    }
    const int rc = ::fdatasync(fd);
    const int err = errno;
    ::close(fd);
    std::lock_guard<std::mutex> lock(mu_);
    if (rc != 0 && error_.ok()) error_ = StatusFromErrno(err, "fdatasync", path);
    --pending_;
    done_.notify_all();
  });
  ++pending_;
}

Status BackgroundSync::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return pending_ == 0; });
  return error_;
}

}  // namespace ockpt
