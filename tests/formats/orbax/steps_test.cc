// Manager roots: ls-steps statuses, gc on real directories, the writer lock.

#include "formats/orbax/steps.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <catch2/catch.hpp>

#include "formats/orbax/checkpoint_reader.h"
#include "lib/base/file.h"
#include "lib/base/pyjson.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax {
namespace {

namespace fs = std::filesystem;
using testing::Golden;
using testing::TempDir;

constexpr int64_t kSec = 1000000000LL;
constexpr int64_t kT0 = 1700000000LL * kSec;  // 2023-11-14T22:13:20Z
const char* kItem =
    "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata";

// Copies a directory tree and makes the copy writable (the golden files are read-only).
void CopyTree(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(to)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  fs::permissions(to, fs::perms::owner_write, fs::perm_options::add);
}

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(WriteFile(path, text).ok());
}

// Sets the mtime of path and everything below it.
void SetTreeMtime(const std::string& path, int64_t ns) {
  struct timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = ns / kSec;
  ts[0].tv_nsec = ts[1].tv_nsec = ns % kSec;
  std::vector<std::string> all;
  for (auto& e : fs::recursive_directory_iterator(path)) all.push_back(e.path().string());
  all.push_back(path);
  for (const auto& p : all) REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

// A CheckpointManager step as Orbax writes it: _CHECKPOINT_METADATA,
// a `default` PyTree item (a real one, so the step restores) and
// `metrics/metrics` when metrics are given.
void MakeStep(const std::string& root, const std::string& name, int64_t commit_ns, const Json& metrics) {
  std::string dir = root + "/" + name;
  fs::create_directories(dir);
  CopyTree(Golden(kItem), dir + "/default");
  fs::remove(dir + "/default/_CHECKPOINT_METADATA");
  Json handlers = {{"default", "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler"}};
  if (!metrics.is_null()) {
    handlers["metrics"] = "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";
    Write(dir + "/metrics/metrics", PyJsonDumps(metrics));
  }
  Json md = {{"item_handlers", handlers},          {"metrics", Json::object()},
             {"performance_metrics", Json::object()}, {"init_timestamp_nsecs", commit_ns - kSec},
             {"commit_timestamp_nsecs", commit_ns},   {"custom_metadata", Json::object()}};
  Write(dir + "/_CHECKPOINT_METADATA", PyJsonDumps(md));
  Write(dir + "/commit_success.txt", "Checkpoint commit was successful to " + dir);
}

// The 40-step scenario of tests/lib/checkpoint/retention_test.cc (the
// derivations of the expected sets are there): step = 5*i, commit time
// T0 + 10*i min (i < 20) or T0 + 200 + 3*(i-20) min, metrics none for
// i % 7 == 3, {"acc": 0.5} for i == 13, else {"loss": (17*i % 40)/10, "acc": i/100}.
void MakeScenario(const std::string& root) {
  for (int i = 0; i < 40; ++i) {
    int64_t minutes = i < 20 ? 10 * i : 200 + 3 * (i - 20);
    Json metrics;
    if (i % 7 == 3) {
      metrics = nullptr;
    } else if (i == 13) {
      metrics = Json{{"acc", 0.5}};
    } else {
      metrics = Json{{"loss", ((17 * i) % 40) / 10.0}, {"acc", i / 100.0}};
    }
    MakeStep(root, std::to_string(5 * i), kT0 + minutes * 60 * kSec, metrics);
  }
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  for (auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::set<std::string> StepNames(std::initializer_list<int> steps) {
  std::set<std::string> names;
  for (int s : steps) names.insert(std::to_string(s));
  return names;
}

TEST_CASE("ListSteps on the 40-step scenario") {
  TempDir tmp;
  std::string root = tmp / "root";
  MakeScenario(root);
  auto listing = ListSteps(root);
  REQUIRE(listing.ok());
  REQUIRE(listing->steps.size() == 40);
  CHECK(listing->latest_step == 195);
  CHECK(listing->tmp.empty());
  for (int i = 0; i < 40; ++i) {
    const StepInfo& s = listing->steps[i];
    INFO("step " << s.name);
    CHECK(s.step == 5 * i);
    CHECK(s.status == StepStatus::kCommitted);
    CHECK(s.bytes == *DiskUsage(root + "/" + s.name));
    if (i % 7 == 3) {
      CHECK(s.items == std::vector<std::string>{"default"});
      CHECK(s.metrics.is_null());
    } else {
      CHECK(s.items == std::vector<std::string>{"default", "metrics"});
      CHECK(s.metrics.is_object());
    }
  }
  CHECK(listing->steps[13].metrics == Json{{"acc", 0.5}});
  CHECK(listing->steps[2].metrics["loss"] == 3.4);
  CHECK(listing->steps[21].commit_timestamp_nsecs == kT0 + 203 * 60 * kSec);

  Json j = RootListingToJson(*listing);
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"root", "latest_step", "steps", "tmp"});
  keys.clear();
  for (auto& [k, v] : j["steps"][0].items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"step", "path", "status", "commit_timestamp_nsecs", "bytes", "items",
                                         "metrics"});
  CHECK(j["steps"][1]["path"] == "5");
  CHECK(j["steps"][1]["status"] == "committed");

  std::ostringstream text;
  PrintRootListingText(*listing, text);
  CHECK(text.str().find("2023-11-14T22:13:20Z") != std::string::npos);
  CHECK(text.str().find("loss=0.5") != std::string::npos);
  CHECK(text.str().find("40 steps (40 committed, 0 incomplete)") != std::string::npos);
}

