#include "lib/kvstore/kvstore.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/support/temp_dir.h"

namespace ockpt {
namespace {

TEST_CASE("FileKvStore reads, lists and refuses unsafe keys") {
  testing::TempDir dir;
  REQUIRE(MakeDirectories(dir / "a").ok());
  REQUIRE(WriteFile(dir / "a/.zarray", "{}").ok());
  REQUIRE(WriteFile(dir / "a/0", "xyz").ok());
  REQUIRE(WriteFile(dir / "b", "1").ok());
  FileKvStore store(dir.path());
  CHECK(*store.Read("a/0") == "xyz");
  CHECK(store.Read("a/1").status().code() == StatusCode::kNotFound);
  CHECK(store.Read("../etc/passwd").status().code() == StatusCode::kInvalidArgument);
  CHECK(store.Read("/etc/passwd").status().code() == StatusCode::kInvalidArgument);
  CHECK(store.Read("a//0").status().code() == StatusCode::kInvalidArgument);
  auto keys = store.List("a/");
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].key == "a/.zarray");
  CHECK((*keys)[1].key == "a/0");
  CHECK((*keys)[1].size == 3);
  CHECK(*store.Contains("b"));
  CHECK_FALSE(*store.Contains("c"));
}

}  // namespace
}  // namespace ockpt
