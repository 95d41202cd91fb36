// The retention flags shared by `ockpt gc` and `ockpt save --step`:
// --max-to-keep, --keep-period, --keep-time-interval, --best-metric,
// --best-mode, --drop-unscored (lib/checkpoint/retention.h).

#ifndef OCKPT_APPS_OCKPT_RETENTION_FLAGS_H_
#define OCKPT_APPS_OCKPT_RETENTION_FLAGS_H_

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "apps/ockpt/cli_support.h"
#include "lib/checkpoint/retention.h"

namespace ockpt {

struct RetentionFlags {
  std::optional<int64_t> max_to_keep, keep_period;
  std::string keep_time_interval;
  std::string best_metric;
  std::string best_mode = "max";
  bool drop_unscored = false;

  // The policy the flags give (validated), or nullopt when none of
  // --max-to-keep, --keep-period, --keep-time-interval was given.
  Result<std::optional<RetentionPolicy>> Policy() const {
    RetentionPolicy p;
    p.max_to_keep = max_to_keep;
    p.keep_period = keep_period;
    if (!keep_time_interval.empty()) {
      auto d = ParseDuration(keep_time_interval);
      if (!d.ok()) return d.status().WithContext("--keep-time-interval");
      p.keep_time_interval_s = *d;
    }
    if (!best_metric.empty()) {
      if (!max_to_keep) return InvalidArgumentError("--best-metric needs --max-to-keep (it keeps the N best steps)");
      p.best_metric = best_metric;
      p.best_mode = best_mode == "min" ? BestMode::kMin : BestMode::kMax;
      p.drop_unscored = drop_unscored;
    }
    if (!p.HasPolicy()) return std::optional<RetentionPolicy>();
    Status s = p.Validate();
    if (!s.ok()) return s;
    return std::optional<RetentionPolicy>(std::move(p));
  }
};

inline void AddRetentionFlags(CLI::App* cmd, RetentionFlags& f) {
  cmd->add_option("--max-to-keep", f.max_to_keep, "Keep the latest N steps (the best N with --best-metric)")
      ->check(NonNegativeInt("3"));
  cmd->add_option("--keep-period", f.keep_period, "Also keep every step that is a multiple of N")
      ->check(PositiveInt("1000"));
  cmd->add_option("--keep-time-interval", f.keep_time_interval,
                  "Also keep one step per DURATION of commit time (90s, 30m, 1h, 7d)");
  CLI::Option* best = cmd->add_option("--best-metric", f.best_metric,
                                      "With --max-to-keep: keep the N best steps by this metric of "
                                      "metrics/metrics (dotted for nested)");
  cmd->add_option("--best-mode", f.best_mode, "max (default): larger is better; min: smaller is better")
      ->check(CLI::IsMember({"min", "max"}))
      ->needs(best);
  cmd->add_flag("--drop-unscored", f.drop_unscored, "Do not keep steps that lack the metric")->needs(best);
}

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_RETENTION_FLAGS_H_
