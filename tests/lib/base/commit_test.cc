// StagedOutput: nothing under the final name until Commit.

#include "lib/base/commit.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/support/temp_dir.h"

namespace ockpt {
namespace {

using testing::TempDir;

TEST_CASE("StagedOutput publishes with one rename") {
  TempDir tmp;
  std::string out = tmp / "sub/out";
  {
    auto staged = StagedOutput::Begin(out + "/", ".t");
    REQUIRE(staged.ok());
    CHECK(staged->final_path() == out);
    CHECK(staged->tmp_path() == out + ".t");
    REQUIRE(MakeDirectories(staged->tmp_path()).ok());
    REQUIRE(WriteFile(staged->tmp_path() + "/x", "1").ok());
    CHECK_FALSE(PathExists(out));
    REQUIRE(staged->Commit().ok());
    CHECK(IsRegularFile(out + "/x"));
    CHECK_FALSE(PathExists(out + ".t"));
    CHECK_FALSE(staged->Commit().ok());
  }
  CHECK(IsRegularFile(out + "/x"));
}

TEST_CASE("StagedOutput cleans up when not committed, and never overwrites") {
  TempDir tmp;
  std::string out = tmp / "out";
  {
    auto staged = StagedOutput::Begin(out, ProcessTmpSuffix());
    REQUIRE(staged.ok());
    REQUIRE(WriteFile(staged->tmp_path(), "partial").ok());
  }
  CHECK_FALSE(PathExists(out));
  CHECK(ListDirectory(tmp.path())->empty());

  REQUIRE(MakeDirectories(out).ok());
  auto staged = StagedOutput::Begin(out, ".t");
  REQUIRE(staged.ok());
  REQUIRE(WriteFile(staged->tmp_path(), "data").ok());
  // An empty directory is replaced only when asked.
  CHECK(staged->Commit().code() == StatusCode::kAlreadyExists);
  REQUIRE(staged->Commit({.replace_empty_dir = true}).ok());
  CHECK(*ReadFile(out) == "data");
}

}  // namespace
}  // namespace ockpt
