// Context: what a long-running library call needs from its caller, passed
// explicitly (no globals): worker threads, whether to report progress, and
// where warnings go.

#ifndef OCKPT_LIB_BASE_CONTEXT_H_
#define OCKPT_LIB_BASE_CONTEXT_H_

#include <functional>
#include <string_view>

namespace ockpt {

struct Context {
  int threads = 0;         // 0 = all cores
  bool progress = false;   // show progress on stderr
  // Receives warnings (lossy casts, skipped items); may be empty.
  std::function<void(std::string_view)> warn;

  void Warn(std::string_view msg) const {
    if (warn) warn(msg);
  }
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_CONTEXT_H_
