#include "lib/checkpoint/retention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

namespace ockpt {

Status RetentionPolicy::Validate() const {
  if (max_to_keep && *max_to_keep < 0) {
    return InvalidArgumentError("max_to_keep must be >= 0, got {}", *max_to_keep);
  }
  if (keep_period && *keep_period < 1) {
    return InvalidArgumentError("keep_period must be >= 1, got {}", *keep_period);
  }
  if (keep_time_interval_s && *keep_time_interval_s < 1) {
    return InvalidArgumentError("keep_time_interval must be at least 1s, got {}s", *keep_time_interval_s);
  }
  if (best_metric) {
    if (best_metric->empty()) return InvalidArgumentError("the best metric name is empty");
    if (!max_to_keep) {
      return InvalidArgumentError("a best metric ('{}') needs max_to_keep: it keeps the max_to_keep best steps",
                                  *best_metric);
    }
  } else if (drop_unscored) {
    return InvalidArgumentError("dropping unscored steps needs a best metric");
  }
  return Status::Ok();
}

std::optional<double> MetricValue(const nlohmann::ordered_json& metrics, std::string_view name) {
  if (!metrics.is_object()) return std::nullopt;
  const nlohmann::ordered_json* v = nullptr;
  auto it = metrics.find(std::string(name));
  if (it != metrics.end()) {
    v = &*it;
  } else {
    // Dotted path into nested objects.
    const nlohmann::ordered_json* cur = &metrics;
    size_t start = 0;
    while (cur != nullptr) {
      size_t dot = name.find('.', start);
      std::string part(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
      if (!cur->is_object()) return std::nullopt;
      auto jt = cur->find(part);
      if (jt == cur->end()) return std::nullopt;
      cur = &*jt;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    v = cur;
  }
  if (v == nullptr) return std::nullopt;
  double d;
  if (v->is_boolean()) {
    d = v->get<bool>() ? 1.0 : 0.0;
  } else if (v->is_number()) {
    d = v->get<double>();
  } else {
    return std::nullopt;
  }
  if (std::isnan(d)) return std::nullopt;
  return d;
}

std::vector<RetentionDecision> PlanRetention(const std::vector<RetentionStep>& steps,
                                             const RetentionPolicy& policy) {
  const size_t n = steps.size();
  // Positions in step order (stable for equal steps).
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return steps[a].step < steps[b].step; });

  enum Bit : unsigned {
    kLatest = 1,
    kMaxToKeep = 2,
    kBest = 4,
    kPeriod = 8,
    kTime = 16,
    kUnscored = 32,
  };
  std::vector<unsigned> why(n, 0);

  if (policy.protect_step) {
    for (size_t i = 0; i < n; ++i) {
      if (steps[i].step == *policy.protect_step) why[i] |= kLatest;
    }
  }

  if (policy.max_to_keep) {
    const size_t keep = static_cast<size_t>(*policy.max_to_keep);
    if (!policy.best_metric) {
      // LatestN: the last `keep` in step order.
      for (size_t k = n > keep ? n - keep : 0; k < n; ++k) why[order[k]] |= kMaxToKeep;
    } else if (n <= keep) {
      // BestN with no more steps than n: all are preserved.
      for (size_t i = 0; i < n; ++i) why[i] |= kMaxToKeep;
    } else if (keep > 0) {
      struct Scored {
        size_t index;
        double value;
      };
      std::vector<Scored> scored;  // in step order
      for (size_t i : order) {
        std::optional<double> v = MetricValue(steps[i].metrics, *policy.best_metric);
        if (v) {
          scored.push_back({i, *v});
        } else if (!policy.drop_unscored) {
          why[i] |= kUnscored;
        }
      }
      // Python's sorted(key=best_fn, reverse=(mode == 'min')) is stable in
      // both directions; the last `keep` entries are the best.
      if (policy.best_mode == BestMode::kMax) {
        std::stable_sort(scored.begin(), scored.end(),
                         [](const Scored& a, const Scored& b) { return a.value < b.value; });
      } else {
        std::stable_sort(scored.begin(), scored.end(),
                         [](const Scored& a, const Scored& b) { return a.value > b.value; });
      }
      for (size_t k = scored.size() > keep ? scored.size() - keep : 0; k < scored.size(); ++k) {
        why[scored[k].index] |= kBest;
      }
    }
    // keep == 0 with a best metric: BestN preserves nothing, unscored included.
  }

  if (policy.keep_period) {
    for (size_t i = 0; i < n; ++i) {
      if (steps[i].step % *policy.keep_period == 0) why[i] |= kPeriod;
    }
  }

  if (policy.keep_time_interval_s && n > 0) {
    const int64_t interval_ns = *policy.keep_time_interval_s * int64_t{1000000000};
    int64_t last = steps[order[0]].time_ns;
    why[order[0]] |= kTime;
    for (size_t k = 1; k < n; ++k) {
      size_t i = order[k];
      // Differences in 128 bits: times may be far apart or out of order.
      __int128 diff = static_cast<__int128>(steps[i].time_ns) - last;
      if (diff >= interval_ns) {
        why[i] |= kTime;
        last = steps[i].time_ns;
      }
    }
  }

  std::vector<RetentionDecision> out(n);
  static constexpr std::pair<unsigned, std::string_view> kNames[] = {
      {kLatest, kReasonLatest},       {kMaxToKeep, kReasonMaxToKeep},
      {kBest, kReasonBest},           {kPeriod, kReasonKeepPeriod},
      {kTime, kReasonKeepTimeInterval}, {kUnscored, kReasonUnscored},
  };
  for (size_t i = 0; i < n; ++i) {
    RetentionDecision& d = out[i];
    d.step = steps[i].step;
    d.keep = why[i] != 0;
    for (const auto& [bit, name] : kNames) {
      if (why[i] & bit) d.reasons.emplace_back(name);
    }
    if (!d.keep) d.reasons.emplace_back(kReasonNotKept);
  }
  return out;
}

Result<int64_t> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError("bad duration '{}': expected e.g. 90s, 30m, 1h, 7d (or 1h30m)", text);
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  size_t i = 0;
  bool any_unit = false;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return bad();
    int64_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return bad();
      v = v * 10 + (text[i] - '0');
      ++i;
    }
    int64_t mult = 1;
    if (i == text.size()) {
      if (any_unit) return bad();  // "1h30" is ambiguous
    } else {
      switch (text[i]) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        case 'w': mult = 7 * 86400; break;
        default: return bad();
      }
      ++i;
      any_unit = true;
    }
    if (v > std::numeric_limits<int64_t>::max() / mult) return bad();
    v *= mult;
    if (total > std::numeric_limits<int64_t>::max() - v) return bad();
    total += v;
  }
  return total;
}

std::string FormatDuration(int64_t s) {
  if (s < 0) return "-" + FormatDuration(-s);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

}  // namespace ockpt
