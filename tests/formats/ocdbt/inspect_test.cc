// `ockpt ocdbt ls|cat|versions` output (the library functions behind them).

#include <catch2/catch.hpp>

#include <sstream>

#include <nlohmann/json.hpp>

#include "formats/ocdbt/inspect.h"
#include "tests/formats/ocdbt/test_db.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::ocdbt {
namespace {

using ockpt::testing::Golden;
using ockpt::testing::TempDir;
using Json = nlohmann::ordered_json;

TEST_CASE("ls text output", "[ocdbt][inspect]") {
  std::ostringstream out;
  OcdbtListOptions opts;
  opts.dir = Golden("neuroglancer_ocdbt/files_min_arity.ocdbt");
  REQUIRE(OcdbtList(opts, out).ok());
  CHECK(out.str() ==
        "0\tinline\t#\n"
        "3\tindirect\ta\n"
        "3\tindirect\tb\n"
        "0\tinline\tbaz/first\n"
        "0\tinline\tbaz/x\n"
        "0\tinline\tbaz/z\n"
        "3\tindirect\tc\n"
        "0\tinline\tempty\n");

  std::ostringstream longer;
  opts.long_format = true;
  opts.sha256 = true;
  opts.prefix = "b";
  REQUIRE(OcdbtList(opts, longer).ok());
  CHECK(longer.str() ==
        "3\tindirect\tba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\t"
        "d/f6d9da936d3f6f58b667ca9d54a38667@3\tb\n"
        "0\tinline\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t-\t"
        "baz/first\n"
        "0\tinline\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t-\t"
        "baz/x\n"
        "0\tinline\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\t-\t"
        "baz/z\n");
}

TEST_CASE("ls --json output", "[ocdbt][inspect]") {
  std::ostringstream out;
  OcdbtListOptions opts;
  opts.dir = Golden("neuroglancer_ocdbt/files_min_arity.ocdbt");
  opts.json = true;
  opts.sha256 = true;
  opts.prefix = "a";
  REQUIRE(OcdbtList(opts, out).ok());
  Json doc = Json::parse(out.str());
  CHECK(doc == Json::parse(R"({"keys": [{"key": "a", "size": 3, "storage": "indirect",
      "file": "d/f6d9da936d3f6f58b667ca9d54a38667", "offset": 0,
      "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]})"));
  std::ostringstream inl;
  opts.prefix = "#";
  opts.sha256 = false;
  REQUIRE(OcdbtList(opts, inl).ok());
  CHECK(Json::parse(inl.str()) == Json::parse(R"({"keys": [{"key": "#", "size": 0,
      "storage": "inline", "file": null, "offset": null}]})"));
}

TEST_CASE("ls: keys that are not UTF-8 go out as key_base64", "[ocdbt][inspect]") {
  TempDir tmp;
  testing::WriteSimpleDb(tmp.path(), {{"ok", "1"}, {std::string("\xff\x00z", 3), "2"}}, 10);
  std::ostringstream out;
  OcdbtListOptions opts;
  opts.dir = tmp.path();
  opts.json = true;
  REQUIRE(OcdbtList(opts, out).ok());
  Json doc = Json::parse(out.str());
  REQUIRE(doc["keys"].size() == 2);
  CHECK(doc["keys"][0]["key"] == "ok");
  CHECK(doc["keys"][1]["key_base64"] == "/wB6");
  CHECK(!doc["keys"][1].contains("key"));

  std::ostringstream text;
  opts.json = false;
  REQUIRE(OcdbtList(opts, text).ok());
  CHECK(text.str() == "1\tinline\tok\n1\tinline\t\\xff\\x00z\n");

  std::ostringstream value;
  OcdbtCatOptions cat;
  cat.dir = tmp.path();
  cat.key = "/wB6";
  cat.key_is_base64 = true;
  REQUIRE(OcdbtCat(cat, value).ok());
  CHECK(value.str() == "2");
}

