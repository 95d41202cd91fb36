// The locator: each kind of path, the committed-step rule, side-file JSON.

#include "formats/orbax/locator.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <limits>

#include "formats/orbax/side_json.h"
#include "lib/base/file.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax {
namespace {

namespace fs = std::filesystem;
using testing::Golden;
using testing::TempDir;

const char* kItem =
    "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
    "pytree_checkpointable_has_metadata";
const char* kRoot = "orbax_managed/v0_managed/has_metrics/has_custom_metadata";

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(WriteFile(path, text).ok());
}

LocationKind KindOf(const std::string& path) {
  auto loc = Locate(path);
  REQUIRE(loc.ok());
  return loc->kind;
}

TEST_CASE("Locate classifies each kind of path") {
  TempDir tmp;
  CHECK(KindOf(Golden(kItem)) == LocationKind::kCheckpoint);  // has _CHECKPOINT_METADATA
  CHECK(KindOf(Golden(std::string(kRoot) + "/0/state")) == LocationKind::kItem);
  CHECK(KindOf(Golden(std::string(kRoot) + "/0")) == LocationKind::kCheckpoint);
  auto root = Locate(Golden(kRoot));
  REQUIRE(root.ok());
  CHECK(root->kind == LocationKind::kRoot);
  CHECK(root->step == 0);
  CHECK(root->dir == JoinPath(Golden(kRoot), root->step_name));

  Write(tmp / "7.orbax-checkpoint-tmp-1/_CHECKPOINT_METADATA", "{}");
  CHECK(KindOf(tmp / "7.orbax-checkpoint-tmp-1") == LocationKind::kInProgress);
  Write(tmp / "plain/file.txt", "x");
  CHECK(KindOf(tmp / "plain") == LocationKind::kNotCheckpoint);
  CHECK(KindOf(tmp / "plain/file.txt") == LocationKind::kNotCheckpoint);
  CHECK(Locate(tmp / "missing").status().code() == StatusCode::kNotFound);

  // A step does not apply to anything but a root.
  auto step = Locate(Golden(kItem), int64_t{1});
  CHECK(step.status().code() == StatusCode::kNotFound);
  CHECK(step.status().message().find("--") == std::string::npos);
}

TEST_CASE("a root whose only step is in progress has no committed step") {
  TempDir tmp;
  Write(tmp / "root/3.orbax-checkpoint-tmp-9/_CHECKPOINT_METADATA", "{}");
  auto kind = Classify(tmp / "root");
  REQUIRE(kind.ok());
  CHECK(*kind == LocationKind::kRoot);
  auto loc = Locate(tmp / "root");
  CHECK(loc.status().code() == StatusCode::kNotFound);
  CHECK(loc.status().message().find("no committed step") != std::string::npos);
}

TEST_CASE("CheckCheckpointDir: the reasons a step is incomplete") {
  TempDir tmp;
  Write(tmp / "a/_CHECKPOINT_METADATA", "{not json");
  CheckpointState a = CheckCheckpointDir(tmp / "a");
  CHECK(a.status == StepStatus::kIncomplete);
  CHECK(a.problem.find("unreadable _CHECKPOINT_METADATA") != std::string::npos);

  Write(tmp / "b/_CHECKPOINT_METADATA", "[1]");
  CHECK(CheckCheckpointDir(tmp / "b").status == StepStatus::kIncomplete);

  Write(
      tmp / "c/_CHECKPOINT_METADATA",
      R"({"item_handlers": {"default": "x.StandardCheckpointHandler", "metrics": "x.JsonCheckpointHandler",
            "descriptor": "x.DescriptorHandler", "unknown": null}})");
  Write(tmp / "c/metrics/metrics", R"({"loss": NaN})");
  CheckpointState c = CheckCheckpointDir(tmp / "c");
  CHECK(c.status == StepStatus::kIncomplete);
  CHECK(c.problem == "item default listed in _CHECKPOINT_METADATA missing");
  fs::create_directories(tmp / "c/default");
  CHECK(CheckCheckpointDir(tmp / "c").status == StepStatus::kCommitted);
  CHECK(CheckCheckpointDir(tmp / "c").items == std::vector<std::string>{"default", "metrics"});

  fs::create_directories(tmp / "d");
  CheckpointState d = CheckCheckpointDir(tmp / "d");
  CHECK(d.status == StepStatus::kIncomplete);
  CHECK(d.problem == "no _CHECKPOINT_METADATA and no items");

  CHECK(CheckCheckpointDir(tmp / "missing").status == StepStatus::kIncomplete);
  CHECK(CheckCheckpointDir(Golden(kItem)).items == std::vector<std::string>{""});
}

TEST_CASE("the item detector") {
  CHECK(LooksLikeItem(Golden(kItem)));
  CHECK(LooksLikeItem(Golden(std::string(kRoot) + "/0/state")));
  CHECK_FALSE(LooksLikeItem(Golden(std::string(kRoot) + "/0")));
  CHECK_FALSE(LooksLikeItem(Golden(kRoot)));
  CHECK(JsonItemFile(Golden(std::string(kRoot) + "/0/metrics")) == "metrics");
}

TEST_CASE("step names and in-progress names") {
  CHECK(ParseStepName("10") == 10);
  CHECK(ParseStepName("step_7") == 7);
  CHECK_FALSE(ParseStepName("10.orbax-checkpoint-tmp-3").has_value());
  CHECK(TmpNameStep("10.orbax-checkpoint-tmp-3") == 10);
  CHECK(TmpNameStep("step_4.partial_save.orbax-checkpoint-tmp") == 4);
  CHECK_FALSE(TmpNameStep("10").has_value());
}

TEST_CASE("side-file JSON reads Python's NaN and Infinity") {
  auto j =
      ParseSideJson(R"({"a": NaN, "b": [Infinity, -Infinity], "s": "NaN, Infinity", "c": 1.5})");
  REQUIRE(j.ok());
  CHECK(std::isnan((*j)["a"].get<double>()));
  CHECK((*j)["b"][0].get<double>() == std::numeric_limits<double>::infinity());
  CHECK((*j)["b"][1].get<double>() == -std::numeric_limits<double>::infinity());
  CHECK((*j)["s"] == "NaN, Infinity");
  CHECK((*j)["c"] == 1.5);
  CHECK(SideJsonScalarText((*j)["a"]) == "NaN");
  CHECK(SideJsonScalarText((*j)["b"][1]) == "-Infinity");
  CHECK(SideJsonScalarText((*j)["c"]) == "1.5");
  CHECK(ParseSideJson("{\"a\": Nope}").status().code() == StatusCode::kDataLoss);
  CHECK(ParseSideJson("{\"a\": NaN").status().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ockpt::orbax
