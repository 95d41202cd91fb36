// Issue 14: the bounded JSON parser, safe JSON output, name escaping, the
// non-blocking open and the loop-free directory walk.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <string>

#include "lib/base/file.h"
#include "lib/base/json.h"
#include "lib/base/utf8.h"
#include "lib/checkpoint/tree.h"

namespace ockpt {
namespace {

using Json = nlohmann::ordered_json;

std::string Deep(int n) { return std::string(n, '[') + std::string(n, ']'); }

TEST_CASE("ParseJsonBounded refuses deep nesting without recursing") {
  auto deep = ParseJsonBounded(Deep(70000), "f.json");
  REQUIRE(!deep.ok());
  CHECK(deep.status().code() == StatusCode::kDataLoss);
  CHECK(deep.status().message().find("f.json") != std::string::npos);
  CHECK(ParseJsonBounded(Deep(256), "f").ok());
  CHECK(!ParseJsonBounded(Deep(257), "f").ok());
  // Brackets inside strings (and after escaped quotes) do not count.
  std::string s = "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
  CHECK(ParseJsonBounded(s, "f").ok());
  CHECK(JsonNestingDepth(R"({"a": [1, {"b": "]]]"}]})", 100) == 3);
  // Unbalanced and unterminated inputs are errors, not crashes.
  CHECK(!ParseJsonBounded(std::string(100000, '{'), "f").ok());
  CHECK(!ParseJsonBounded("[\"abc", "f").ok());
  CHECK(!ParseJsonBounded("", "f").ok());
  JsonLimits small;
  small.max_bytes = 4;
  CHECK(!ParseJsonBounded("[1, 2]", "f", small).ok());
  CHECK(ParseJsonBoundedSorted(R"({"b": 1, "a": [2]})", "f").ok());
}

TEST_CASE("DumpJson never throws on bytes that are not UTF-8") {
  Json j;
  j["key"] = std::string("a\xb9");
  j["ok"] = "caf\xc3\xa9";
  j["list"] = Json::array({std::string("\xff")});
  j[std::string("k\xb9")] = 1;
  std::string out = DumpJson(j);
  Json back = Json::parse(out);
  CHECK(back["key_base64"] == "Ybk=");
  CHECK(!back.contains("key"));
  CHECK(back["ok"] == "caf\xc3\xa9");
  CHECK(back["list"][0]["base64"] == "/w==");
  CHECK(back.contains("k\\xb9"));
  // Valid documents come out as dump() writes them.
  Json plain = {{"a", 1}, {"b", "x"}};
  CHECK(DumpJson(plain, 2) == plain.dump(2));
}

TEST_CASE("A leaf record with a key that is not UTF-8 round-trips through DumpJson") {
  LeafRecord r;
  r.keypath = {{std::string("a\xb9"), KeyType::kDict}};
  r.value_type = "np.ndarray";
  auto back = LeafRecord::FromJson(Json::parse(DumpJson(r.ToJson())));
  REQUIRE(back.ok());
  CHECK(back->keypath[0].key == std::string("a\xb9"));
}

TEST_CASE("EscapeBytes and TextLine escape control characters and invalid bytes") {
  CHECK(EscapeBytes("a\tb\nc\x1b") == "a\\x09b\\x0ac\\x1b");
  CHECK(EscapeBytes("x\xb9y") == "x\\xb9y");
  CHECK(EscapeBytes("caf\xc3\xa9\\") == "caf\xc3\xa9\\\\");
  CHECK(TextLine("plain message: a\\b") == "plain message: a\\b");
  CHECK(TextLine("key a\nb") == "key a\\x0ab");
  CHECK(IsValidUtf8("caf\xc3\xa9"));
  CHECK(!IsValidUtf8("\xed\xa0\x80"));  // a surrogate
}

TEST_CASE("Opening a FIFO for reading fails at once") {
  auto dir = std::filesystem::temp_directory_path() / ("ockpt_fifo_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string fifo = (dir / "p").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = RandomAccessFile::Open(fifo);
  REQUIRE(!f.ok());
  CHECK(f.status().code() == StatusCode::kDataLoss);
  CHECK(CheckRegularFile(fifo).code() == StatusCode::kDataLoss);
  CHECK(!ReadFile(fifo, 100).ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("WalkTree skips symlink loops and reports them") {
  auto dir = std::filesystem::temp_directory_path() / ("ockpt_walk_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "sub");
  REQUIRE(WriteFile((dir / "a.npy").string(), "x").ok());
  REQUIRE(WriteFile((dir / "sub" / "b.npy").string(), "x").ok());
  std::filesystem::create_directory_symlink(".", dir / "loop1");
  std::filesystem::create_directory_symlink(".", dir / "loop2");
  std::filesystem::create_directory_symlink("..", dir / "sub" / "up");
  std::vector<std::string> seen, skipped;
  Status s = WalkTree(
      dir.string(),
      [&](const std::vector<std::string>& c, const std::string&) {
        std::string p;
        for (const auto& x : c) p += (p.empty() ? "" : "/") + x;
        seen.push_back(p);
        return Status::Ok();
      },
      &skipped);
  REQUIRE(s.ok());
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"a.npy", "sub/b.npy"});
  CHECK(skipped.size() == 3);
  // Confinement: a link out of the directory is refused unless allowed.
  auto outside = std::filesystem::temp_directory_path() / ("ockpt_out_" + std::to_string(::getpid()));
  REQUIRE(WriteFile(outside.string(), "y").ok());
  std::filesystem::create_symlink(outside, dir / "ext");
  CHECK(CheckConfined(dir.string(), "ext").code() == StatusCode::kDataLoss);
  CHECK(CheckConfined(dir.string(), "a.npy").ok());
  CHECK(CheckConfined(dir.string(), "loop1/a.npy").ok());
  SetAllowExternalLinks(true);
  CHECK(CheckConfined(dir.string(), "ext").ok());
  SetAllowExternalLinks(false);
  std::filesystem::remove(outside);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ockpt