struct GcCase {
  const char* name;
  RetentionPolicy policy;
  std::set<std::string> kept;
};

std::vector<GcCase> GcCases() {
  std::vector<GcCase> cases;
  auto add = [&](const char* name, std::set<std::string> kept, auto set) {
    GcCase c{name, RetentionPolicy(), std::move(kept)};
    set(c.policy);
    cases.push_back(std::move(c));
  };
  add("latest 5", StepNames({175, 180, 185, 190, 195}), [](RetentionPolicy& p) { p.max_to_keep = 5; });
  add("keep_period 50", StepNames({0, 50, 100, 150, 195}), [](RetentionPolicy& p) { p.keep_period = 50; });
  add("keep_time_interval 1h", StepNames({0, 30, 60, 90, 170, 195}),
      [](RetentionPolicy& p) { p.keep_time_interval_s = 3600; });
  add("best 3 min", StepNames({0, 130, 165, 15, 50, 65, 85, 120, 155, 190, 195}), [](RetentionPolicy& p) {
    p.max_to_keep = 3;
    p.best_metric = "loss";
    p.best_mode = BestMode::kMin;
  });
  add("best 3 min, drop unscored", StepNames({0, 130, 165, 195}), [](RetentionPolicy& p) {
    p.max_to_keep = 3;
    p.best_metric = "loss";
    p.best_mode = BestMode::kMin;
    p.drop_unscored = true;
  });
  add("best 3 max, drop unscored", StepNames({35, 70, 105, 195}), [](RetentionPolicy& p) {
    p.max_to_keep = 3;
    p.best_metric = "loss";
    p.drop_unscored = true;
  });
  add("latest 2 + period 50 + 1h", StepNames({0, 30, 50, 60, 90, 100, 150, 170, 190, 195}),
      [](RetentionPolicy& p) {
        p.max_to_keep = 2;
        p.keep_period = 50;
        p.keep_time_interval_s = 3600;
      });
  add("best 3 min + period 100", StepNames({0, 100, 130, 165, 195}), [](RetentionPolicy& p) {
    p.max_to_keep = 3;
    p.best_metric = "loss";
    p.best_mode = BestMode::kMin;
    p.drop_unscored = true;
    p.keep_period = 100;
  });
  return cases;
}

// The scenario is built once per process; each case gets a hard-linked copy.
const std::string& ScenarioBase() {
  static TempDir dir;
  static const std::string base = [] {
    std::string b = dir / "base";
    MakeScenario(b);
    return b;
  }();
  return base;
}

