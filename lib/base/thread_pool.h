// ThreadPool: a fixed set of worker threads running submitted closures.
// RunOrderedPipeline: the "ordered parallel map" every chunk loop uses:
// produce task i on the calling thread, run it on the workers, consume the
// results strictly in index order on the calling thread, with at most a
// bounded number of tasks (and so bytes) in flight. Outputs are therefore the
// same, in the same order, whatever the thread count.
//
// No global state: callers pass a thread count (Context::threads, 0 = all
// cores) or a pool of their own.
//
//   std::vector<Bytes> out;
//   Status s = RunOrderedPipeline<Bytes>(
//       n, {.threads = 4, .max_bytes_in_flight = 64 << 20, .bytes_per_task = 1 << 20},
//       [&](size_t i) -> Result<PipelineWork<Bytes>> {   // calling thread, in order
//         Bytes input = Gather(i);
//         return PipelineWork<Bytes>([input = std::move(input)] { return Encode(input); });
//       },
//       [&](size_t i, Bytes encoded) -> Status {          // calling thread, in order
//         return sink(i, encoded);
//       });

#ifndef OCKPT_LIB_BASE_THREAD_POOL_H_
#define OCKPT_LIB_BASE_THREAD_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "lib/base/result.h"

namespace ockpt {

// The worker count `threads` asks for: itself when >= 1, else every core
// (std::thread::hardware_concurrency(), at least 1).
int ResolveThreads(int threads);

class ThreadPool {
 public:
  // Starts ResolveThreads(threads) workers.
  explicit ThreadPool(int threads);
  // Runs every task already submitted, then joins the workers.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()); }
  // Queues task; the worker that went idle last runs it (or one that
  // finishes its task first), so that a few tasks at a time keep to a few
  // threads. Tasks must not throw (an escaping exception terminates the
  // process) and must not wait for other tasks of the same pool.
  void Submit(std::function<void()> task);

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::vector<std::thread> workers_;
};

struct PipelineOptions {
  // Workers (0 = all cores). With 1, or a window of 1, everything runs on
  // the calling thread in index order: produce(i), work, consume(i).
  int threads = 1;
  // Run on this pool instead of starting threads for the call (its size
  // replaces `threads`). The caller must not be one of its workers.
  ThreadPool* pool = nullptr;
  // Tasks produced but not yet consumed (the one being consumed included);
  // 0 = 2 * workers.
  size_t max_tasks_in_flight = 0;
  // With bytes_per_task (an upper bound of the memory one task holds from
  // produce to the end of consume), caps the tasks in flight at
  // max(1, max_bytes_in_flight / bytes_per_task). 0 = no byte bound.
  uint64_t max_bytes_in_flight = 0;
  uint64_t bytes_per_task = 0;
  // For tasks of different sizes: the memory task i holds. With
  // max_bytes_in_flight, task i is produced only when it fits beside the
  // tasks in flight, or when none is (so one task larger than the bound
  // still runs, alone).
  std::function<uint64_t(size_t i)> task_bytes = nullptr;
};

// How many tasks RunOrderedPipeline keeps in flight for these options (>= 1).
size_t PipelineWindow(const PipelineOptions& options);

// The part of a task that runs on a worker.
template <typename T>
using PipelineWork = std::function<Result<T>()>;

namespace internal {
// Type-erased core of the pipelines: produce(i, slot) returns task i's work,
// which leaves its result in `slot` (< window); Next() returns the slot of
// the next task in order once its work is done.
class PipelineCore {
 public:
  using Produce = std::function<Result<std::function<Status()>>(size_t i, size_t slot)>;
  PipelineCore(size_t count, const PipelineOptions& options, size_t window, Produce produce);
  // Skips queued work, waits for started work.
  ~PipelineCore();
  PipelineCore(const PipelineCore&) = delete;
  PipelineCore& operator=(const PipelineCore&) = delete;

  // Tops up the tasks in flight, waits for the next task in order and
  // returns its slot; the slot's result stays valid until the next call.
  // After a failure, that failure again.
  Result<size_t> Next();

  struct State;

 private:
  Result<size_t> NextSerial();
  Result<size_t> NextParallel();

