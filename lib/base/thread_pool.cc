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

struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
};

ThreadPool::ThreadPool(int threads) : state_(std::make_shared<State>()) {
  const int n = ResolveThreads(threads);
  workers_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    workers_.emplace_back([state = state_] {
      while (true) {
        std::function<void()> task;
        {
          std::unique_lock<std::mutex> lock(state->mu);
          state->cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
          if (state->queue.empty()) return;  // stopping, nothing left
          task = std::move(state->queue.front());
          state->queue.pop_front();
        }
        task();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->queue.push_back(std::move(task));
  }
  state_->cv.notify_one();
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

// What the calling thread and the workers share; workers hold a reference
// so it outlives the last of them.
struct Shared {
  enum class SlotState { kFree, kQueued, kDone };
  explicit Shared(size_t window) : state(window, SlotState::kFree), status(window), skipped(window) {}
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SlotState> state;
  std::vector<Status> status;
  std::vector<bool> skipped;
  bool cancel = false;
  Status first_error;  // first work failure in time
  size_t pending = 0;  // submitted, not yet finished
};

}  // namespace

Status RunOrderedPipelineCore(
    size_t count, const PipelineOptions& options, size_t window,
    const std::function<Result<std::function<Status()>>(size_t i, size_t slot)>& produce,
    const std::function<Status(size_t i, size_t slot)>& consume) {
  const int workers = options.pool ? options.pool->size() : ResolveThreads(options.threads);
  if (workers <= 1 || window <= 1 || count <= 1) {
    for (size_t i = 0; i < count; ++i) {
      Result<std::function<Status()>> work = produce(i, 0);
      if (!work.ok()) return work.status();
      OCKPT_RETURN_IF_ERROR(RunGuarded(*work));
      OCKPT_RETURN_IF_ERROR(consume(i, 0));
    }
    return Status::Ok();
  }

  std::unique_ptr<ThreadPool> own_pool;
  ThreadPool* pool = options.pool;
  if (!pool) {
    own_pool = std::make_unique<ThreadPool>(
        static_cast<int>(std::min<size_t>(static_cast<size_t>(workers), std::min(window, count))));
    pool = own_pool.get();
  }
  auto shared = std::make_shared<Shared>(window);

  // On every way out: skip queued work and wait for started work, so that
  // no worker touches the caller's state after we return.
  struct Drain {
    Shared& s;
    ~Drain() {
      std::unique_lock<std::mutex> lock(s.mu);
      s.cancel = true;
      s.cv.wait(lock, [&] { return s.pending == 0; });
    }
  } drain{*shared};

  // Bytes held by tasks [next_consume, next_produce) (with task_bytes).
  const bool by_bytes = options.task_bytes && options.max_bytes_in_flight;
  std::vector<uint64_t> slot_bytes(by_bytes ? window : 0);
  uint64_t in_flight_bytes = 0;
  size_t next_produce = 0;
  for (size_t next_consume = 0; next_consume < count; ++next_consume) {
    while (next_produce < count && next_produce - next_consume < window) {
      const size_t slot = next_produce % window;
      if (by_bytes) {
        const uint64_t bytes = options.task_bytes(next_produce);
        if (next_produce > next_consume && in_flight_bytes + bytes > options.max_bytes_in_flight) {
          break;  // wait until it fits
        }
        slot_bytes[slot] = bytes;
        in_flight_bytes += bytes;
      }
      Result<std::function<Status()>> work = produce(next_produce, slot);
      if (!work.ok()) return work.status();
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->state[slot] = Shared::SlotState::kQueued;
        ++shared->pending;
      }
      pool->Submit([shared, slot, fn = std::move(work).value()]() mutable {
        bool skip;
        {
          std::lock_guard<std::mutex> lock(shared->mu);
          skip = shared->cancel;
        }
        Status st = skip ? Status::Ok() : RunGuarded(fn);
        fn = nullptr;  // nothing of the task outlives its report
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->status[slot] = std::move(st);
        shared->skipped[slot] = skip;
        if (!skip && !shared->status[slot].ok() && shared->first_error.ok()) {
          shared->first_error = shared->status[slot];
          shared->cancel = true;
        }
        shared->state[slot] = Shared::SlotState::kDone;
        --shared->pending;
        shared->cv.notify_all();  // under the lock: the waiter may free cv next
      });
      ++next_produce;
    }
    const size_t slot = next_consume % window;
    {
      std::unique_lock<std::mutex> lock(shared->mu);
      shared->cv.wait(lock, [&] { return shared->state[slot] == Shared::SlotState::kDone; });
      shared->state[slot] = Shared::SlotState::kFree;
      if (shared->skipped[slot]) {
        return shared->first_error.ok() ? InternalError("pipeline task skipped without an error")
                                        : shared->first_error;
      }
      if (!shared->status[slot].ok()) return std::move(shared->status[slot]);
    }
    OCKPT_RETURN_IF_ERROR(consume(next_consume, slot));
    if (by_bytes) in_flight_bytes -= slot_bytes[slot];
  }
  return Status::Ok();
}

}  // namespace internal
}  // namespace ockpt