TEST_CASE("gc deletes exactly what no policy keeps, and the kept steps still open") {
  TempDir tmp;
  int n = 0;
  for (const GcCase& c : GcCases()) {
    SECTION(c.name) {
      std::string root = tmp / ("root" + std::to_string(n++));
      fs::copy(ScenarioBase(), root, fs::copy_options::recursive | fs::copy_options::create_hard_links);
      GcOptions options;
      options.policy = c.policy;
      auto plan = PlanGc(root, options);
      REQUIRE(plan.ok());
      uint64_t expect_freed = 0;
      for (size_t i = 0; i < plan->listing.steps.size(); ++i) {
        bool kept = c.kept.count(plan->listing.steps[i].name) > 0;
        CHECK(plan->decisions[i].keep == kept);
        if (!kept) expect_freed += plan->listing.steps[i].bytes;
      }
      CHECK(plan->bytes_freed == expect_freed);
      // Nothing changed yet (a dry run is just the plan).
      CHECK(Entries(root).size() == 40);
      REQUIRE(ExecuteGc(*plan, options).ok());
      CHECK(Entries(root) == c.kept);
      auto after = ListSteps(root);
      REQUIRE(after.ok());
      CHECK(after->latest_step == 195);
      for (const StepInfo& s : after->steps) {
        CHECK(s.status == StepStatus::kCommitted);
        auto ckpt = OpenCheckpoint(root, OpenOptions{s.step, std::string("default")});
        REQUIRE(ckpt.ok());
        REQUIRE(ckpt->items.size() == 1);
        REQUIRE(ckpt->items[0].pytree);
        CHECK(ckpt->items[0].pytree->leaf_error().ok());
      }
    }
  }
}

TEST_CASE("gc --trash moves steps instead of deleting them") {
  TempDir tmp;
  std::string root = tmp / "root";
  for (int s : {1, 2, 3}) MakeStep(root, std::to_string(s), kT0 + s * kSec, nullptr);
  GcOptions options;
  options.policy.max_to_keep = 1;
  options.trash = tmp / "trash";
  Write(tmp / "trash/1/already-there", "x");  // a name clash gets a suffix
  auto plan = PlanGc(root, options);
  REQUIRE(plan.ok());
  std::vector<std::string> done;
  REQUIRE(ExecuteGc(*plan, options, [&](const std::string& n) { done.push_back(n); }).ok());
  CHECK(done == std::vector<std::string>{"1", "2"});
  CHECK(Entries(root) == std::set<std::string>{"3"});
  CHECK(Entries(tmp / "trash") == std::set<std::string>{"1", "1.1", "2"});
  CHECK(IsRegularFile(tmp / "trash/2/_CHECKPOINT_METADATA"));
}

TEST_CASE("gc needs a policy or --clean-tmp, and valid values") {
  TempDir tmp;
  MakeStep(tmp.path(), "1", kT0, nullptr);
  GcOptions options;
  CHECK(PlanGc(tmp.path(), options).status().code() == StatusCode::kInvalidArgument);
  options.policy.best_metric = "loss";  // without max_to_keep
  options.policy.keep_period = 2;
  CHECK(PlanGc(tmp.path(), options).status().code() == StatusCode::kInvalidArgument);
  options = {};
  options.clean_tmp = true;
  auto plan = PlanGc(tmp.path(), options);
  REQUIRE(plan.ok());
  CHECK_FALSE(plan->has_policy);
  CHECK(plan->decisions.empty());
  CHECK(GcPlanToJson(*plan, true)["plan"].empty());
}

TEST_CASE("the golden orbax_managed roots list correctly") {
  for (const char* v : {"v0_managed", "v1_managed"}) {
    for (const char* m : {"has_metrics", "no_metrics"}) {
      for (const char* c : {"has_custom_metadata", "no_custom_metadata"}) {
        std::string rel = fmt::format("orbax_managed/{}/{}/{}", v, m, c);
        INFO(rel);
        auto listing = ListSteps(Golden(rel));
        REQUIRE(listing.ok());
        REQUIRE(listing->steps.size() == 1);
        const StepInfo& s = listing->steps[0];
        CHECK(s.step == 0);
        CHECK(s.name == "0");
        CHECK(s.status == StepStatus::kCommitted);
        CHECK(listing->latest_step == 0);
        CHECK(listing->tmp.empty());
        bool has_metrics = std::string(m) == "has_metrics";
        if (has_metrics) {
          CHECK(s.items == std::vector<std::string>{"baz", "metadata", "metrics", "state"});
          CHECK(s.metrics == Json{{"loss", 0.5}});
        } else {
          CHECK(s.items == std::vector<std::string>{"baz", "metadata", "state"});
          CHECK(s.metrics.is_null());
        }
        bool has_custom = std::string(c) == "has_custom_metadata";
        CHECK(s.custom_metadata == (has_custom ? Json{{"custom", "meta"}} : Json::object()));
        if (has_custom) {
          CHECK(listing->root_metadata["custom_metadata"] == Json{{"foo", "bar"}});
        } else {
          CHECK(listing->root_metadata.is_null());
        }
        REQUIRE(s.commit_timestamp_nsecs.has_value());
        CHECK(*s.commit_timestamp_nsecs > 1778139000000000000LL);
        CHECK(s.bytes == *DiskUsage(Golden(rel) + "/0"));
      }
    }
  }
  auto l = ListSteps(Golden("orbax_managed/v0_managed/has_metrics/has_custom_metadata"));
  REQUIRE(l.ok());
  CHECK(l->steps[0].commit_timestamp_nsecs == 1778139890858878738LL);
}