  size_t count_, window_;
  Produce produce_;
  std::function<uint64_t(size_t)> task_bytes_;
  uint64_t max_bytes_;
  bool serial_ = true;
  ThreadPool* pool_ = nullptr;
  std::unique_ptr<ThreadPool> own_pool_;
  std::shared_ptr<State> state_;
  std::vector<uint64_t> slot_bytes_;
  uint64_t in_flight_bytes_ = 0;
  size_t next_produce_ = 0, next_consume_ = 0;
  bool handed_out_ = false;
  Status error_;
};

Status RunOrderedPipelineCore(size_t count, const PipelineOptions& options, size_t window,
                              const PipelineCore::Produce& produce,
                              const std::function<Status(size_t i, size_t slot)>& consume);
}  // namespace internal

// For i in [0, count): produce(i) on the calling thread, in order, returns
// the work of task i; the work runs on a worker; consume(i, result) runs on
// the calling thread strictly in order 0, 1, 2, .... At most
// PipelineWindow(options) tasks are in flight at once.
//
// Errors: the first failure stops the pipeline: nothing more is produced,
// queued work that has not started is skipped, and the call returns once
// every started work has finished (so nothing refers to the caller's
// state afterwards). The status returned is that of the earliest task in
// index order whose produce, work or consume failed; when that task's work
// was skipped because a later one failed first, the later failure.
template <typename T>
Status RunOrderedPipeline(size_t count, const PipelineOptions& options,
                          const std::function<Result<PipelineWork<T>>(size_t i)>& produce,
                          const std::function<Status(size_t i, T value)>& consume) {
  const size_t window = PipelineWindow(options);
  std::vector<std::optional<T>> results(window);
  return internal::RunOrderedPipelineCore(
      count, options, window,
      [&](size_t i, size_t slot) -> Result<std::function<Status()>> {
        Result<PipelineWork<T>> work = produce(i);
        if (!work.ok()) return work.status();
        return std::function<Status()>(
            [&results, slot, w = std::move(work).value()]() mutable -> Status {
              Result<T> r = w();
              w = nullptr;  // release what the work captured before reporting
              if (!r.ok()) return r.status();
              results[slot].emplace(std::move(r).value());
              return Status::Ok();
            });
      },
      [&](size_t i, size_t slot) -> Status {
        T value = std::move(*results[slot]);
        results[slot].reset();
        return consume(i, std::move(value));
      });
}

// The same pipeline, pulled: the caller asks for results one by one (e.g.
// from inside callbacks of its own loop). Next() produces tasks up to the
// bounds, then returns task i's result, i = 0, 1, ...; the previous result
// counts as in flight until the next call. Errors as for RunOrderedPipeline:
// the first failure is returned by that Next() and every later one.
// Destroying the reader skips queued work and waits for started work.
template <typename T>
class OrderedPipelineReader {
 public:
  OrderedPipelineReader(size_t count, const PipelineOptions& options,
                        std::function<Result<PipelineWork<T>>(size_t i)> produce)
      : produce_(std::move(produce)),
        results_(PipelineWindow(options)),
        core_(count, options, results_.size(), [this](size_t i, size_t slot) {
          return Wrap(i, slot);
        }) {}
  OrderedPipelineReader(const OrderedPipelineReader&) = delete;
  OrderedPipelineReader& operator=(const OrderedPipelineReader&) = delete;

  Result<T> Next() {
    OCKPT_ASSIGN_OR_RETURN(size_t slot, core_.Next());
    T value = std::move(*results_[slot]);
    results_[slot].reset();
    return value;
  }

 private:
  Result<std::function<Status()>> Wrap(size_t i, size_t slot) {
    Result<PipelineWork<T>> work = produce_(i);
    if (!work.ok()) return work.status();
    return std::function<Status()>([this, slot, w = std::move(work).value()]() mutable -> Status {
      Result<T> r = w();
      w = nullptr;  // release what the work captured before reporting
      if (!r.ok()) return r.status();
      results_[slot].emplace(std::move(r).value());
      return Status::Ok();
    });
  }

  std::function<Result<PipelineWork<T>>(size_t)> produce_;
  std::vector<std::optional<T>> results_;
  internal::PipelineCore core_;  // last: drained before the rest goes
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_THREAD_POOL_H_
