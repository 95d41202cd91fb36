// AppContext: what every subcommand shares (global flags, output streams and
// the action chosen on the command line). No globals: main() owns one.

#ifndef OCKPT_APPS_OCKPT_APP_CONTEXT_H_
#define OCKPT_APPS_OCKPT_APP_CONTEXT_H_

#include <functional>
#include <iostream>

#include "lib/base/context.h"
#include "lib/base/result.h"

namespace ockpt {

struct AppContext {
  int threads = 0;  // 0 = all cores
  bool quiet = false;
  bool no_progress = false;
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
  // Set by the chosen subcommand; returns the exit code for a check that ran
  // (0, or 1 when diff/verify found something), or an error Status.
  std::function<Result<int>()> action;

  // The library-side context: threads, progress, warnings to stderr.
  Context LibContext() const {
    Context c;
    c.threads = threads;
    c.progress = !quiet && !no_progress;
    if (!quiet) {
      std::ostream* e = err;
      c.warn = [e](std::string_view msg) { *e << "ockpt: warning: " << msg << "\n"; };
    }
    return c;
  }

  // Warnings go to stderr unless --quiet.
  void Warn(std::string_view msg) const {
    if (!quiet) *err << "ockpt: warning: " << msg << "\n";
  }
};

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_APP_CONTEXT_H_
