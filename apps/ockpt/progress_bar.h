// The CLI's side of progress reporting: a ProgressSink (lib/base/context.h)
// that draws a bar (bytes done/total, rate, ETA) on stderr when stderr is a
// terminal, and a one-line summary (bytes, seconds, rate) after long work.
//
// Rules (docs/cli.md "Progress"): bars only when stderr is a terminal and
// neither --quiet nor --no-progress is given; colour only when NO_COLOR is
// unset or empty (and stderr is a terminal); the summary on a terminal for
// work of a second or more, or always with --verbose; never with --quiet.

#ifndef OCKPT_APPS_OCKPT_PROGRESS_BAR_H_
#define OCKPT_APPS_OCKPT_PROGRESS_BAR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "lib/base/context.h"
#include "lib/base/result.h"

namespace ockpt {

struct ProgressDisplay {
  bool bar = false;      // draw a bar (stderr is a terminal, progress wanted)
  bool color = false;    // colour the bar
  bool summary = false;  // a summary line at the end (subject to min_summary_seconds)
  double min_summary_seconds = 1.0;
  int fd = 2;            // where to draw (stderr)
  // Once this is true (an interrupt: interrupt.h), every thread that reports
  // progress parks for good, so that the temporaries can be removed.
  const std::atomic<bool>* park_when = nullptr;
};

// "1.5 GiB", "312.0 KiB", "17 B".
std::string HumanBytes(uint64_t bytes);

class ProgressBar final : public ProgressSink {
 public:
  ProgressBar(std::string label, ProgressDisplay display);
  ~ProgressBar() override;
  void AddTotal(uint64_t bytes) override;
  void AddDone(uint64_t bytes) override;
  // Erases the bar; prints the summary line when asked and `ok`. Idempotent.
  void Finish(bool ok);

  uint64_t done() const { return done_.load(); }
  uint64_t total() const { return total_.load(); }

 private:
  void MaybeDraw(bool force);
  void ParkIfInterrupted() const;
  std::string Line(double seconds) const;

  std::string label_;
  ProgressDisplay display_;
  std::atomic<uint64_t> total_{0}, done_{0};
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex draw_mu_;
  bool drawn_ = false, finished_ = false;
  int width_ = 80;
};

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_PROGRESS_BAR_H_
