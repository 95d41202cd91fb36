// The host backend: CUDA's stream and event semantics in plain C++, with
// host memory as "device" memory. Each stream is a worker thread running its
// queue of copies in order; an event completes when its stream reaches it.
// The staging ring above it (staging.cc) runs exactly as it does on CUDA,
// so the tests exercise the same pipeline without a GPU.

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "lib/staging/backend.h"

namespace ockpt::staging {
namespace {

class HostBackend final : public CopyBackend {
 public:
  HostBackend(int streams, int events, const HostBackendOptions& opt) : opt_(opt), events_(events) {
    for (int i = 0; i < streams; ++i) {
      auto s = std::make_unique<Stream>();
      Stream* raw = s.get();
      s->thread = std::thread([this, raw] { Run(raw); });
      streams_.push_back(std::move(s));
    }
  }

  ~HostBackend() override {
    for (auto& s : streams_) {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->stop = true;
      }
      s->cv.notify_all();
    }
    for (auto& s : streams_) s->thread.join();
    for (auto& [ptr, size] : device_) std::free(ptr);
  }

  std::string Describe() const override { return "host"; }
  int num_streams() const override { return static_cast<int>(streams_.size()); }
  int num_events() const override { return static_cast<int>(events_.size()); }

  BackendStatus AllocDevice(uint64_t bytes, void** ptr) override {
    std::lock_guard<std::mutex> lock(mem_mu_);
    if (opt_.memory_limit && (bytes > opt_.memory_limit || used_ > opt_.memory_limit - bytes)) {
      return BackendStatus::Error(BackendStatus::kOutOfMemory,
                                  "host device: allocating " + std::to_string(bytes) +
                                      " bytes: out of memory (" + std::to_string(used_) + " of " +
                                      std::to_string(opt_.memory_limit) + " bytes in use)");
    }
    void* p = bytes ? std::aligned_alloc(256, RoundUp(bytes, 256)) : nullptr;
    if (bytes && !p) {
      return BackendStatus::Error(
          BackendStatus::kOutOfMemory,
          "host device: allocating " + std::to_string(bytes) + " bytes: out of memory");
    }
    used_ += bytes;
    device_[p] = bytes;
    *ptr = p;
    return BackendStatus::Ok();
  }

  void FreeDevice(void* ptr) override {
    Synchronize();
    std::lock_guard<std::mutex> lock(mem_mu_);
    auto it = device_.find(ptr);
    if (it == device_.end()) return;
    used_ -= it->second;
    std::free(ptr);
    device_.erase(it);
  }

  BackendStatus AllocPinned(size_t bytes, char** ptr) override {
    *ptr = static_cast<char*>(std::aligned_alloc(4096, RoundUp(bytes, 4096)));
    if (!*ptr) {
      return BackendStatus::Error(
          BackendStatus::kOutOfMemory,
          "host device: allocating " + std::to_string(bytes) + " bytes of staging memory");
    }
    return BackendStatus::Ok();
  }
  void FreePinned(char* ptr) override { std::free(ptr); }

  BackendStatus CopyToDeviceAsync(void* dst, const char* src, size_t n, int stream) override {
    return Copy(dst, src, n, stream);
  }
  BackendStatus CopyToHostAsync(char* dst, const void* src, size_t n, int stream) override {
    return Copy(dst, src, n, stream);
  }

  BackendStatus RecordEvent(int event, int stream) override {
    if (event < 0 || event >= num_events() || stream < 0 || stream >= num_streams()) {
      return BackendStatus::Error(BackendStatus::kFailed, "host device: bad event or stream");
    }
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(ev_mu_);
      gen = ++events_[event].recorded;
    }
    Stream* s = streams_[stream].get();
    Enqueue(s, [this, event, gen, s] {
      std::lock_guard<std::mutex> lock(ev_mu_);
      Event& e = events_[event];
      if (gen > e.completed) e.completed = gen;
      if (!s->error.empty()) {
        e.error = std::move(s->error);
        s->error.clear();
      }
      ev_cv_.notify_all();
    });
    return BackendStatus::Ok();
  }

  BackendStatus WaitEvent(int event) override {
    if (event < 0 || event >= num_events())
      return BackendStatus::Error(BackendStatus::kFailed, "host device: bad event");
    std::unique_lock<std::mutex> lock(ev_mu_);
    Event& e = events_[event];
    uint64_t target = e.recorded;
    ev_cv_.wait(lock, [&] { return e.completed >= target; });
    if (!e.error.empty()) {
      std::string m = std::move(e.error);
      e.error.clear();
      return BackendStatus::Error(BackendStatus::kFailed, m);
    }
    return BackendStatus::Ok();
  }

  BackendStatus Synchronize() override {
    for (auto& s : streams_) {
      std::unique_lock<std::mutex> lock(s->mu);
      s->cv.wait(lock, [&] { return s->pending == 0; });
    }
    return BackendStatus::Ok();
  }

 private:
  struct Stream {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    size_t pending = 0;  // queued or running
    bool stop = false;
    std::string error;  // only touched by the worker
  };
  struct Event {
    uint64_t recorded = 0, completed = 0;
    std::string error;
  };

  static uint64_t RoundUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

  BackendStatus Copy(void* dst, const void* src, size_t n, int stream) {
    if (stream < 0 || stream >= num_streams())
      return BackendStatus::Error(BackendStatus::kFailed, "host device: bad stream");
    int64_t k = copies_.fetch_add(1);
    Stream* s = streams_[stream].get();
    if (k == opt_.fail_copy) {
      Enqueue(s, [s, n] {
        s->error = "host device: copy of " + std::to_string(n) + " bytes failed (injected)";
      });
      return BackendStatus::Ok();
    }
    auto delay = opt_.copy_delay;
    Enqueue(s, [dst, src, n, delay] {
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      std::memcpy(dst, src, n);
    });
    return BackendStatus::Ok();
  }

  void Enqueue(Stream* s, std::function<void()> op) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->queue.push_back(std::move(op));
      ++s->pending;
    }
    s->cv.notify_all();
  }

  void Run(Stream* s) {
    for (;;) {
      std::function<void()> op;
      {
        std::unique_lock<std::mutex> lock(s->mu);
        s->cv.wait(lock, [&] { return s->stop || !s->queue.empty(); });
        if (s->queue.empty()) return;
        op = std::move(s->queue.front());
        s->queue.pop_front();
      }
      op();
      {
        std::lock_guard<std::mutex> lock(s->mu);
        --s->pending;
      }
      s->cv.notify_all();
    }
  }

  HostBackendOptions opt_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::mutex ev_mu_;
  std::condition_variable ev_cv_;
  std::vector<Event> events_;
  std::atomic<int64_t> copies_{0};
  std::mutex mem_mu_;
  uint64_t used_ = 0;
  std::unordered_map<void*, uint64_t> device_;
};

}  // namespace

std::unique_ptr<CopyBackend> OpenHostBackend(int streams, int events,
                                             const HostBackendOptions& options) {
  return std::make_unique<HostBackend>(streams, events, options);
}

}  // namespace ockpt::staging
