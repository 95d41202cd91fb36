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
  CHECK(store.Read("../etc/passwd").status().code() == StatusCode::kDataLoss);
  CHECK(store.Read("/etc/passwd").status().code() == StatusCode::kDataLoss);
  CHECK(store.Read("a//0").status().code() == StatusCode::kDataLoss);
  auto keys = store.List("a/");
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].key == "a/.zarray");
  CHECK((*keys)[1].key == "a/0");
  CHECK((*keys)[1].size == 3);
  CHECK(*store.Contains("b"));
  CHECK_FALSE(*store.Contains("c"));
}

TEST_CASE("OpenValue reads a value in pieces, checks ranges and refuses unsafe keys") {
  testing::TempDir dir;
  REQUIRE(WriteFile(dir / "v", "0123456789").ok());
  FileKvStore store(dir.path());
  auto v = store.OpenValue("v");
  REQUIRE(v.ok());
  CHECK((*v)->size() == 10);
  char buf[4];
  REQUIRE((*v)->ReadAt(3, 4, buf).ok());
  CHECK(std::string(buf, 4) == "3456");
  CHECK((*v)->ReadAt(8, 3, buf).code() == StatusCode::kDataLoss);
  CHECK((*v)->ReadAt(11, 0, buf).code() == StatusCode::kDataLoss);
  CHECK(store.OpenValue("w").status().code() == StatusCode::kNotFound);
  CHECK(store.OpenValue("../v").status().code() == StatusCode::kDataLoss);
  // A file that shrinks after opening is reported, not read past.
  REQUIRE(WriteFile(dir / "v", "01").ok());
  Status s = (*v)->ReadAt(0, 4, buf);
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK(s.message().find(dir / "v") != std::string::npos);

  MemoryValueReader m("abc");
  REQUIRE(m.ReadAt(1, 2, buf).ok());
  CHECK(std::string(buf, 2) == "bc");
  CHECK(m.ReadAt(2, 2, buf).code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ockpt
