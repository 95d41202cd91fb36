// ThreadPool and the ordered pipeline core.

#include "lib/base/thread_pool.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>

namespace ockpt {

int ResolveThreads(int threads) {
  if (threads >= 1) return threads;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Idle workers wait on a stack, and a task goes to the worker that went idle
// last: when fewer tasks are in flight than there are workers (a pipeline
// bounded by bytes), the same few threads run them, and only their
// per-thread buffers (ReusedBytes) and malloc arenas hold memory. Woken
// first-in first-out, every worker of a 64-thread pool ran a chunk in turn
// and kept its buffers: a restore of 16 MiB chunks peaked at 1.7 GiB.
struct ThreadPool::State {
  struct Worker {
    std::condition_variable cv;
    bool woken = false;
  };
  // Sized once: a Worker never moves (its condition variable cannot).
  explicit State(size_t n) : workers(n) {}
  std::mutex mu;
  std::deque<std::function<void()>> queue;
  std::vector<Worker> workers;
  std::vector<Worker*> idle;  // the last one went idle last
  bool stopping = false;
};

ThreadPool::ThreadPool(int threads)
    : state_(std::make_shared<State>(static_cast<size_t>(ResolveThreads(threads)))) {
  workers_.reserve(state_->workers.size());
  for (State::Worker& worker : state_->workers) {
    workers_.emplace_back([state = state_, self = &worker] {
      std::unique_lock<std::mutex> lock(state->mu);
      while (true) {
        if (!state->queue.empty()) {
          std::function<void()> task = std::move(state->queue.front());
          state->queue.pop_front();
          lock.unlock();
          task();
          task = nullptr;  // what it holds is released outside the lock
          lock.lock();
          continue;
        }
        if (state->stopping) return;  // nothing left
        self->woken = false;
        state->idle.push_back(self);
        self->cv.wait(lock, [&] { return self->woken; });  // taken off `idle` by the waker
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
    for (State::Worker* w : state_->idle) {
      w->woken = true;
      w->cv.notify_one();
    }
    state_->idle.clear();
  }
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  State::Worker* wake = nullptr;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->queue.push_back(std::move(task));
    if (!state_->idle.empty()) {
      wake = state_->idle.back();
      state_->idle.pop_back();
      wake->woken = true;
    }
  }
  if (wake != nullptr) wake->cv.notify_one();  // it is off `idle`: no other waker
}

size_t PipelineWindow(const PipelineOptions& options) {
  const size_t workers =
      options.pool ? static_cast<size_t>(options.pool->size())
                   : static_cast<size_t>(ResolveThreads(options.threads));
  size_t window = options.max_tasks_in_flight ? options.max_tasks_in_flight : 2 * workers;
  if (options.max_bytes_in_flight && options.bytes_per_task) {
    window = std::min<uint64_t>(window, options.max_bytes_in_flight / options.bytes_per_task);
  }
  return std::max<size_t>(window, 1);
}

namespace internal {
namespace {

// Runs a closure, turning an escaping exception into kInternal.
Status RunGuarded(const std::function<Status()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return InternalError("exception in pipeline task: {}", e.what());
  } catch (...) {
    return InternalError("unknown exception in pipeline task");
  }
}

}  // namespace

struct PipelineCore::State {
  enum class SlotState { kFree, kQueued, kDone };
  explicit State(size_t window) : state(window, SlotState::kFree), status(window), skipped(window) {}
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SlotState> state;
  std::vector<Status> status;
  std::vector<bool> skipped;
  bool cancel = false;
  Status first_error;  // first work failure in time
  size_t pending = 0;  // submitted, not yet finished
};

PipelineCore::PipelineCore(size_t count, const PipelineOptions& options, size_t window, Produce produce)
    : count_(count),
      window_(window),
      produce_(std::move(produce)),
      task_bytes_(options.max_bytes_in_flight ? options.task_bytes : nullptr),
      max_bytes_(options.max_bytes_in_flight) {
  const int workers = options.pool ? options.pool->size() : ResolveThreads(options.threads);
  serial_ = workers <= 1 || window <= 1 || count <= 1;
  if (serial_) return;
  pool_ = options.pool;
  if (!pool_) {
    own_pool_ = std::make_unique<ThreadPool>(
        static_cast<int>(std::min<size_t>(static_cast<size_t>(workers), std::min(window, count))));
    pool_ = own_pool_.get();
  }
  state_ = std::make_shared<State>(window);
  if (task_bytes_) slot_bytes_.resize(window);
}

PipelineCore::~PipelineCore() {
  // Skip queued work and wait for started work, so that no worker touches
  // the caller's state after this returns.
  if (!state_) return;
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cancel = true;
  state_->cv.wait(lock, [&] { return state_->pending == 0; });
}

Result<size_t> PipelineCore::Next() {
  if (!error_.ok()) return error_;
  if (next_consume_ >= count_) return InternalError("pipeline read past its {} tasks", count_);
  Result<size_t> slot = serial_ ? NextSerial() : NextParallel();
  if (!slot.ok()) {
    error_ = slot.status();
    if (state_) {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->cancel = true;
    }
  }
  return slot;
}

Result<size_t> PipelineCore::NextSerial() {
  Result<std::function<Status()>> work = produce_(next_consume_, 0);
  if (!work.ok()) return work.status();
  OCKPT_RETURN_IF_ERROR(RunGuarded(*work));
  ++next_consume_;
  return size_t{0};
}

Result<size_t> PipelineCore::NextParallel() {
  // The task handed out by the previous call is finished with.
  if (handed_out_) {
    if (task_bytes_) in_flight_bytes_ -= slot_bytes_[(next_consume_ - 1) % window_];
    handed_out_ = false;
  }
  State& st = *state_;
  while (next_produce_ < count_ && next_produce_ - next_consume_ < window_) {
    const size_t slot = next_produce_ % window_;
    if (task_bytes_) {
      const uint64_t bytes = task_bytes_(next_produce_);
      if (next_produce_ > next_consume_ && in_flight_bytes_ + bytes > max_bytes_) {
        break;  // wait until it fits
      }
      slot_bytes_[slot] = bytes;
      in_flight_bytes_ += bytes;
    }
    Result<std::function<Status()>> work = produce_(next_produce_, slot);
    if (!work.ok()) return work.status();
    {
      std::lock_guard<std::mutex> lock(st.mu);
      st.state[slot] = State::SlotState::kQueued;
      ++st.pending;
    }
    pool_->Submit([state = state_, slot, fn = std::move(work).value()]() mutable {
      bool skip;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        skip = state->cancel;
      }
      Status result = skip ? Status::Ok() : RunGuarded(fn);
      fn = nullptr;  // nothing of the task outlives its report
      std::lock_guard<std::mutex> lock(state->mu);
      state->status[slot] = std::move(result);
      state->skipped[slot] = skip;
      if (!skip && !state->status[slot].ok() && state->first_error.ok()) {
        state->first_error = state->status[slot];
        state->cancel = true;
      }
      state->state[slot] = State::SlotState::kDone;
      --state->pending;
      state->cv.notify_all();  // under the lock: the waiter may free cv next
    });
    ++next_produce_;
  }
  const size_t slot = next_consume_ % window_;
  std::unique_lock<std::mutex> lock(st.mu);
  st.cv.wait(lock, [&] { return st.state[slot] == State::SlotState::kDone; });
  st.state[slot] = State::SlotState::kFree;
  if (st.skipped[slot]) {
    return st.first_error.ok() ? InternalError("pipeline task skipped without an error") : st.first_error;
  }
  if (!st.status[slot].ok()) return std::move(st.status[slot]);
  ++next_consume_;
  handed_out_ = true;
  return slot;
}

Status RunOrderedPipelineCore(size_t count, const PipelineOptions& options, size_t window,
                              const PipelineCore::Produce& produce,
                              const std::function<Status(size_t i, size_t slot)>& consume) {
  PipelineCore core(count, options, window, produce);
  for (size_t i = 0; i < count; ++i) {
    OCKPT_ASSIGN_OR_RETURN(size_t slot, core.Next());
    OCKPT_RETURN_IF_ERROR(consume(i, slot));
  }
  return Status::Ok();
}

}  // namespace internal
}  // namespace ockpt
