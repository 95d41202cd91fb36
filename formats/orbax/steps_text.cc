// Rendering step listings and gc plans: `ls-steps` / `gc` text tables and
// their --json documents.

#include <ctime>

#include <fmt/format.h>

#include "formats/orbax/side_json.h"
#include "formats/orbax/steps.h"

namespace ockpt::orbax {

namespace {

std::string IsoTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  if (ns < 0 && ns % 1000000000 != 0) --secs;
  struct tm tm;
  if (::gmtime_r(&secs, &tm) == nullptr) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string HumanBytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return v < 10 ? fmt::format("{:.2f} {}", v, kUnits[u]) : v < 100 ? fmt::format("{:.1f} {}", v, kUnits[u])
                                                                   : fmt::format("{:.0f} {}", v, kUnits[u]);
}

// "loss=0.5 eval.acc=0.9" (keys in file order, nested objects dotted).
void FlattenMetrics(const Json& j, const std::string& prefix, std::vector<std::string>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) FlattenMetrics(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  std::string v = SideJsonScalarText(j);
  out->push_back(prefix.empty() ? v : prefix + "=" + v);
}

std::string MetricsText(const Json& metrics) {
  if (metrics.is_null()) return "-";
  std::vector<std::string> parts;
  FlattenMetrics(metrics, "", &parts);
  return parts.empty() ? "{}" : fmt::format("{}", fmt::join(parts, " "));
}

std::string ItemsText(const std::vector<std::string>& items) {
  if (items.empty()) return "-";
  if (items.size() == 1 && items[0].empty()) return "(direct)";
  return fmt::format("{}", fmt::join(items, ","));
}

// Prints rows as left-aligned columns separated by two spaces; the last
// column is not padded.
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      if (c + 1 < r.size()) {
        line += r[c];
        line.append(width[c] - r[c].size() + 2, ' ');
      } else {
        line += r[c];
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

}  // namespace

Json RootListingToJson(const RootListing& listing) {
  Json j = Json::object();
  j["root"] = listing.root;
  j["latest_step"] = listing.latest_step ? Json(*listing.latest_step) : Json(nullptr);
  Json steps = Json::array();
  for (const StepInfo& s : listing.steps) {
    Json e = Json::object();
    e["step"] = s.step;
    e["path"] = s.name;
    e["status"] = std::string(StepStatusName(s.status));
    e["commit_timestamp_nsecs"] = s.commit_timestamp_nsecs ? Json(*s.commit_timestamp_nsecs) : Json(nullptr);
    e["bytes"] = s.bytes;
    e["items"] = s.items;
    e["metrics"] = s.metrics;
    steps.push_back(std::move(e));
  }
  j["steps"] = std::move(steps);
  Json tmp = Json::array();
  for (const TmpDirInfo& t : listing.tmp) {
    tmp.push_back(Json{{"path", t.name}, {"age_seconds", t.age_seconds}});
  }
  j["tmp"] = std::move(tmp);
  return j;
}

void PrintRootListingTable(const RootListing& listing, std::ostream& out, bool header) {
  std::vector<std::vector<std::string>> rows;
  if (header) rows.push_back({"STEP", "STATUS", "COMMITTED (UTC)", "SIZE", "ITEMS", "METRICS"});
  for (const StepInfo& s : listing.steps) {
    std::string when = IsoTime(s.time_ns());
    if (!s.commit_timestamp_nsecs) when += " (mtime)";
    rows.push_back({s.name, std::string(StepStatusName(s.status)), when, HumanBytes(s.bytes), ItemsText(s.items),
                    MetricsText(s.metrics)});
  }
  for (const TmpDirInfo& t : listing.tmp) {
    rows.push_back({t.name, std::string(StepStatusName(StepStatus::kInProgress)),
                    fmt::format("- (age {})", FormatDuration(t.age_seconds)), HumanBytes(t.bytes), "-", "-"});
  }
  PrintTable(rows, out);
}

void PrintRootListingSummary(const RootListing& listing, std::ostream& out) {
  uint64_t total = 0;
  size_t committed = 0, incomplete = 0;
  for (const StepInfo& s : listing.steps) {
    total += s.bytes;
    committed += s.status == StepStatus::kCommitted;
    incomplete += s.status == StepStatus::kIncomplete;
  }
  for (const TmpDirInfo& t : listing.tmp) total += t.bytes;
  out << fmt::format("{} step{} ({} committed, {} incomplete", listing.steps.size(),
                     listing.steps.size() == 1 ? "" : "s", committed, incomplete);
  if (!listing.tmp.empty()) out << fmt::format(", {} in progress", listing.tmp.size());
  out << fmt::format("), {}; latest committed step: {}\n", HumanBytes(total),
                     listing.latest_step ? std::to_string(*listing.latest_step) : "none");
  for (const StepInfo& s : listing.steps) {
    if (s.status == StepStatus::kIncomplete) out << fmt::format("{}: incomplete: {}\n", s.name, s.problem);
  }
}

void PrintRootListingText(const RootListing& listing, std::ostream& out) {
  PrintRootListingTable(listing, out, /*header=*/true);
  PrintRootListingSummary(listing, out);
}

Json GcPlanToJson(const GcPlan& plan, bool dry_run) {
  const RootListing& l = plan.listing;
  Json j = Json::object();
  j["root"] = l.root;
  j["dry_run"] = dry_run;
  Json steps = Json::array();
  for (size_t i = 0; i < plan.decisions.size(); ++i) {
    const RetentionDecision& d = plan.decisions[i];
    steps.push_back(Json{{"step", d.step}, {"action", d.keep ? "keep" : "delete"}, {"reasons", d.reasons}});
  }
  j["plan"] = std::move(steps);
  Json tmp = Json::array();
  for (size_t i = 0; i < l.tmp.size(); ++i) {
    tmp.push_back(Json{{"path", l.tmp[i].name},
                       {"age_seconds", l.tmp[i].age_seconds},
                       {"action", plan.remove_tmp[i] ? "delete" : "keep"}});
  }
  j["tmp"] = std::move(tmp);
  j["bytes_freed"] = plan.bytes_freed;
  return j;
}

void PrintGcPlanText(const GcPlan& plan, bool dry_run, const GcOptions& options, std::ostream& out) {
  const RootListing& l = plan.listing;
  const char* del = options.trash ? "trash" : "delete";
  size_t n_delete = 0;
  if (plan.has_policy) {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"STEP", "ACTION", "SIZE", "REASONS"});
    for (size_t i = 0; i < plan.decisions.size(); ++i) {
      const RetentionDecision& d = plan.decisions[i];
      n_delete += !d.keep;
      std::string reasons = fmt::format("{}", fmt::join(d.reasons, ", "));
      if (l.steps[i].status == StepStatus::kIncomplete) reasons += " (incomplete)";
      rows.push_back({l.steps[i].name, d.keep ? "keep" : del, HumanBytes(l.steps[i].bytes), reasons});
    }
    if (plan.decisions.empty()) {
      out << "no steps\n";
    } else {
      PrintTable(rows, out);
    }
  } else {
    out << "no retention policy given: steps are left alone\n";
  }
  if (!l.tmp.empty()) {
    out << "\n";
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"IN PROGRESS", "ACTION", "SIZE", "AGE"});
    for (size_t i = 0; i < l.tmp.size(); ++i) {
      const TmpDirInfo& t = l.tmp[i];
      std::string why;
      if (!options.clean_tmp) {
        why = " (in-progress cleanup not asked for)";
      } else if (!plan.remove_tmp[i]) {
        why = fmt::format(" (younger than {})", FormatDuration(options.tmp_older_than_s));
      }
      n_delete += plan.remove_tmp[i];
      rows.push_back({t.name, plan.remove_tmp[i] ? del : "keep", HumanBytes(t.bytes),
                      FormatDuration(t.age_seconds) + why});
    }
    PrintTable(rows, out);
  }
  std::string verb = options.trash ? fmt::format("move to {}", *options.trash) : std::string("free");
  out << fmt::format("{}{} {} ({} director{})\n", dry_run ? "dry run: would " : "", dry_run ? verb : "will " + verb,
                     HumanBytes(plan.bytes_freed), n_delete, n_delete == 1 ? "y" : "ies");
}

}  // namespace ockpt::orbax
