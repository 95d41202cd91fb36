// ThreadPool and RunOrderedPipeline: order, bounds on tasks in flight, error
// propagation, no deadlock when the consumer fails, exceptions.

#include "lib/base/thread_pool.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

namespace ockpt {
namespace {

using std::chrono::milliseconds;

void SleepUs(int us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

// Keeps the maximum a counter reached.
struct Gauge {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  void Up() {
    int v = ++now;
    int m = max.load();
    while (v > m && !max.compare_exchange_weak(m, v)) {
    }
  }
  void Down() { --now; }
};

TEST_CASE("ResolveThreads: 0 means every core") {
  CHECK(ResolveThreads(3) == 3);
  CHECK(ResolveThreads(1) == 1);
  CHECK(ResolveThreads(0) >= 1);
  CHECK(ResolveThreads(-1) >= 1);
}

TEST_CASE("ThreadPool runs every submitted task before it is destroyed") {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(3);
    CHECK(pool.size() == 3);
    for (int i = 0; i < 200; ++i) pool.Submit([&] {
        SleepUs(10);
        ++ran;
      });
  }
  CHECK(ran == 200);
}

TEST_CASE("ThreadPool hands a task to the worker that went idle last") {
  // One task at a time on 16 workers: the same few threads run them all
  // (woken in turn, all 16 would), so only their buffers stay allocated.
  ThreadPool pool(16);
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::thread::id> ran_on;
  for (int i = 0; i < 200; ++i) {
    bool done = false;
    pool.Submit([&] {
      std::lock_guard<std::mutex> lock(mu);
      ran_on.insert(std::this_thread::get_id());
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  CHECK(ran_on.size() < 8);
}

TEST_CASE("PipelineWindow: tasks and bytes bound the window") {
  CHECK(PipelineWindow({.threads = 4}) == 8);
  CHECK(PipelineWindow({.threads = 4, .max_tasks_in_flight = 3}) == 3);
  CHECK(PipelineWindow({.threads = 4, .max_bytes_in_flight = 10, .bytes_per_task = 3}) == 3);
  // One task always fits, however large.
  CHECK(PipelineWindow({.threads = 4, .max_bytes_in_flight = 10, .bytes_per_task = 100}) == 1);
  ThreadPool pool(2);
  CHECK(PipelineWindow({.threads = 16, .pool = &pool}) == 4);
}

TEST_CASE("results are consumed in order whatever the thread count") {
  for (int threads : {1, 2, 4, 8}) {
    INFO("threads " << threads);
    std::mt19937 rng(threads);
    std::vector<int> delay(300);
    for (int& d : delay) d = static_cast<int>(rng() % 300);
    std::vector<size_t> consumed;
    Status s = RunOrderedPipeline<std::string>(
        delay.size(), {.threads = threads},
        [&](size_t i) -> Result<PipelineWork<std::string>> {
          return PipelineWork<std::string>([i, d = delay[i]]() -> Result<std::string> {
            SleepUs(d);
            return std::to_string(i * i);
          });
        },
        [&](size_t i, std::string v) -> Status {
          CHECK(v == std::to_string(i * i));
          consumed.push_back(i);
          return Status::Ok();
        });
    REQUIRE(s.ok());
    REQUIRE(consumed.size() == delay.size());
    for (size_t i = 0; i < consumed.size(); ++i) CHECK(consumed[i] == i);
  }
}

TEST_CASE("no tasks: nothing runs") {
  bool called = false;
  Status s = RunOrderedPipeline<int>(
      0, {.threads = 4},
      [&](size_t) -> Result<PipelineWork<int>> {
        called = true;
        return PipelineWork<int>([] { return Result<int>(0); });
      },
      [&](size_t, int) {
        called = true;
        return Status::Ok();
      });
  CHECK(s.ok());
  CHECK_FALSE(called);
}

TEST_CASE("tasks in flight and concurrent work stay within the bounds") {
  struct Case {
    PipelineOptions opt;
    int window;
    int workers;
  };
  for (const Case& c : {Case{{.threads = 4}, 8, 4}, Case{{.threads = 4, .max_tasks_in_flight = 2}, 2, 2},
                        Case{{.threads = 3, .max_bytes_in_flight = 5 << 20, .bytes_per_task = 1 << 20}, 5, 3},
                        Case{{.threads = 2, .max_bytes_in_flight = 1, .bytes_per_task = 1 << 20}, 1, 1}}) {
    INFO("window " << c.window);
    REQUIRE(PipelineWindow(c.opt) == static_cast<size_t>(c.window));
    Gauge in_flight, running;
    size_t produced = 0;
    Status s = RunOrderedPipeline<int>(
        100, c.opt,
        [&](size_t i) -> Result<PipelineWork<int>> {
          ++produced;
          in_flight.Up();
          return PipelineWork<int>([&, i]() -> Result<int> {
            running.Up();
            SleepUs(i % 7 == 0 ? 2000 : 100);
            running.Down();
            return static_cast<int>(i);
          });
        },
        [&](size_t i, int v) -> Status {
          CHECK(static_cast<size_t>(v) == i);
          SleepUs(i % 11 == 0 ? 1000 : 0);  // a slow consumer must not let the window grow
          in_flight.Down();
          return Status::Ok();
        });
    REQUIRE(s.ok());
    CHECK(produced == 100);
    CHECK(in_flight.max <= c.window);
    CHECK(running.max <= c.workers);
    if (c.window >= 4) CHECK(in_flight.max > 1);  // it did run in parallel
  }
}

TEST_CASE("tasks of different sizes stay within the byte bound") {
  // Sizes 1..9 bytes-units; a task of 20 exceeds the bound and runs alone.
  std::vector<uint64_t> cost(200);
  for (size_t i = 0; i < cost.size(); ++i) cost[i] = i == 77 ? 20 : 1 + (i * 7) % 9;
  PipelineOptions opt{.threads = 4, .max_tasks_in_flight = 16, .max_bytes_in_flight = 12};
  opt.task_bytes = [&](size_t i) { return cost[i]; };
  std::atomic<uint64_t> held{0}, max_held{0};
  std::atomic<int> in_flight{0};
  bool alone = true;
  Status s = RunOrderedPipeline<int>(
      cost.size(), opt,
      [&](size_t i) -> Result<PipelineWork<int>> {
        uint64_t h = held += cost[i];
        ++in_flight;
        if (i == 77 && in_flight != 1) alone = false;
        uint64_t m = max_held.load();
        while (h > m && !max_held.compare_exchange_weak(m, h)) {
        }
        return PipelineWork<int>([i]() -> Result<int> {
          SleepUs(static_cast<int>(50 + (i % 5) * 100));
          return static_cast<int>(i);
        });
      },
      [&](size_t i, int v) -> Status {
        CHECK(static_cast<size_t>(v) == i);
        held -= cost[i];
        --in_flight;
        return Status::Ok();
      });
  REQUIRE(s.ok());
  CHECK(max_held <= 20);  // the big task alone
  CHECK(alone);
  CHECK(held == 0);
}

TEST_CASE("a failing task stops the pipeline and its error is returned") {
  for (int threads : {1, 2, 4}) {
    INFO("threads " << threads);
    const PipelineOptions opt{.threads = threads};
    const size_t window = PipelineWindow(opt);
    std::atomic<size_t> produced{0};
    std::atomic<int> started{0}, finished{0};
    std::vector<size_t> consumed;
    Status s = RunOrderedPipeline<int>(
        1000, opt,
        [&](size_t i) -> Result<PipelineWork<int>> {
          ++produced;
          return PipelineWork<int>([&, i]() -> Result<int> {
            ++started;
            SleepUs(50);
            ++finished;
            if (i == 40) return DataLossError("chunk {} is damaged", i);
            return static_cast<int>(i);
          });
        },
        [&](size_t i, int) {
          consumed.push_back(i);
          return Status::Ok();
        });
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message() == "chunk 40 is damaged");
    REQUIRE(consumed.size() == 40);
    CHECK(consumed.back() == 39);
    CHECK(produced <= 41 + window);
    CHECK(started == finished);  // nothing still running after the return
  }
}

TEST_CASE("the earliest failing task's error wins over a later one that failed first") {
  std::atomic<bool> ten_started{false};
  Status s = RunOrderedPipeline<int>(
      30, {.threads = 2, .max_tasks_in_flight = 4},
      [&](size_t i) -> Result<PipelineWork<int>> {
        return PipelineWork<int>([&, i]() -> Result<int> {
          if (i == 10) {
            ten_started = true;
            std::this_thread::sleep_for(milliseconds(30));
            return IoError("ten");
          }
          if (i == 11) {
            for (int k = 0; k < 2000 && !ten_started; ++k) SleepUs(500);
            return DataLossError("eleven");
          }
          return static_cast<int>(i);
        });
      },
      [&](size_t, int) { return Status::Ok(); });
  CHECK(s.message() == "ten");
}

TEST_CASE("work queued behind a failure is skipped") {
  std::atomic<int> ran{0};
  Status s = RunOrderedPipeline<int>(
      8, {.threads = 2, .max_tasks_in_flight = 8},
      [&](size_t i) -> Result<PipelineWork<int>> {
        return PipelineWork<int>([&, i]() -> Result<int> {
          ++ran;
          if (i == 0) return DataLossError("zero");
          std::this_thread::sleep_for(milliseconds(20));
          return static_cast<int>(i);
        });
      },
      [&](size_t, int) { return Status::Ok(); });
  CHECK(s.message() == "zero");
  // Task 0 and at most the one the other worker had already taken.
  CHECK(ran <= 3);
}

TEST_CASE("a failing consumer stops the pipeline without deadlock") {
  for (int threads : {1, 2, 4}) {
    INFO("threads " << threads);
    std::atomic<int> started{0}, finished{0};
    size_t consumed = 0;
    Status s = RunOrderedPipeline<int>(
        500, {.threads = threads, .max_tasks_in_flight = 3},
        [&](size_t i) -> Result<PipelineWork<int>> {
          return PipelineWork<int>([&, i]() -> Result<int> {
            ++started;
            SleepUs(200);
            ++finished;
            return static_cast<int>(i);
          });
        },
        [&](size_t i, int) -> Status {
          if (i == 7) return IoError("disk full at {}", i);
          ++consumed;
          return Status::Ok();
        });
    CHECK(s.code() == StatusCode::kIoError);
    CHECK(s.message() == "disk full at 7");
    CHECK(consumed == 7);
    CHECK(started == finished);
    CHECK(started <= 7 + 3);
  }
}

TEST_CASE("a failing producer stops the pipeline") {
  for (int threads : {1, 4}) {
    std::atomic<int> started{0}, finished{0};
    size_t consumed = 0;
    Status s = RunOrderedPipeline<int>(
        100, {.threads = threads},
        [&](size_t i) -> Result<PipelineWork<int>> {
          if (i == 20) return InvalidArgumentError("bad source at {}", i);
          return PipelineWork<int>([&, i]() -> Result<int> {
            ++started;
            SleepUs(100);
            ++finished;
            return static_cast<int>(i);
          });
        },
        [&](size_t, int) {
          ++consumed;
          return Status::Ok();
        });
    CHECK(s.message() == "bad source at 20");
    CHECK(consumed <= 20);
    CHECK(started == finished);
  }
}

TEST_CASE("an exception in a task becomes kInternal") {
  for (int threads : {1, 3}) {
    Status s = RunOrderedPipeline<int>(
        10, {.threads = threads},
        [&](size_t i) -> Result<PipelineWork<int>> {
          return PipelineWork<int>([i]() -> Result<int> {
            if (i == 4) throw std::runtime_error("boom");
            return static_cast<int>(i);
          });
        },
        [&](size_t, int) { return Status::Ok(); });
    CHECK(s.code() == StatusCode::kInternal);
    CHECK(s.message().find("boom") != std::string::npos);
  }
}

TEST_CASE("one pool serves many pipelines; move-only results") {
  ThreadPool pool(3);
  for (int round = 0; round < 20; ++round) {
    size_t sum = 0;
    Status s = RunOrderedPipeline<std::unique_ptr<size_t>>(
        50, {.pool = &pool},
        [&](size_t i) -> Result<PipelineWork<std::unique_ptr<size_t>>> {
          return PipelineWork<std::unique_ptr<size_t>>(
              [i]() -> Result<std::unique_ptr<size_t>> { return std::make_unique<size_t>(i); });
        },
        [&](size_t i, std::unique_ptr<size_t> v) {
          CHECK(*v == i);
          sum += *v;
          return Status::Ok();
        });
    REQUIRE(s.ok());
    CHECK(sum == 50 * 49 / 2);
  }
}

TEST_CASE("OrderedPipelineReader: pulled results in order, errors, early destruction") {
  for (int threads : {1, 2, 4}) {
    INFO("threads " << threads);
    std::atomic<int> started{0}, finished{0};
    auto produce = [&](size_t i) -> Result<PipelineWork<std::string>> {
      if (i == 90) return InvalidArgumentError("bad {}", i);
      return PipelineWork<std::string>([&, i]() -> Result<std::string> {
        ++started;
        SleepUs(static_cast<int>((i * 37) % 200));
        ++finished;
        if (i == 60) return DataLossError("damaged {}", i);
        return std::to_string(i);
      });
    };
    {
      OrderedPipelineReader<std::string> reader(50, {.threads = threads}, produce);
      for (size_t i = 0; i < 50; ++i) {
        Result<std::string> r = reader.Next();
        REQUIRE(r.ok());
        CHECK(*r == std::to_string(i));
      }
      CHECK(reader.Next().status().code() == StatusCode::kInternal);  // read past the end
    }
    {
      OrderedPipelineReader<std::string> reader(100, {.threads = threads}, produce);
      size_t i = 0;
      Status s;
      while (true) {
        Result<std::string> r = reader.Next();
        if (!r.ok()) {
          s = r.status();
          break;
        }
        CHECK(*r == std::to_string(i++));
      }
      CHECK(i == 60);
      CHECK(s.message() == "damaged 60");
      CHECK(reader.Next().status().message() == "damaged 60");  // sticky
    }
    {
      // Destroyed after a few results: queued work is skipped, started work awaited.
      OrderedPipelineReader<std::string> reader(1000, {.threads = threads}, produce);
      for (int k = 0; k < 3; ++k) REQUIRE(reader.Next().ok());
    }
    CHECK(started == finished);
  }
}

}  // namespace
}  // namespace ockpt
