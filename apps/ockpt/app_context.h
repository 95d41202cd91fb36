// AppContext: what every subcommand shares (global flags, output streams and
// the action chosen on the command line). No globals: main() owns one.

#ifndef OCKPT_APPS_OCKPT_APP_CONTEXT_H_
#define OCKPT_APPS_OCKPT_APP_CONTEXT_H_

#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "apps/ockpt/interrupt.h"
#include "apps/ockpt/progress_bar.h"
#include "lib/base/context.h"
#include "lib/base/result.h"
#include "lib/parallel/process_group.h"

namespace ockpt {

struct AppContext {
  int threads = 0;  // 0 = all cores
  bool quiet = false;
  bool no_progress = false;
  bool verbose = false;
  std::ostream* out = &std::cout;
  std::ostream* err = &std::cerr;
  // SIGINT/SIGTERM handling (interrupt.h); null in tests that build no watcher.
  InterruptWatcher* interrupts = nullptr;
  // The processes of this run (an MPI job, lib/parallel); null: one process.
  ProcessGroup* process_group = nullptr;

  // Whether this is the primary process (rank 0), the one that reports
  // progress and warnings in a multi-process run.
  bool primary() const { return process_group == nullptr || process_group->rank() == 0; }
  // Set by the chosen subcommand; returns the exit code for a check that ran
  // (0, or 1 when diff/verify found something), or an error Status.
  std::function<Result<int>()> action;

  // The library-side context: threads, progress, warnings to stderr.
  Context LibContext(ProgressSink* progress = nullptr) const {
    Context c;
    c.threads = threads;
    c.progress = !quiet && !no_progress && primary();
    c.progress_sink = progress;
    c.process_group = process_group;
    if (!quiet && primary()) {
      std::ostream* e = err;
      c.warn = [e](std::string_view msg) { *e << "ockpt: warning: " << msg << "\n"; };
    }
    return c;
  }

  // A progress reporter for long work named `label` ("save", "restore"):
  // it draws a bar when stderr is a terminal (and progress is wanted) and
  // prints a summary line after long work on a terminal or with --verbose.
  std::unique_ptr<ProgressBar> StartProgress(std::string label) const {
    ProgressDisplay d;
    bool tty = ::isatty(STDERR_FILENO) == 1;
    const char* no_color = std::getenv("NO_COLOR");
    d.bar = tty && !quiet && !no_progress && primary();
    d.color = d.bar && (no_color == nullptr || no_color[0] == '\0');
    d.summary = !quiet && primary() && (verbose || tty);
    if (verbose) d.min_summary_seconds = 0;
    if (interrupts != nullptr) d.park_when = interrupts->interrupted();
    return std::make_unique<ProgressBar>(std::move(label), d);
  }

  // Runs `work` (a library call) with a progress reporter installed in its
  // Context; the bar is erased (and the summary printed) when it returns.
  Status Tracked(std::string label, const std::function<Status(const Context&)>& work) const {
    std::unique_ptr<ProgressBar> bar = StartProgress(std::move(label));
    Status s = work(LibContext(bar.get()));
    bar->Finish(s.ok());
    return s;
  }

  // A temporary output of this command, removed when it is interrupted.
  void RemoveOnInterrupt(const std::string& path) const {
    if (interrupts != nullptr) interrupts->RemoveOnInterrupt(path);
  }

  // Before writing `out` (restore, convert): removes the temporaries of
  // earlier runs that were killed (their pid is gone) and registers this
  // run's own temporary for removal on an interrupt.
  void PrepareOutput(const std::string& out) const {
    // In a multi-process run the primary process owns the output's
    // temporary (another process on another machine would take its pid
    // for one that is gone).
    if (!primary()) return;
    for (const std::string& p : RemoveStaleTemporaries(out)) {
      if (verbose) *err << "ockpt: removed " << p << ", left by a process that is gone\n";
    }
    RemoveOnInterrupt(OutputTemporary(out));
  }

  // Warnings go to stderr unless --quiet.
  void Warn(std::string_view msg) const {
    if (!quiet && primary()) *err << "ockpt: warning: " << msg << "\n";
  }
};

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_APP_CONTEXT_H_