TEST_CASE("ls --sha256 fails when a data file is missing; plain ls works", "[ocdbt][inspect]") {
  TempDir tmp;
  testing::WriteSimpleDb(tmp.path(), {{"big", std::string(300, 'x')}, {"small", "s"}}, 10);
  REQUIRE(RemoveAll(tmp / "d/values").ok());
  OcdbtListOptions opts;
  opts.dir = tmp.path();
  opts.json = true;
  std::ostringstream out;
  REQUIRE(OcdbtList(opts, out).ok());
  Json doc = Json::parse(out.str());
  CHECK(doc["keys"][0]["size"] == 300);
  CHECK(doc["keys"][0]["file"] == "d/values");
  opts.sha256 = true;
  std::ostringstream out2;
  Status s = OcdbtList(opts, out2);
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK_THAT(s.message(), Catch::Contains("d/values") && Catch::Contains("big"));
  CHECK(out2.str().empty());  // nothing half-printed
}

TEST_CASE("cat writes the raw value; --version reads an older generation", "[ocdbt][inspect]") {
  OcdbtCatOptions opts;
  opts.dir = Golden("neuroglancer_ocdbt/multi_version_high_arity.ocdbt");
  opts.key = "key7";
  std::ostringstream out;
  REQUIRE(OcdbtCat(opts, out).ok());
  CHECK(out.str() == "version 7");
  opts.key = "key150";
  opts.generation = 149;
  std::ostringstream missing;
  Status s = OcdbtCat(opts, missing);
  CHECK(s.code() == StatusCode::kNotFound);
  CHECK_THAT(s.message(), Catch::Contains("key150") && Catch::Contains("generation 149"));
  opts.generation = 150;
  std::ostringstream found;
  REQUIRE(OcdbtCat(opts, found).ok());
  CHECK(found.str() == "version 150");

  OcdbtListOptions ls;
  ls.dir = opts.dir;
  ls.generation = 3;
  std::ostringstream listed;
  REQUIRE(OcdbtList(ls, listed).ok());
  CHECK(listed.str() == "9\tinline\tkey1\n9\tinline\tkey2\n9\tinline\tkey3\n");
}

TEST_CASE("versions output", "[ocdbt][inspect]") {
  OcdbtVersionsOptions opts;
  opts.dir = Golden("neuroglancer_ocdbt/files_high_arity.ocdbt");
  std::ostringstream text;
  REQUIRE(OcdbtVersions(opts, text).ok());
  CHECK(text.str() == "1\t2025-01-30T21:32:58.344067964Z\t8\n");
  CHECK(FormatCommitTime(1738272778435996800u) == "2025-01-30T21:32:58.4359968Z");
  CHECK(FormatCommitTime(1738272778000000000u) == "2025-01-30T21:32:58Z");
  opts.json = true;
  std::ostringstream json;
  REQUIRE(OcdbtVersions(opts, json).ok());
  CHECK(Json::parse(json.str()) ==
        Json::parse(R"({"versions": [{"generation": 1, "commit_time_ns": 1738272778344067964,
          "num_keys": 8, "num_tree_bytes": 89, "num_indirect_value_bytes": 0}]})"));

  opts.dir = Golden("neuroglancer_ocdbt/multi_version_low_arity.ocdbt");
  std::ostringstream many;
  REQUIRE(OcdbtVersions(opts, many).ok());
  Json doc = Json::parse(many.str());
  REQUIRE(doc["versions"].size() == 200);
  CHECK(doc["versions"][199]["generation"] == 200);
  CHECK(doc["versions"][199]["commit_time_ns"] == 1738272781412908716u);
}

TEST_CASE("errors name the path", "[ocdbt][inspect]") {
  OcdbtListOptions opts;
  opts.dir = "/nonexistent/db";
  std::ostringstream out;
  Status s = OcdbtList(opts, out);
  CHECK(s.code() == StatusCode::kNotFound);
  CHECK_THAT(s.message(), Catch::Contains("/nonexistent/db"));
}

}  // namespace
}  // namespace ockpt::ocdbt