TEST_CASE("step statuses, name forms and what a listing ignores") {
  TempDir tmp;
  std::string root = tmp.path();
  MakeStep(root, "3", kT0 + 3 * kSec, nullptr);
  MakeStep(root, "step_7", kT0 + 7 * kSec, Json{{"loss", 1.0}});
  MakeStep(root, "0012", kT0 + 12 * kSec, nullptr);
  // A pre-0.12.3 step: no commit_success.txt, no commit timestamp. Still committed.
  MakeStep(root, "20", kT0, nullptr);
  fs::remove(root + "/20/commit_success.txt");
  Write(root + "/20/_CHECKPOINT_METADATA", R"({"item_handlers": {"default": "x.StandardCheckpointHandler"}})");
  // No _CHECKPOINT_METADATA but an item: an old checkpoint, committed.
  fs::create_directories(root + "/21");
  CopyTree(Golden(kItem), root + "/21/default");
  fs::remove(root + "/21/default/_CHECKPOINT_METADATA");
  // Metadata that is not JSON: incomplete.
  MakeStep(root, "30", kT0 + 30 * kSec, nullptr);
  Write(root + "/30/_CHECKPOINT_METADATA", "{\"item_handlers\": ");
  // An item the metadata lists is missing: incomplete.
  MakeStep(root, "40", kT0 + 40 * kSec, Json{{"loss", 2.0}});
  fs::remove_all(root + "/40/metrics");
  // An empty directory with a step name: incomplete.
  fs::create_directories(root + "/50");
  // In progress (current and old tmp names), an interrupted gc, root
  // metadata, the lock file, a file with a step name: not steps.
  MakeStep(root, "60.orbax-checkpoint-tmp", kT0, nullptr);
  fs::create_directories(root + "/61.orbax-checkpoint-tmp-1700000000");
  fs::create_directories(root + "/.ockpt-deleting-5-1234/default");
  Write(root + "/metadata/_ROOT_METADATA", R"({"internal_metadata": {}, "custom_metadata": {"k": 1}})");
  Write(root + "/.ockpt.lock", "1\n");
  Write(root + "/70", "not a directory");
  const int64_t now = kT0 + 7200 * kSec;
  SetTreeMtime(root + "/60.orbax-checkpoint-tmp", now - 2 * 3600 * kSec);
  SetTreeMtime(root + "/61.orbax-checkpoint-tmp-1700000000", now - 90 * kSec);
  SetTreeMtime(root + "/21", kT0 + 21 * kSec);

  ListStepsOptions lo;
  lo.now_ns = now;
  auto listing = ListSteps(root, lo);
  REQUIRE(listing.ok());
  std::vector<std::string> names;
  std::vector<std::string> statuses;
  for (const StepInfo& s : listing->steps) {
    names.push_back(s.name);
    statuses.emplace_back(StepStatusName(s.status));
  }
  CHECK(names == std::vector<std::string>{"3", "step_7", "0012", "20", "21", "30", "40", "50"});
  CHECK(statuses == std::vector<std::string>{"committed", "committed", "committed", "committed", "committed",
                                             "incomplete", "incomplete", "incomplete"});
  CHECK(listing->steps[1].step == 7);
  CHECK(listing->steps[2].step == 12);
  CHECK(listing->steps[1].metrics == Json{{"loss", 1.0}});
  CHECK_FALSE(listing->steps[3].commit_timestamp_nsecs.has_value());
  CHECK_FALSE(listing->steps[4].commit_timestamp_nsecs.has_value());
  CHECK(listing->steps[4].time_ns() == kT0 + 21 * kSec);  // the dir's mtime
  CHECK(listing->steps[4].items == std::vector<std::string>{"default"});
  CHECK(listing->steps[6].problem.find("metrics") != std::string::npos);
  CHECK(listing->latest_step == 21);  // the largest committed step
  CHECK(listing->root_metadata["custom_metadata"]["k"] == 1);
  CHECK(listing->interrupted_deletes == std::vector<std::string>{".ockpt-deleting-5-1234"});
  REQUIRE(listing->tmp.size() == 2);
  CHECK(listing->tmp[0].name == "60.orbax-checkpoint-tmp");
  CHECK(listing->tmp[0].step == 60);
  CHECK(listing->tmp[0].age_seconds == 7200);
  CHECK(listing->tmp[1].name == "61.orbax-checkpoint-tmp-1700000000");
  CHECK(listing->tmp[1].step == 61);
  CHECK(listing->tmp[1].age_seconds == 90);
  Json j = RootListingToJson(*listing);
  CHECK(j["latest_step"] == 21);
  CHECK(j["tmp"][0] == Json{{"path", "60.orbax-checkpoint-tmp"}, {"age_seconds", 7200}});
  CHECK(j["steps"][1]["path"] == "step_7");
  CHECK(j["steps"][3]["commit_timestamp_nsecs"].is_null());

  SECTION("gc never deletes the latest committed step; incomplete steps follow the policies") {
    GcOptions options;
    options.policy.max_to_keep = 1;
    auto plan = PlanGc(root, options, lo);
    REQUIRE(plan.ok());
    std::vector<std::string> actions;
    for (const auto& d : plan->decisions) actions.push_back(d.keep ? fmt::format("keep:{}", fmt::join(d.reasons, "+")) : "delete");
    // LatestN(1) keeps 50 (the largest step, incomplete); 21 is the latest committed.
    CHECK(actions == std::vector<std::string>{"delete", "delete", "delete", "delete", "keep:latest", "delete",
                                              "delete", "keep:max_to_keep"});
  }
}

