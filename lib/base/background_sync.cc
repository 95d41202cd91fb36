// BackgroundSync (lib/base/background_sync.h): a queue of fdatasyncs and
// the one thread that runs them.

#include "lib/base/background_sync.h"

#include <unistd.h>

#include <cerrno>

namespace ockpt {

BackgroundSync::~BackgroundSync() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  for (auto& [fd, path] : queue_) ::close(fd);  // none left unless the thread never started
}

void BackgroundSync::Queue(const WritableFile& file) {
  if (!file.spool_.empty() || file.fd_ < 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return;
  for (const auto& [fd, path] : queue_) {
    if (path == file.path_) return;
  }
  const int fd = ::dup(file.fd_);
  if (fd < 0) return;  // a hint: the file's own Sync still makes it durable
  queue_.emplace_back(fd, file.path_);
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  cv_.notify_all();
}

Status BackgroundSync::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return queue_.empty() && !running_; });
  return error_;
}

void BackgroundSync::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    auto [fd, path] = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    lock.unlock();
    const int rc = ::fdatasync(fd);
    const int err = errno;
    ::close(fd);
    lock.lock();
    running_ = false;
    if (rc != 0 && error_.ok()) error_ = StatusFromErrno(err, "fdatasync", path);
    cv_.notify_all();
  }
}

}  // namespace ockpt
