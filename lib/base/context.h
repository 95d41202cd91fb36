// Context: what a long-running library call needs from its caller, passed
// explicitly (no globals): worker threads, where progress is reported,
// where warnings go, and the process group of a multi-process run.

#ifndef OCKPT_LIB_BASE_CONTEXT_H_
#define OCKPT_LIB_BASE_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <string_view>

namespace ockpt {

class ProcessGroup;  // lib/parallel/process_group.h

// Receives the progress of long work in bytes. The library announces work as
// it learns of it (AddTotal) and reports bytes done (AddDone); the caller
// renders it (the CLI draws a bar on a terminal). Both may be called from
// worker threads at once: implementations must be thread-safe.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void AddTotal(uint64_t bytes) = 0;
  virtual void AddDone(uint64_t bytes) = 0;
};

struct Context {
  int threads = 0;         // 0 = all cores
  bool progress = false;   // the caller wants progress (progress_sink set when it can show it)
  // Where progress goes; null: nobody is listening. Not owned.
  ProgressSink* progress_sink = nullptr;
  // Receives warnings (lossy casts, skipped items); may be empty.
  std::function<void(std::string_view)> warn;
  // The processes sharing this call's work (an MPI job: save splits chunks
  // among them, restore hands out shards); null: this process alone. Not
  // owned.
  ProcessGroup* process_group = nullptr;

  void Warn(std::string_view msg) const {
    if (warn) warn(msg);
  }
  void AddProgressTotal(uint64_t bytes) const {
    if (progress_sink != nullptr) progress_sink->AddTotal(bytes);
  }
  void AddProgressDone(uint64_t bytes) const {
    if (progress_sink != nullptr) progress_sink->AddDone(bytes);
  }
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_CONTEXT_H_