TEST_CASE("Python's NaN and Infinity in metrics and metadata") {
  TempDir tmp;
  MakeStep(tmp.path(), "1", kT0, Json{{"loss", 1.0}});
  Write(tmp / "1/metrics/metrics", R"({"loss": NaN, "acc": Infinity, "low": -Infinity, "note": "NaN"})");
  Write(tmp / "1/_CHECKPOINT_METADATA",
        R"({"item_handlers": {"default": "x"}, "performance_metrics": {"t": NaN}, "commit_timestamp_nsecs": 7})");
  auto listing = ListSteps(tmp.path());
  REQUIRE(listing.ok());
  const StepInfo& s = listing->steps[0];
  CHECK(s.status == StepStatus::kCommitted);
  CHECK(s.commit_timestamp_nsecs == 7);
  CHECK(std::isnan(s.metrics["loss"].get<double>()));
  CHECK(s.metrics["acc"].get<double>() == std::numeric_limits<double>::infinity());
  CHECK(s.metrics["low"].get<double>() == -std::numeric_limits<double>::infinity());
  CHECK(s.metrics["note"] == "NaN");
  // The --json document stays valid JSON: non-finite numbers are null there.
  CHECK(RootListingToJson(*listing)["steps"][0]["metrics"].dump() ==
        R"({"loss":null,"acc":null,"low":null,"note":"NaN"})");
}

