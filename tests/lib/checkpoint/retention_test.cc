// Retention plans against expectations derived by hand from Orbax's
// preservation policies (_src/checkpoint_managers/preservation_policy.py):
// LatestN, BestN, EveryNSteps, EveryNSeconds, combined with "any keeps".

#include "lib/checkpoint/retention.h"

#include <set>

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

using Json = nlohmann::ordered_json;

constexpr int64_t kT0 = 1700000000LL * 1000000000LL;  // 2023-11-14T22:13:20Z
constexpr int64_t kMinute = 60LL * 1000000000LL;

// The 40-step scenario (shared with tests/formats/orbax/steps_test.cc):
//   i = 0..39, step = 5*i (0, 5, ..., 195)
//   commit time = T0 + 10*i minutes for i < 20 (t = 0, 10, ..., 190 min),
//                 T0 + (200 + 3*(i-20)) minutes for i >= 20 (t = 200, 203, ..., 257 min)
//   metrics: none when i % 7 == 3 (steps 15, 50, 85, 120, 155, 190),
//            {"acc": 0.5} (no "loss") for i == 13 (step 65),
//            else {"loss": ((17*i) % 40) / 10, "acc": i / 100}.
// (17*i) % 40 is a permutation of 0..39 (17 is coprime to 40), so losses
// are distinct. Table of loss*10 by i:
//    i: 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
//   10: 0 17 34  - 28  5 22 39 16 33  - 27  4  - 38 15 32  -  26  3
//    i:20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
//   10:20 37 14 31  - 25  2 19 36 13 30  - 24  1 18 35 12 29  -  23
std::vector<RetentionStep> Scenario() {
  std::vector<RetentionStep> steps;
  for (int i = 0; i < 40; ++i) {
    RetentionStep s;
    s.step = 5 * i;
    int64_t minutes = i < 20 ? 10 * i : 200 + 3 * (i - 20);
    s.time_ns = kT0 + minutes * kMinute;
    if (i % 7 == 3) {
      s.metrics = nullptr;
    } else if (i == 13) {
      s.metrics = Json{{"acc", 0.5}};
    } else {
      s.metrics = Json{{"loss", ((17 * i) % 40) / 10.0}, {"acc", i / 100.0}};
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

std::set<int64_t> Kept(const std::vector<RetentionDecision>& plan) {
  std::set<int64_t> kept;
  for (const auto& d : plan) {
    if (d.keep) kept.insert(d.step);
  }
  return kept;
}

const RetentionDecision& For(const std::vector<RetentionDecision>& plan, int64_t step) {
  for (const auto& d : plan) {
    if (d.step == step) return d;
  }
  FAIL("no decision for step " << step);
  return plan.front();
}

using Reasons = std::vector<std::string>;

TEST_CASE("LatestN keeps the last max_to_keep steps") {
  RetentionPolicy p;
  p.max_to_keep = 5;
  p.protect_step = 195;
  auto plan = PlanRetention(Scenario(), p);
  REQUIRE(plan.size() == 40);
  // LatestN(5): [False]*35 + [True]*5 over the steps sorted by step.
  CHECK(Kept(plan) == std::set<int64_t>{175, 180, 185, 190, 195});
  CHECK(For(plan, 195).reasons == Reasons{"latest", "max_to_keep"});
  CHECK(For(plan, 175).reasons == Reasons{"max_to_keep"});
  CHECK(For(plan, 170).reasons == Reasons{"not kept by any policy"});
  CHECK_FALSE(For(plan, 0).keep);
}

TEST_CASE("LatestN with n >= count keeps all; n = 0 keeps only the protected latest") {
  RetentionPolicy p;
  p.max_to_keep = 40;
  CHECK(Kept(PlanRetention(Scenario(), p)).size() == 40);
  p.max_to_keep = 0;
  p.protect_step = 195;
  // LatestN(0): [False]*40; only the latest-step guard keeps 195.
  auto plan = PlanRetention(Scenario(), p);
  CHECK(Kept(plan) == std::set<int64_t>{195});
  CHECK(For(plan, 195).reasons == Reasons{"latest"});
}

TEST_CASE("EveryNSteps keeps step % keep_period == 0") {
  RetentionPolicy p;
  p.keep_period = 50;
  p.protect_step = 195;
  auto plan = PlanRetention(Scenario(), p);
  // 0, 50, 100, 150 are multiples of 50; 195 is the latest.
  CHECK(Kept(plan) == std::set<int64_t>{0, 50, 100, 150, 195});
  CHECK(For(plan, 50).reasons == Reasons{"keep_period"});
  CHECK(For(plan, 195).reasons == Reasons{"latest"});
}

TEST_CASE("EveryNSeconds keeps the first, then each >= interval after the last kept") {
  RetentionPolicy p;
  p.keep_time_interval_s = 3600;
  p.protect_step = 195;
  auto plan = PlanRetention(Scenario(), p);
  // Times in minutes after T0: i=0 (t=0) is kept first. Next with t >= 60:
  // i=6 (t=60, step 30). Then t >= 120: i=12 (step 60). Then t >= 180:
  // i=18 (step 90). Then t >= 240: i=19 is 190, i=20..33 are 200..239,
  // i=34 is 242 (step 170). Then t >= 302: beyond the last (257).
  CHECK(Kept(plan) == std::set<int64_t>{0, 30, 60, 90, 170, 195});
  CHECK(For(plan, 170).reasons == Reasons{"keep_time_interval"});
  CHECK_FALSE(For(plan, 35).keep);
}

TEST_CASE("BestN min keeps the lowest losses and the unscored") {
  RetentionPolicy p;
  p.max_to_keep = 3;
  p.best_metric = "loss";
  p.best_mode = BestMode::kMin;
  p.protect_step = 195;
  auto plan = PlanRetention(Scenario(), p);
  // Scored: every i except 3, 10, 17, 24, 31, 38 (no metrics) and 13 (no
  // "loss"). Lowest loss*10: 0 (i=0, step 0), 1 (i=33, step 165),
  // 2 (i=26, step 130). Unscored kept: steps 15, 50, 65, 85, 120, 155, 190.
  std::set<int64_t> expect{0, 165, 130, 15, 50, 65, 85, 120, 155, 190, 195};
  CHECK(Kept(plan) == expect);
  CHECK(For(plan, 165).reasons == Reasons{"best"});
  CHECK(For(plan, 65).reasons == Reasons{"unscored"});
  CHECK(For(plan, 190).reasons == Reasons{"unscored"});
  CHECK(For(plan, 195).reasons == Reasons{"latest"});  // loss 2.3 is not in the best 3
  CHECK_FALSE(For(plan, 95).keep);                      // loss 0.3, 4th best

  SECTION("drop_unscored") {
    p.drop_unscored = true;
    // keep_checkpoints_without_metrics=False: only the 3 best and the latest.
    CHECK(Kept(PlanRetention(Scenario(), p)) == std::set<int64_t>{0, 130, 165, 195});
  }
}

TEST_CASE("BestN max keeps the highest values") {
  RetentionPolicy p;
  p.max_to_keep = 3;
  p.best_metric = "loss";
  p.best_mode = BestMode::kMax;
  p.protect_step = 195;
  p.drop_unscored = true;
  auto plan = PlanRetention(Scenario(), p);
  // Highest loss*10: 39 (i=7, step 35), 38 (i=14, step 70), 37 (i=21, step 105).
  CHECK(Kept(plan) == std::set<int64_t>{35, 70, 105, 195});

  SECTION("a metric present in every step") {
    p.best_metric = "acc";  // acc = i/100, and 0.5 for i=13; missing for i%7==3
    // Highest acc: 0.5 (i=13, step 65), 0.39 (i=39, step 195, the latest
    // too), 0.37 (i=37, step 185; i=38 has no metrics).
    auto plan2 = PlanRetention(Scenario(), p);
    CHECK(Kept(plan2) == std::set<int64_t>{65, 185, 195});
    CHECK(For(plan2, 195).reasons == Reasons{"latest", "best"});
  }
}

TEST_CASE("BestN with n >= count keeps everything, n = 0 keeps nothing") {
  RetentionPolicy p;
  p.best_metric = "loss";
  p.max_to_keep = 40;  // len(checkpoints) <= n: all preserved, unscored or not
  p.drop_unscored = true;
  auto plan = PlanRetention(Scenario(), p);
  CHECK(Kept(plan).size() == 40);
  CHECK(For(plan, 15).reasons == Reasons{"max_to_keep"});
  p.max_to_keep = 0;  // n == 0: [False] * len, unscored included
  p.drop_unscored = false;
  CHECK(Kept(PlanRetention(Scenario(), p)).empty());
}

TEST_CASE("combined policies keep the union") {
  RetentionPolicy p;
  p.max_to_keep = 2;
  p.keep_period = 50;
  p.keep_time_interval_s = 3600;
  p.protect_step = 195;
  auto plan = PlanRetention(Scenario(), p);
  // LatestN(2): 190, 195. EveryNSteps(50): 0, 50, 100, 150.
  // EveryNSeconds(3600): 0, 30, 60, 90, 170 (see above).
  CHECK(Kept(plan) == std::set<int64_t>{0, 30, 50, 60, 90, 100, 150, 170, 190, 195});
  CHECK(For(plan, 0).reasons == Reasons{"keep_period", "keep_time_interval"});
  CHECK(For(plan, 195).reasons == Reasons{"latest", "max_to_keep"});
  CHECK(For(plan, 190).reasons == Reasons{"max_to_keep"});

  SECTION("best-N replaces latest-N") {
    p.best_metric = "loss";
    p.best_mode = BestMode::kMin;
    p.max_to_keep = 3;
    p.keep_time_interval_s.reset();
    p.keep_period = 100;
    p.drop_unscored = true;
    // BestN(3, min): 0, 130, 165. EveryNSteps(100): 0, 100. Latest: 195.
    auto plan2 = PlanRetention(Scenario(), p);
    CHECK(Kept(plan2) == std::set<int64_t>{0, 100, 130, 165, 195});
    CHECK(For(plan2, 0).reasons == Reasons{"best", "keep_period"});
  }
}

TEST_CASE("BestN ties go to the later step, in both modes") {
  std::vector<RetentionStep> steps;
  double v[] = {1, 2, 1, 2, 1};
  for (int i = 0; i < 5; ++i) steps.push_back({i + 1, 0, Json{{"m", v[i]}}});
  RetentionPolicy p;
  p.best_metric = "m";
  p.max_to_keep = 2;
  // max: sorted ascending (stable) 1(s1) 1(s3) 1(s5) 2(s2) 2(s4); last 2: s2, s4.
  CHECK(Kept(PlanRetention(steps, p)) == std::set<int64_t>{2, 4});
  // min: sorted descending (stable) 2(s2) 2(s4) 1(s1) 1(s3) 1(s5); last 2: s3, s5.
  p.best_mode = BestMode::kMin;
  CHECK(Kept(PlanRetention(steps, p)) == std::set<int64_t>{3, 5});
}

TEST_CASE("policies see steps in step order whatever the input order") {
  std::vector<RetentionStep> steps = {{30, 3, nullptr}, {10, 1, nullptr}, {20, 2, nullptr}};
  RetentionPolicy p;
  p.max_to_keep = 1;
  auto plan = PlanRetention(steps, p);
  REQUIRE(plan.size() == 3);
  CHECK(plan[0].step == 30);
  CHECK(plan[0].keep);
  CHECK_FALSE(plan[1].keep);
  CHECK_FALSE(plan[2].keep);
}

TEST_CASE("EveryNSeconds with times out of step order") {
  constexpr int64_t s = 1000000000;
  std::vector<RetentionStep> steps = {{1, 100 * s, nullptr}, {2, 50 * s, nullptr}, {3, 200 * s, nullptr}};
  RetentionPolicy p;
  p.keep_time_interval_s = 60;
  // s1 kept (last=100); s2: 50-100 < 60; s3: 200-100 >= 60.
  CHECK(Kept(PlanRetention(steps, p)) == std::set<int64_t>{1, 3});
}

TEST_CASE("MetricValue") {
  Json m = {{"loss", 0.25}, {"eval", {{"acc", 0.75}}}, {"name", "x"}, {"ok", true}, {"a.b", 3}};
  CHECK(MetricValue(m, "loss") == 0.25);
  CHECK(MetricValue(m, "eval.acc") == 0.75);
  CHECK(MetricValue(m, "a.b") == 3.0);
  CHECK(MetricValue(m, "ok") == 1.0);
  CHECK_FALSE(MetricValue(m, "name"));
  CHECK_FALSE(MetricValue(m, "missing"));
  CHECK_FALSE(MetricValue(m, "eval.missing"));
  CHECK_FALSE(MetricValue(Json(nullptr), "loss"));
  CHECK_FALSE(MetricValue(Json::array({1}), "loss"));
}

TEST_CASE("Validate") {
  RetentionPolicy p;
  CHECK(p.Validate().ok());
  CHECK_FALSE(p.HasPolicy());
  p.max_to_keep = -1;
  CHECK(p.Validate().code() == StatusCode::kInvalidArgument);
  p.max_to_keep = 0;
  CHECK(p.Validate().ok());
  p.keep_period = 0;
  CHECK(p.Validate().code() == StatusCode::kInvalidArgument);
  p.keep_period.reset();
  p.keep_time_interval_s = 0;
  CHECK(p.Validate().code() == StatusCode::kInvalidArgument);
  p.keep_time_interval_s.reset();
  p.drop_unscored = true;
  CHECK(p.Validate().code() == StatusCode::kInvalidArgument);
  p.best_metric = "loss";
  CHECK(p.Validate().ok());
  p.max_to_keep.reset();
  CHECK(p.Validate().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ParseDuration") {
  CHECK(*ParseDuration("90s") == 90);
  CHECK(*ParseDuration("30m") == 1800);
  CHECK(*ParseDuration("1h") == 3600);
  CHECK(*ParseDuration("7d") == 7 * 86400);
  CHECK(*ParseDuration("2w") == 14 * 86400);
  CHECK(*ParseDuration("1h30m") == 5400);
  CHECK(*ParseDuration("0s") == 0);
  CHECK(*ParseDuration("45") == 45);
  for (const char* bad : {"", "h", "1x", "-1h", "1.5h", "1h30", " 1h", "1h ", "99999999999999999999s"}) {
    INFO(bad);
    CHECK(ParseDuration(bad).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("FormatDuration") {
  CHECK(FormatDuration(0) == "0s");
  CHECK(FormatDuration(59) == "59s");
  CHECK(FormatDuration(200) == "3m20s");
  CHECK(FormatDuration(3600) == "1h00m");
  CHECK(FormatDuration(7500) == "2h05m");
  CHECK(FormatDuration(86400 * 3 + 3600 * 4 + 5) == "3d04h");
}

}  // namespace
}  // namespace ockpt
