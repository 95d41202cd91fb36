// WriteBehind: a producer / writer hand-off over a few reused buffers.

#include "lib/checkpoint/write_behind.h"

#include <algorithm>

namespace ockpt {

WriteBehind::WriteBehind(ArrayWriter& out, size_t piece_bytes, size_t depth)
    : out_(out), piece_bytes_(std::max<size_t>(piece_bytes, 1)) {
  depth = std::max<size_t>(depth, 2);
  for (size_t i = 0; i < depth; ++i) {
    buffers_.push_back(ZeroedBytes(piece_bytes_));
    free_.push_back(i);
  }
  thread_ = std::thread([this] { Run(); });
}

WriteBehind::~WriteBehind() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

Result<char*> WriteBehind::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !free_.empty() || !error_.ok(); });
  if (!error_.ok()) return error_;
  acquired_ = free_.front();
  free_.pop_front();
  return buffers_[acquired_].data();
}

Status WriteBehind::Submit(uint64_t offset, size_t n) {
  {
    std::lock_guard lock(mu_);
    if (!error_.ok()) return error_;
    queue_.push_back(Piece{acquired_, offset, n});
  }
  cv_.notify_all();
  return Status::Ok();
}

Status WriteBehind::Finish() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return (queue_.empty() && !writing_) || !error_.ok(); });
  return error_;
}

void WriteBehind::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Piece p = queue_.front();
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    Status st = out_.WriteAt(p.offset, ByteView(buffers_[p.buffer].data(), p.n));
    lock.lock();
    writing_ = false;
    free_.push_back(p.buffer);
    if (!st.ok() && error_.ok()) {
      error_ = std::move(st);
      queue_.clear();
    }
    cv_.notify_all();
  }
}

}  // namespace ockpt