TEST_CASE("clean-tmp removes only in-progress directories old enough") {
  TempDir tmp;
  std::string root = tmp.path();
  MakeStep(root, "1", kT0, nullptr);
  MakeStep(root, "2.orbax-checkpoint-tmp", kT0, nullptr);  // old
  MakeStep(root, "3.orbax-checkpoint-tmp", kT0, nullptr);  // young
  MakeStep(root, "4.orbax-checkpoint-tmp", kT0, nullptr);  // old dir, but a file written just now
  const int64_t now = kT0 + 86400 * kSec;
  SetTreeMtime(root + "/2.orbax-checkpoint-tmp", now - 3601 * kSec);
  SetTreeMtime(root + "/3.orbax-checkpoint-tmp", now - 1800 * kSec);
  SetTreeMtime(root + "/4.orbax-checkpoint-tmp", now - 7200 * kSec);
  {
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = (now - 10 * kSec) / kSec;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    std::string f = root + "/4.orbax-checkpoint-tmp/default/_METADATA";
    REQUIRE(::utimensat(AT_FDCWD, f.c_str(), ts, 0) == 0);
  }
  GcOptions options;
  options.clean_tmp = true;
  ListStepsOptions lo;
  lo.now_ns = now;
  auto plan = PlanGc(root, options, lo);
  REQUIRE(plan.ok());
  CHECK(plan->remove_tmp == std::vector<bool>{true, false, false});
  CHECK(plan->bytes_freed == plan->listing.tmp[0].bytes);
  Json j = GcPlanToJson(*plan, false);
  CHECK(j["tmp"][0] == Json{{"path", "2.orbax-checkpoint-tmp"}, {"age_seconds", 3601}, {"action", "delete"}});
  CHECK(j["tmp"][1]["action"] == "keep");
  CHECK(j["tmp"][2]["age_seconds"] == 10);
  REQUIRE(ExecuteGc(*plan, options).ok());
  CHECK(Entries(root) == std::set<std::string>{"1", "3.orbax-checkpoint-tmp", "4.orbax-checkpoint-tmp"});

  SECTION("a shorter threshold") {
    options.tmp_older_than_s = 30 * 60;
    auto plan2 = PlanGc(root, options, lo);
    REQUIRE(plan2.ok());
    CHECK(plan2->remove_tmp == std::vector<bool>{true, false});
  }
}

TEST_CASE("interrupted deletions are finished") {
  TempDir tmp;
  std::string root = tmp.path();
  MakeStep(root, "1", kT0, nullptr);
  MakeStep(root, ".ockpt-deleting-0-999", kT0, nullptr);
  auto listing = ListSteps(root);
  REQUIRE(listing.ok());
  CHECK(listing->steps.size() == 1);
  auto done = FinishInterruptedDeletes(root);
  REQUIRE(done.ok());
  CHECK(*done == std::vector<std::string>{".ockpt-deleting-0-999"});
  CHECK(Entries(root) == std::set<std::string>{"1"});
}

TEST_CASE("a gc killed between its renames or during a removal leaves only complete steps") {
  TempDir tmp;
  std::string root = tmp.path();
  for (int s = 1; s <= 6; ++s) MakeStep(root, std::to_string(s), kT0 + s * kSec, nullptr);
  // The state of a gc (max_to_keep 2) killed after renaming 1 and 2 of
  // {1, 2, 3, 4}, in the middle of removing 1: each rename is atomic, so these
  // are the only states a kill can leave.
  fs::rename(root + "/1", root + "/.ockpt-deleting-1-4242");
  fs::remove_all(root + "/.ockpt-deleting-1-4242/default/d");
  fs::remove(root + "/.ockpt-deleting-1-4242/_CHECKPOINT_METADATA");
  fs::rename(root + "/2", root + "/.ockpt-deleting-2-4242");
  auto listing = ListSteps(root);
  REQUIRE(listing.ok());
  std::vector<std::string> names;
  for (const StepInfo& s : listing->steps) {
    names.push_back(s.name);
    CHECK(s.status == StepStatus::kCommitted);
    CHECK(OpenCheckpoint(root, OpenOptions{s.step, std::string("default")}).ok());
  }
  CHECK(names == std::vector<std::string>{"3", "4", "5", "6"});
  CHECK(listing->interrupted_deletes.size() == 2);
  // Orbax's own discovery ignores them too: ListCommittedSteps is what restore uses.
  auto committed = ListCommittedSteps(root);
  REQUIRE(committed.ok());
  CHECK(committed->size() == 4);
  // The next gc finishes the leftovers, then deletes the rest of its plan.
  auto finished = FinishInterruptedDeletes(root);
  REQUIRE(finished.ok());
  CHECK(finished->size() == 2);
  GcOptions options;
  options.policy.max_to_keep = 2;
  auto plan = PlanGc(root, options);
  REQUIRE(plan.ok());
  REQUIRE(ExecuteGc(*plan, options).ok());
  CHECK(Entries(root) == std::set<std::string>{"5", "6"});
}

