// Progress bar and summary line on stderr.

#include "apps/ockpt/progress_bar.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ockpt {
namespace {

void WriteAll(int fd, const std::string& text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) return;  // nowhere to report a failing stderr
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--";
  auto s = static_cast<uint64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

ProgressBar::ProgressBar(std::string label, ProgressDisplay display)
    : label_(std::move(label)), display_(display), start_(std::chrono::steady_clock::now()) {
  last_draw_ = start_;
  struct winsize ws {};
  if (display_.bar && ::ioctl(display_.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) width_ = ws.ws_col;
}

ProgressBar::~ProgressBar() { Finish(false); }

void ProgressBar::ParkIfInterrupted() const {
  if (display_.park_when == nullptr || !display_.park_when->load()) return;
  for (;;) ::pause();  // SIGINT/SIGTERM are blocked here; the watcher thread calls _exit
}

void ProgressBar::AddTotal(uint64_t bytes) {
  ParkIfInterrupted();
  total_ += bytes;
  MaybeDraw(false);
}

void ProgressBar::AddDone(uint64_t bytes) {
  ParkIfInterrupted();
  done_ += bytes;
  MaybeDraw(false);
}

std::string ProgressBar::Line(double seconds) const {
  uint64_t done = done_.load(), total = std::max(total_.load(), done);
  double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
  std::string eta = rate > 0 && total > done ? Duration(static_cast<double>(total - done) / rate) : "--";
  std::string tail = fmt::format(" {:3.0f}%  {} / {}  {}/s  ETA {}", frac * 100, HumanBytes(done), HumanBytes(total),
                                 HumanBytes(static_cast<uint64_t>(rate)), eta);
  int bar = width_ - 1 - static_cast<int>(label_.size()) - 3 - static_cast<int>(tail.size());
  bar = std::min(bar, 40);
  std::string line = label_;
  if (bar >= 10) {
    int fill = static_cast<int>(frac * bar);
    std::string filled(static_cast<size_t>(fill), '#'), empty(static_cast<size_t>(bar - fill), '.');
    if (display_.color) filled = "\033[32m" + filled + "\033[0m";
    line += " [" + filled + empty + "]";
  }
  return line + tail;
}

void ProgressBar::MaybeDraw(bool force) {
  if (!display_.bar) return;
  std::unique_lock<std::mutex> lock(draw_mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;  // another thread is drawing
  auto now = std::chrono::steady_clock::now();
  // The first draw comes at once (the work is known), later ones at most
  // ten times a second: the bar appears however progress events are spaced.
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  WriteAll(display_.fd, "\r" + Line(std::chrono::duration<double>(now - start_).count()) + "\033[K");
}

void ProgressBar::Finish(bool ok) {
  std::lock_guard<std::mutex> lock(draw_mu_);
  if (finished_) return;
  finished_ = true;
  if (drawn_) WriteAll(display_.fd, "\r\033[K");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (ok && display_.summary && seconds >= display_.min_summary_seconds) {
    uint64_t done = done_.load();
    WriteAll(display_.fd, fmt::format("ockpt: {}: {} in {:.2f} s ({}/s)\n", label_, HumanBytes(done), seconds,
                                      HumanBytes(seconds > 0 ? static_cast<uint64_t>(done / seconds) : done)));
  }
}

}  // namespace ockpt
