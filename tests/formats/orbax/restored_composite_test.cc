// Issue 12: OUT/_checkpoint.json, the restore output of a composite that
// save reads back (formats/orbax/restored_composite.h).

#include "formats/orbax/restored_composite.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "lib/base/file.h"

namespace ockpt::orbax {
namespace {

TEST_CASE("_checkpoint.json: items in order with kind and handler, custom_metadata, round trip") {
  RestoredCheckpoint f;
  f.items.push_back({"state", ItemKind::kPyTree, Json("x.PyTreeCheckpointHandler")});
  f.items.push_back({"cfg", ItemKind::kJson, Json()});
  f.items.push_back({"baz", ItemKind::kOpaque, Json("my.BazHandler")});
  f.custom_metadata = Json::parse(R"({"run": "abc", "n": [1, 2]})");
  std::string text = EncodeRestoredCheckpoint(f);
  CHECK(text.back() == '\n');
  auto back = DecodeRestoredCheckpoint(text, "x/_checkpoint.json");
  REQUIRE(back.ok());
  REQUIRE(back->items.size() == 3);
  CHECK(back->items[0].name == "state");
  CHECK(back->items[0].kind == ItemKind::kPyTree);
  CHECK(back->items[1].kind == ItemKind::kJson);
  CHECK(back->items[1].handler.is_null());
  CHECK(back->items[2].kind == ItemKind::kOpaque);
  CHECK(back->items[2].handler == Json("my.BazHandler"));
  CHECK(back->custom_metadata == f.custom_metadata);
  CHECK(EncodeRestoredCheckpoint(*back) == text);
  CHECK(RestoredItemPath("cfg", ItemKind::kJson) == "cfg.json");
  CHECK(RestoredItemPath("state", ItemKind::kPyTree) == "state");
  CHECK(RestoredItemPath("baz", ItemKind::kOpaque) == "baz");
}

TEST_CASE("_checkpoint.json from a hostile restore output is kDataLoss naming the file") {
  for (const char* bad : {
           R"([])",
           R"({"custom_metadata": {}})",
           R"({"items": [{"name": "../etc", "kind": "opaque"}]})",
           R"({"items": [{"name": "a/b", "kind": "pytree"}]})",
           R"({"items": [{"name": "", "kind": "pytree"}]})",
           R"({"items": [{"name": "a", "kind": "pytree"}, {"name": "a", "kind": "json"}]})",
           R"({"items": [{"name": "a", "kind": "tensor"}]})",
           R"({"items": [{"name": 3, "kind": "pytree"}]})",
           R"({"items": [)",
       }) {
    auto r = DecodeRestoredCheckpoint(std::string(bad), "out/_checkpoint.json");
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kDataLoss);
    CHECK(std::string(r.status().message()).find("out/_checkpoint.json") != std::string::npos);
  }
}

TEST_CASE("ReadRestoredCheckpoint: absent file is nullopt; CopyItemFiles copies bytes") {
  auto dir = std::filesystem::temp_directory_path() / "ockpt_restored_composite_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "src" / "sub");
  auto none = ReadRestoredCheckpoint(dir.string());
  REQUIRE(none.ok());
  CHECK(!none->has_value());
  RestoredCheckpoint f;
  f.items.push_back({"baz", ItemKind::kOpaque, Json("h")});
  REQUIRE(WriteRestoredCheckpoint(dir.string(), f).ok());
  auto read = ReadRestoredCheckpoint(dir.string());
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->items.size() == 1);

  std::string bytes("\x00\x01\xff text", 8);
  REQUIRE(WriteFile((dir / "src" / "sub" / "f.bin").string(), bytes).ok());
  Context ctx;
  REQUIRE(CopyItemFiles((dir / "src").string(), (dir / "dest").string(), ctx).ok());
  auto copied = ReadFile((dir / "dest" / "sub" / "f.bin").string());
  REQUIRE(copied.ok());
  CHECK(std::string(copied->begin(), copied->end()) == bytes);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ockpt::orbax