TEST_CASE("ListSteps refuses what is not a manager root") {
  TempDir tmp;
  CHECK(ListSteps(tmp / "missing").status().code() == StatusCode::kNotFound);
  Write(tmp / "file", "x");
  CHECK(ListSteps(tmp / "file").status().code() == StatusCode::kNotFound);
  CHECK(ListSteps(Golden(kItem)).status().code() == StatusCode::kNotFound);
  CHECK(ListSteps(Golden("orbax_managed/v0_managed/has_metrics/has_custom_metadata/0/state")).status().code() ==
        StatusCode::kNotFound);
  auto empty = ListSteps(tmp.path());
  REQUIRE(empty.ok());
  CHECK(empty->steps.empty());
  CHECK_FALSE(empty->latest_step.has_value());
  CHECK(RootListingToJson(*empty)["latest_step"].is_null());
}

TEST_CASE("the writer lock excludes a second writer") {
  TempDir tmp;
  auto first = LockRoot(tmp.path(), false);
  REQUIRE(first.ok());
  CHECK(Entries(tmp.path()).empty());  // no lock file: the root directory itself is locked
  // flock locks belong to open file descriptions: a second open conflicts
  // even in the same process.
  auto second = LockRoot(tmp.path(), false);
  CHECK(second.status().code() == StatusCode::kUnavailable);
  CHECK(second.status().message().find("locked by another writer") != std::string::npos);

  // Another process too.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto r = LockRoot(tmp.path(), false);
    ::_exit(r.ok() ? 0 : r.status().code() == StatusCode::kUnavailable ? 5 : 1);
  }
  int wstatus = 0;
  REQUIRE(::waitpid(child, &wstatus, 0) == child);
  CHECK(WEXITSTATUS(wstatus) == 5);

  { RootLock released = std::move(first).value(); }
  CHECK(LockRoot(tmp.path(), false).ok());
  CHECK(LockRoot(tmp / "missing", false).status().code() == StatusCode::kNotFound);
  CHECK(Entries(tmp.path()).empty());
}

TEST_CASE("ApplyRetention prunes after a save") {
  TempDir tmp;
  std::string root = tmp.path();
  for (int s : {10, 20, 30, 40}) MakeStep(root, std::to_string(s), kT0 + s * kSec, nullptr);
  MakeStep(root, "50.orbax-checkpoint-tmp", kT0, nullptr);
  // A gc killed while deleting step 5 earlier: retention finishes it first.
  MakeStep(root, "5", kT0 + 5 * kSec, nullptr);
  fs::rename(root + "/5", root + "/.ockpt-deleting-5-4242");
  RetentionPolicy p;
  p.max_to_keep = 2;
  auto lock = LockRoot(root, false);
  REQUIRE(lock.ok());
  std::vector<std::string> finished, deleted;
  GcObserver observer;
  observer.finished_interrupted = [&](const std::vector<std::string>& n) { finished = n; };
  observer.deleted = [&](const std::string& n) { deleted.push_back(n); };
  auto run = ApplyRetention(*lock, p, observer);
  REQUIRE(run.ok());
  CHECK(finished == std::vector<std::string>{".ockpt-deleting-5-4242"});
  CHECK(run->finished_interrupted == finished);
  CHECK(deleted == std::vector<std::string>{"10", "20"});
  CHECK(Entries(root) == std::set<std::string>{"30", "40", "50.orbax-checkpoint-tmp"});
}

TEST_CASE("RunGc: lock, recovery, plan, execute; a dry run touches nothing") {
  TempDir tmp;
  std::string root = tmp.path();
  for (int s : {1, 2, 3, 4}) MakeStep(root, std::to_string(s), kT0 + s * kSec, nullptr);
  fs::create_directories(root + "/.ockpt-deleting-0-99/default");
  GcOptions options;
  options.policy.max_to_keep = 2;
  GcRunOptions run;
  run.dry_run = true;
  int planned = 0;
  GcObserver observer;
  observer.planned = [&](const GcPlan&) { ++planned; };
  auto dry = RunGc(root, options, run, observer);
  REQUIRE(dry.ok());
  CHECK(planned == 1);
  CHECK(Entries(root).size() == 5);
  run.dry_run = false;
  run.wait = false;
  {
    auto held = LockRoot(root, false);
    REQUIRE(held.ok());
    CHECK(RunGc(root, options, run).status().code() == StatusCode::kUnavailable);
  }
  auto done = RunGc(root, options, run, observer);
  REQUIRE(done.ok());
  CHECK(planned == 2);
  CHECK(done->finished_interrupted == std::vector<std::string>{".ockpt-deleting-0-99"});
  CHECK(Entries(root) == std::set<std::string>{"3", "4"});
  CHECK(RunGc(Golden(kItem), options, run).status().code() == StatusCode::kNotFound);
}

