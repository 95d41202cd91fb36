// Retention: which steps of a checkpoint series to keep, with the semantics
// of Orbax's CheckpointManager (docs/format/orbax.md §8.5,
// `_src/checkpoint_managers/preservation_policy.py`). Pure functions over a
// list of steps; no files. `ockpt gc` and `ockpt save --step --max-to-keep`
// apply the plan to a manager root (formats/orbax/steps.h).
//
// A step is kept if ANY given policy keeps it:
//   * max_to_keep without best_metric: LatestN, the last n steps by step;
//   * max_to_keep with best_metric: BestN, the n best by the metric
//     (best_mode kMax: largest; kMin: smallest; ties go to the later step),
//     steps without the metric kept unless drop_unscored; n = 0 keeps none
//     of them (unscored included), and n >= the number of steps keeps all;
//   * keep_period: EveryNSteps, step % keep_period == 0;
//   * keep_time_interval: EveryNSeconds, the first step (by step) is kept,
//     then each one whose time is >= interval after the last kept one.
// Differences from CheckpointManager, on purpose: a policy that is not given
// keeps nothing (CheckpointManager's max_to_keep=None keeps everything, so
// keep_period alone never deletes there), and protect_step (the latest
// committed step) is never deleted.

#ifndef OCKPT_LIB_CHECKPOINT_RETENTION_H_
#define OCKPT_LIB_CHECKPOINT_RETENTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/base/result.h"

namespace ockpt {

struct RetentionStep {
  int64_t step = 0;
  int64_t time_ns = 0;               // commit time (or the dir's mtime)
  nlohmann::ordered_json metrics;    // the step's metrics object, null if none
};

enum class BestMode { kMax, kMin };

struct RetentionPolicy {
  std::optional<int64_t> max_to_keep;          // >= 0
  std::optional<int64_t> keep_period;          // > 0
  std::optional<int64_t> keep_time_interval_s; // > 0, whole seconds as Orbax uses
  std::optional<std::string> best_metric;      // needs max_to_keep
  BestMode best_mode = BestMode::kMax;
  bool drop_unscored = false;                  // keep_checkpoints_without_metrics=False
  // Never deleted, whatever the policies say (the latest committed step).
  std::optional<int64_t> protect_step;

  // Whether any deleting policy is set (max_to_keep, keep_period, keep_time_interval).
  bool HasPolicy() const {
    return max_to_keep.has_value() || keep_period.has_value() || keep_time_interval_s.has_value();
  }
  // kInvalidArgument for a negative max_to_keep, a keep_period or
  // keep_time_interval below 1, best_metric without max_to_keep, and
  // drop_unscored without best_metric.
  Status Validate() const;
};

// Reasons, in the order they are listed.
inline constexpr std::string_view kReasonLatest = "latest";
inline constexpr std::string_view kReasonMaxToKeep = "max_to_keep";
inline constexpr std::string_view kReasonBest = "best";
inline constexpr std::string_view kReasonKeepPeriod = "keep_period";
inline constexpr std::string_view kReasonKeepTimeInterval = "keep_time_interval";
inline constexpr std::string_view kReasonUnscored = "unscored";
inline constexpr std::string_view kReasonNotKept = "not kept by any policy";

struct RetentionDecision {
  int64_t step = 0;
  bool keep = true;
  std::vector<std::string> reasons;  // why kept; for a deleted step, why not
};

// One decision per input step, in the input's order. The policies see the
// steps sorted by step (stable), as CheckpointManager's all_steps() are.
// REQUIRES: policy.Validate().ok()
std::vector<RetentionDecision> PlanRetention(const std::vector<RetentionStep>& steps,
                                             const RetentionPolicy& policy);

// The value of metric `name` in a metrics object: metrics[name] if present,
// else the dotted path ("eval.loss" -> metrics["eval"]["loss"]). Numbers and
// booleans count; anything else (absent, string, null, non-finite) is
// nullopt, i.e. the step is unscored.
std::optional<double> MetricValue(const nlohmann::ordered_json& metrics, std::string_view name);

// "90s", "30m", "1h", "7d", "2w", compounds such as "1h30m", or a bare
// number of seconds. kInvalidArgument otherwise. Returns seconds.
Result<int64_t> ParseDuration(std::string_view text);
// Seconds as a short human string: "45s", "3m20s", "2h05m", "3d04h".
std::string FormatDuration(int64_t seconds);

}  // namespace ockpt

#endif  // OCKPT_LIB_CHECKPOINT_RETENTION_H_
