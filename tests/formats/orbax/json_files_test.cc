// Issue 14: Orbax JSON side files and _METADATA from hostile checkpoints.

#include "formats/orbax/json_files.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "formats/orbax/tree_metadata.h"
#include "lib/base/file.h"

namespace ockpt::orbax {
namespace {

TEST_CASE("_METADATA nested 70,000 deep is kDataLoss, not a stack overflow") {
  std::string deep = std::string(70000, '[') + std::string(70000, ']');
  auto tm = DecodeTreeMetadata("{\"tree_metadata\": {}, \"custom_metadata\": " + deep + "}");
  REQUIRE(!tm.ok());
  CHECK(tm.status().code() == StatusCode::kDataLoss);
  CHECK(!ParseJson(deep).ok());
  CHECK(ParseJson("{\"a\": [1]}").ok());
}

TEST_CASE("_sharding and array_metadatas shapes are checked") {
  CHECK(CheckShardingJson(Json::parse(R"({"YQ==": "{\"sharding_type\": \"x\"}"})"), "s").ok());
  CHECK(!CheckShardingJson(Json::parse(R"({"YQ==": 3})"), "s").ok());
  CHECK(!CheckShardingJson(Json::parse(R"({"YQ==": "{\"trunc"})"), "s").ok());
  CHECK(CheckShardingJson(Json::parse(R"({"YQ==": "{\"trunc"})"), "s", /*deep=*/false).ok());
  CHECK(!CheckShardingJson(Json::parse("[]"), "s").ok());
  CHECK(CheckArrayMetadatasJson(
            Json::parse(R"({"array_metadatas": [{"array_metadata": {"param_name": "a"}}]})"), "p")
            .ok());
  CHECK(!CheckArrayMetadatasJson(Json::parse(R"({"array_metadatas": [1]})"), "p").ok());
  CHECK(!CheckArrayMetadatasJson(Json::parse("{}"), "p").ok());

  auto dir = std::filesystem::temp_directory_path() / "ockpt_json_files_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "array_metadatas");
  REQUIRE(WriteFile((dir / "_sharding").string(), "{\"YQ==\": \"{\\\"shard").ok());
  REQUIRE(WriteFile((dir / "array_metadatas" / "process_0").string(), "{\"array_metadatas\": [").ok());
  auto problems = CheckItemJsonFiles(dir.string());
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("_sharding") != std::string::npos);
  CHECK(problems[1].find("process_0") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ockpt::orbax