TEST_CASE("ls-steps, OpenCheckpoint and save agree on the latest committed step") {
  TempDir tmp;
  std::string root = tmp.path();
  MakeStep(root, "600", kT0 + 600 * kSec, Json{{"loss", 0.5}});
  MakeStep(root, "700", kT0 + 700 * kSec, Json{{"loss", 0.25}});
  fs::remove_all(root + "/700/default");  // named in item_handlers, not on disk
  MakeStep(root, "800.orbax-checkpoint-tmp-12", kT0, nullptr);

  auto listing = ListSteps(root);
  REQUIRE(listing.ok());
  CHECK(listing->latest_step == 600);
  REQUIRE(listing->steps.size() == 2);
  CHECK(listing->steps[1].status == StepStatus::kIncomplete);
  CHECK(listing->steps[1].problem.find("default") != std::string::npos);
  auto committed = ListCommittedSteps(root);
  REQUIRE(committed.ok());
  REQUIRE(committed->size() == 1);
  CHECK(committed->back().step == 600);

  auto ckpt = OpenCheckpoint(root);
  REQUIRE(ckpt.ok());
  CHECK(ckpt->step == 600);
  CHECK(ckpt->notes.size() == 2);  // 700 incomplete, 800 in progress
  auto loc = Locate(root);
  REQUIRE(loc.ok());
  CHECK(loc->kind == LocationKind::kRoot);
  CHECK(loc->step == 600);

  auto bad = OpenCheckpoint(root, OpenOptions{int64_t{700}, std::nullopt});
  CHECK(bad.status().code() == StatusCode::kNotFound);
  CHECK(bad.status().message().find("incomplete") != std::string::npos);
  auto busy = OpenCheckpoint(root, OpenOptions{int64_t{800}, std::nullopt});
  CHECK(busy.status().code() == StatusCode::kNotFound);
  CHECK(busy.status().message().find("still being saved") != std::string::npos);
  CHECK(OpenCheckpoint(root, OpenOptions{int64_t{900}, std::nullopt}).status().code() == StatusCode::kNotFound);

  // No committed step at all.
  fs::remove_all(root + "/600/default");
  auto none = OpenCheckpoint(root);
  CHECK(none.status().code() == StatusCode::kNotFound);
  CHECK(none.status().message().find("no committed step") != std::string::npos);
  auto empty_listing = ListSteps(root);
  REQUIRE(empty_listing.ok());
  CHECK_FALSE(empty_listing->latest_step.has_value());
}

TEST_CASE("a NaN in metrics is read, listed and rendered as NaN") {
  TempDir tmp;
  std::string root = tmp.path();
  MakeStep(root, "1", kT0, Json{{"loss", 1.0}});
  Write(root + "/1/metrics/metrics", "{\"loss\": NaN, \"acc\": -Infinity, \"note\": \"NaN\"}");
  auto listing = ListSteps(root);
  REQUIRE(listing.ok());
  REQUIRE(listing->steps.size() == 1);
  const Json& m = listing->steps[0].metrics;
  REQUIRE(m.is_object());
  CHECK(std::isnan(m["loss"].get<double>()));
  CHECK(m["acc"].get<double>() == -std::numeric_limits<double>::infinity());
  CHECK(m["note"] == "NaN");
  std::ostringstream table;
  PrintRootListingTable(*listing, table, /*header=*/false);
  CHECK(table.str().find("loss=NaN acc=-Infinity note=NaN") != std::string::npos);
  CHECK(table.str().find("STEP") == std::string::npos);
  auto ckpt = OpenCheckpoint(root);
  REQUIRE(ckpt.ok());
  bool found = false;
  for (const ItemEntry& e : ckpt->items) {
    if (e.name != "metrics") continue;
    found = true;
    CHECK(e.kind == ItemKind::kJson);
    CHECK(std::isnan(e.json_value["loss"].get<double>()));
  }
  CHECK(found);
}

}  // namespace
}  // namespace ockpt::orbax
