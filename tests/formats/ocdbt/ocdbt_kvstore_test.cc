// OcdbtKvStore against every golden database (keys, sizes, storage, value
// sha256, versions), older generations, and databases written here with
// base paths, missing data files and hostile paths.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "formats/ocdbt/inspect.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "tests/formats/ocdbt/test_db.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::ocdbt {
namespace {

using ockpt::testing::Golden;
using ockpt::testing::TempDir;
using Json = nlohmann::json;

std::string Sha256(ByteView data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_sha256(), nullptr);
  return HexString(ByteView(reinterpret_cast<const char*>(d), n));
}

struct GoldenDb {
  std::string name;  // sample/db, for messages
  std::string path;
  Json entry;
};

std::vector<GoldenDb> AllGoldenDbs() {
  std::vector<GoldenDb> out;
  std::vector<std::filesystem::path> files;
  for (auto& f : std::filesystem::directory_iterator(Golden("_expected"))) files.push_back(f.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    Json doc = Json::parse(in);
    if (!doc.contains("databases")) continue;
    std::string sample = f.stem().string();
    for (size_t p; (p = sample.find("__")) != std::string::npos;) sample.replace(p, 2, "/");
    for (auto& [rel, entry] : doc["databases"].items()) {
      out.push_back({sample + "/" + rel, Golden(sample + "/" + rel), entry});
    }
  }
  return out;
}

TEST_CASE("every golden database lists its expected keys and values", "[ocdbt][golden]") {
  std::vector<GoldenDb> dbs = AllGoldenDbs();
  REQUIRE(dbs.size() >= 100);
  size_t checked_values = 0, failing = 0;
  for (const GoldenDb& db : dbs) {
    INFO(db.name);
    auto store = OcdbtKvStore::Open(db.path);
    if (db.entry.contains("error")) {
      ++failing;
      // Unreadable on purpose (e.g. missing_pytree_data_dir_d).
      Status s = store.ok() ? store.value()->ListEntries("").status() : store.status();
      CHECK(!s.ok());
      CHECK((s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kNotFound));
      continue;
    }
    REQUIRE(store.ok());
    auto entries = (*store)->ListEntries("");
    REQUIRE(entries.ok());
    const Json& keys = db.entry["keys"];
    REQUIRE(entries->size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      const EntryInfo& got = (*entries)[i];
      const Json& want = keys[i];
      INFO(want.dump());
      CHECK(got.key == want["key"].get<std::string>());
      CHECK(got.size == want["size"].get<uint64_t>());
      CHECK(got.is_inline == (want["storage"] == "inline"));
      if (!got.is_inline) {
        CHECK(got.offset == want["offset"].get<uint64_t>());
        CHECK(got.file == want["file"].get<std::string>());
      }
      auto value = (*store)->ReadEntry(got);
      if (want["sha256"].is_null()) {
        CHECK(value.status().code() == StatusCode::kDataLoss);
        continue;
      }
      REQUIRE(value.ok());
      CHECK(Sha256(*value) == want["sha256"].get<std::string>());
      // Read by key descends to the same value.
      auto by_key = (*store)->Read(got.key);
      REQUIRE(by_key.ok());
      CHECK(*by_key == *value);
      ++checked_values;
    }
    // Versions.
    auto versions = (*store)->ListVersions();
    REQUIRE(versions.ok());
    CHECK(versions->size() == db.entry["num_versions"].get<size_t>());
    const Json& latest = db.entry["latest"];
    CHECK((*store)->version().generation == latest["generation"].get<uint64_t>());
    CHECK((*store)->version().commit_time_ns == latest["commit_time_ns"].get<uint64_t>());
    CHECK((*store)->version().num_keys == latest["num_keys"].get<uint64_t>());
    if (db.entry.contains("versions")) {
      const Json& want = db.entry["versions"];
      REQUIRE(versions->size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        CHECK((*versions)[i].generation == want[i]["generation"].get<uint64_t>());
        CHECK((*versions)[i].commit_time_ns == want[i]["commit_time_ns"].get<uint64_t>());
        CHECK((*versions)[i].num_keys == want[i]["num_keys"].get<uint64_t>());
      }
    }
  }
  CHECK(failing == 3);
  CHECK(checked_values > 800);
}

// expected/*.versions.tsv: generation TAB commit time (UTC) for 1-50 and 151-200.
void CheckVersionsTsv(const std::string& db, const std::string& tsv) {
  auto store = OcdbtKvStore::Open(Golden("neuroglancer_ocdbt/" + db));
  REQUIRE(store.ok());
  auto versions = (*store)->ListVersions();
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 200);
  for (size_t i = 0; i < 200; ++i) {
    CHECK((*versions)[i].generation == i + 1);
    CHECK((*versions)[i].num_keys == i + 1);
  }
  std::ifstream in(Golden("neuroglancer_ocdbt/expected/" + tsv));
  std::string line;
  std::getline(in, line);  // header
  size_t rows = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    uint64_t gen;
    std::string time;
    fields >> gen >> time;
    REQUIRE(gen >= 1);
    REQUIRE(gen <= 200);
    CHECK(FormatCommitTime((*versions)[gen - 1].commit_time_ns) == time);
    ++rows;
  }
  CHECK(rows == 100);
}

TEST_CASE("multi_version databases: 200 generations with their commit times", "[ocdbt][golden]") {
  SECTION("high arity") {
    CheckVersionsTsv("multi_version_high_arity.ocdbt", "multi_version_high_arity.versions.tsv");
  }
  SECTION("low arity") {
    CheckVersionsTsv("multi_version_low_arity.ocdbt", "multi_version_low_arity.versions.tsv");
  }
}

TEST_CASE("reading older generations", "[ocdbt][golden]") {
  for (std::string db : {"multi_version_high_arity.ocdbt", "multi_version_low_arity.ocdbt"}) {
    INFO(db);
    for (uint64_t gen : {1, 2, 16, 17, 50, 128, 160, 197, 198, 199, 200}) {
      INFO("generation " << gen);
      auto store = OcdbtKvStore::Open(Golden("neuroglancer_ocdbt/" + db), gen);
      REQUIRE(store.ok());
      CHECK((*store)->version().generation == gen);
      auto keys = (*store)->List("");
      REQUIRE(keys.ok());
      CHECK(keys->size() == gen);
      auto v = (*store)->Read("key" + std::to_string(gen));
      REQUIRE(v.ok());
      CHECK(*v == "version " + std::to_string(gen));
      CHECK((*store)->Read("key" + std::to_string(gen + 1)).status().code() ==
            StatusCode::kNotFound);
    }
    auto none = OcdbtKvStore::Open(Golden("neuroglancer_ocdbt/" + db), 201);
    CHECK(none.status().code() == StatusCode::kNotFound);
    CHECK_THAT(none.status().message(), Catch::Contains("201"));
  }
  auto store = OcdbtKvStore::Open(Golden("neuroglancer_ocdbt/multi_version_low_arity.ocdbt"), 50);
  REQUIRE(store.ok());
  auto keys = (*store)->List("");
  REQUIRE(keys.ok());
  CHECK(keys->size() == 50);
  CHECK((*store)->Read("key50").value() == "version 50");
}

TEST_CASE("deep tree with out-of-line values: lookups, prefixes, Contains", "[ocdbt][golden]") {
  auto store = OcdbtKvStore::Open(Golden("neuroglancer_ocdbt/files_min_arity.ocdbt"));
  REQUIRE(store.ok());
  const std::string src = Golden("neuroglancer_ocdbt/expected/files_source/");
  for (std::string key : {"#", "a", "b", "baz/first", "baz/x", "baz/z", "c", "empty"}) {
    INFO(key);
    auto v = (*store)->Read(key);
    REQUIRE(v.ok());
    CHECK(*v == ReadFile(src + key).value());
    CHECK((*store)->Contains(key).value());
  }
  for (std::string key : {"", "0", "a0", "baz", "baz/", "baz/y", "d", "emptyx", "\xff"}) {
    INFO(key);
    CHECK((*store)->Read(key).status().code() == StatusCode::kNotFound);
    CHECK(!(*store)->Contains(key).value());
  }
  auto baz = (*store)->List("baz/");
  REQUIRE(baz.ok());
  REQUIRE(baz->size() == 3);
  CHECK((*baz)[0].key == "baz/first");
  CHECK((*baz)[2].key == "baz/z");
  CHECK((*store)->List("ba").value().size() == 3);
  CHECK((*store)->List("e").value().size() == 1);
  CHECK((*store)->List("f").value().empty());
  CHECK((*store)->List("").value().size() == 8);
}

TEST_CASE("Orbax v1 root and its process database", "[ocdbt][golden]") {
  std::string item = Golden(
      "orbax_compat/v1_checkpoints/composite_checkpoint/checkpoint_metadata_missing/"
      "pytree_checkpointable_has_metadata/state");
  auto root = OcdbtKvStore::Open(item);
  REQUIRE(root.ok());
  auto keys = (*root)->List("");
  REQUIRE(keys.ok());
  std::vector<std::string> names;
  for (auto& k : *keys) names.push_back(k.key);
  CHECK(names == std::vector<std::string>{"a/c/0", "a/zarr.json", "b.c/c/0", "b.c/zarr.json"});
  auto v = (*root)->Read("b.c/c/0");
  REQUIRE(v.ok());
  CHECK(*v == testing::FromHex("28b52ffd200c610000010000000200000003000000"
                               "0000000000000000" "1500000000000000" "146c27ae"));
  auto proc = OcdbtKvStore::Open(item + "/ocdbt.process_0");
  REQUIRE(proc.ok());
  CHECK((*proc)->Read("b.c/c/0").value() == *v);
}

TEST_CASE("missing_pytree_data_dir_d fails to open cleanly", "[ocdbt][golden]") {
  std::string dir = Golden(
      "orbax_compat/v0_checkpoints/direct_checkpoint/critical_metadata_alterations/"
      "missing_pytree_data_dir_d");
  auto store = OcdbtKvStore::Open(dir);
  REQUIRE(!store.ok());
  CHECK(store.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(store.status().message(), Catch::Contains(dir + "/d/") && Catch::Contains("missing"));
  // Its process database is intact.
  CHECK(OcdbtKvStore::Open(dir + "/ocdbt.process_0").ok());
}

TEST_CASE("a missing manifest is kNotFound naming the path", "[ocdbt]") {
  TempDir tmp;
  auto s = OcdbtKvStore::Open(tmp.path()).status();
  CHECK(s.code() == StatusCode::kNotFound);
  CHECK_THAT(s.message(), Catch::Contains(tmp.path() + "/manifest.ocdbt"));
  auto s2 = OcdbtKvStore::Open(tmp / "nope").status();
  CHECK(s2.code() == StatusCode::kNotFound);
  CHECK_THAT(s2.message(), Catch::Contains(tmp / "nope"));
}

// The layout Orbax's merge produces: the root's B+tree lives in d/, its
// children and values in ocdbt.process_0/d/, reached through base_path.
void WriteMergedLayout(const std::string& dir, const std::string& base = "ocdbt.process_0/") {
  const std::string proc = JoinPath(dir, "ocdbt.process_0");
  uint64_t hello = testing::AppendBlob(proc + "/d/values", "hello");
  uint64_t world = testing::AppendBlob(proc + "/d/values", "world!!");
  // Leaves are stored without their common prefix; their tables are
  // relative to their transitive path "ocdbt.process_0/".
  BtreeNode a;
  a.data_files = {{"", "d/values"}};
  LeafNodeEntry a0;
  a0.key = "0";
  a0.kind = ValueKind::kOutOfLine;
  a0.value_length = 5;
  a0.location = {0, hello, 5};
  LeafNodeEntry az;
  az.key = "zarr.json";
  az.value_length = 2;
  az.inline_value = "{}";
  a.leaf_entries = {a0, az};
  BtreeNode b;
  b.data_files = {{"", "d/values"}};
  LeafNodeEntry b0;
  b0.key = "";  // the whole key is the node's prefix
  b0.kind = ValueKind::kOutOfLine;
  b0.value_length = 7;
  b0.location = {0, world, 7};
  b.leaf_entries = {b0};
  Bytes a_blob = EncodeBtreeNode(a, EnvelopeCompression::kZstd).value();
  Bytes b_blob = EncodeBtreeNode(b, EnvelopeCompression::kNone).value();
  uint64_t a_off = testing::AppendBlob(proc + "/d/nodes", a_blob);
  uint64_t b_off = testing::AppendBlob(proc + "/d/nodes", b_blob);

  BtreeNode root;
  root.height = 1;
  root.data_files = {{base, "d/nodes"}};
  InteriorNodeEntry ea;
  ea.key = "a/0";
  ea.subtree_common_prefix_length = 2;
  ea.child = {0, a_off, a_blob.size()};
  ea.statistics = {2, a_blob.size(), 5};
  InteriorNodeEntry eb;
  eb.key = "b/0";
  eb.subtree_common_prefix_length = 3;
  eb.child = {0, b_off, b_blob.size()};
  eb.statistics = {1, b_blob.size(), 7};
  root.interior_entries = {ea, eb};
  Bytes root_blob = EncodeBtreeNode(root, EnvelopeCompression::kZstd).value();
  uint64_t root_off = testing::AppendBlob(JoinPath(dir, "d/root"), root_blob);
  testing::WriteSingleVersionManifest(dir, {"", "d/root"}, {0, root_off, root_blob.size()}, 1,
                                      3);
}

TEST_CASE("root tree pointing into ocdbt.process_0/ through base_path", "[ocdbt]") {
  TempDir tmp;
  WriteMergedLayout(tmp.path());
  auto store = OcdbtKvStore::Open(tmp.path());
  REQUIRE(store.ok());
  auto entries = (*store)->ListEntries("");
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 3);
  CHECK((*entries)[0].key == "a/0");
  CHECK(!(*entries)[0].is_inline);
  CHECK((*entries)[0].file == "ocdbt.process_0/d/values");
  CHECK((*entries)[0].offset == 0);
  CHECK((*entries)[1].key == "a/zarr.json");
  CHECK((*entries)[1].is_inline);
  CHECK((*entries)[2].key == "b/0");
  CHECK((*entries)[2].offset == 5);
  CHECK((*store)->Read("a/0").value() == "hello");
  CHECK((*store)->Read("a/zarr.json").value() == "{}");
  CHECK((*store)->Read("b/0").value() == "world!!");
  CHECK((*store)->Read("b/").status().code() == StatusCode::kNotFound);
  CHECK((*store)->Read("a/").status().code() == StatusCode::kNotFound);
  CHECK((*store)->List("a/").value().size() == 2);
  CHECK((*store)->List("b").value().size() == 1);
  CHECK((*store)->List("a/zarr.json").value().size() == 1);

  SECTION("a missing data file: listing works, reading the value is kDataLoss") {
    REQUIRE(RemoveAll(tmp / "ocdbt.process_0/d/values").ok());
    auto again = OcdbtKvStore::Open(tmp.path());
    REQUIRE(again.ok());
    auto listed = (*again)->ListEntries("");
    REQUIRE(listed.ok());
    CHECK(listed->size() == 3);
    CHECK((*again)->Read("a/zarr.json").value() == "{}");
    auto s = (*again)->Read("a/0").status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("ocdbt.process_0/d/values") &&
                                Catch::Contains("missing") && Catch::Contains("a/0"));
  }
}

TEST_CASE("data file paths outside the database are rejected", "[ocdbt]") {
  for (std::string base : {"../", "/tmp/", "ocdbt.process_0//", "./", "x/../"}) {
    INFO(base);
    TempDir tmp;
    WriteMergedLayout(tmp.path(), base);
    auto store = OcdbtKvStore::Open(tmp.path());
    REQUIRE(store.ok());  // the root itself is in d/
    auto s = (*store)->ListEntries("").status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("not a safe relative path"));
    CHECK((*store)->Read("a/0").status().code() == StatusCode::kDataLoss);
  }
  // And in the manifest itself.
  TempDir tmp;
  testing::AppendBlob(tmp / "d/x", "x");
  testing::WriteSingleVersionManifest(tmp.path(), {"", "../d/x"}, {0, 0, 1}, 0, 1);
  auto s = OcdbtKvStore::Open(tmp.path()).status();
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK_THAT(s.message(), Catch::Contains("../d/x"));
}

TEST_CASE("a missing data file of a simple database", "[ocdbt]") {
  TempDir tmp;
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 10; ++i) {
    kvs.push_back({"k" + std::to_string(i), std::string(i % 2 ? 200 : 5, static_cast<char>('a' + i))});
  }
  testing::WriteSimpleDb(tmp.path(), kvs, 4);
  auto store = OcdbtKvStore::Open(tmp.path());
  REQUIRE(store.ok());
  for (auto& [k, v] : kvs) CHECK((*store)->Read(k).value() == v);
  REQUIRE(RemoveAll(tmp / "d/values").ok());
  auto fresh = OcdbtKvStore::Open(tmp.path());
  REQUIRE(fresh.ok());
  auto keys = (*fresh)->List("");
  REQUIRE(keys.ok());
  CHECK(keys->size() == 10);
  CHECK((*fresh)->Read("k0").value() == kvs[0].second);
  auto s = (*fresh)->Read("k1").status();
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK_THAT(s.message(), Catch::Contains(tmp / "d/values"));
}

TEST_CASE("an empty tree lists nothing", "[ocdbt]") {
  TempDir tmp;
  testing::WriteSimpleDb(tmp.path(), {}, 4);
  auto store = OcdbtKvStore::Open(tmp.path());
  REQUIRE(store.ok());
  CHECK((*store)->List("").value().empty());
  CHECK((*store)->Read("a").status().code() == StatusCode::kNotFound);
  CHECK((*store)->ListVersions().value().size() == 1);
}

TEST_CASE("numbered manifests: the largest manifest.%016x is the latest", "[ocdbt]") {
  TempDir tmp;
  // Two generations of a one-leaf tree, then a config-only manifest.ocdbt.
  testing::WriteSimpleDb(tmp.path(), {{"a", "1"}}, 10);
  Manifest m1 = DecodeManifest(ReadFile(tmp / "manifest.ocdbt").value()).value();
  testing::WriteSimpleDb(tmp / "second", {{"a", "2"}, {"b", "3"}}, 10);
  Bytes leaf2 = ReadFile(tmp / "second/d/nodes").value();
  uint64_t off2 = testing::AppendBlob(tmp / "d/nodes", leaf2);
  Manifest m2 = m1;
  BtreeGenerationReference g2 = m1.versions[0];
  g2.generation = 2;
  g2.root = {0, off2, leaf2.size()};
  g2.statistics.num_keys = 2;
  g2.commit_time_ns = 2000;
  m2.versions.push_back(g2);
  m1.config.manifest_kind = ManifestKind::kNumbered;
  m2.config.manifest_kind = ManifestKind::kNumbered;
  REQUIRE(WriteFile(tmp / NumberedManifestName(1), EncodeManifest(m1, true).value()).ok());
  REQUIRE(WriteFile(tmp / NumberedManifestName(2), EncodeManifest(m2, true).value()).ok());
  REQUIRE(WriteFile(tmp / "manifest.ocdbt", EncodeManifest(m1).value()).ok());
  REQUIRE(DecodeManifest(ReadFile(tmp / "manifest.ocdbt").value()).value().versions.empty());

  auto store = OcdbtKvStore::Open(tmp.path());
  REQUIRE(store.ok());
  CHECK((*store)->version().generation == 2);
  CHECK((*store)->Read("a").value() == "2");
  CHECK((*store)->ListVersions().value().size() == 2);
  auto old = OcdbtKvStore::Open(tmp.path(), 1);
  REQUIRE(old.ok());
  CHECK((*old)->Read("a").value() == "1");
  CHECK((*old)->Read("b").status().code() == StatusCode::kNotFound);

  SECTION("a numbered manifest whose generation disagrees with its name") {
    REQUIRE(WriteFile(tmp / NumberedManifestName(3), EncodeManifest(m2, true).value()).ok());
    auto s = OcdbtKvStore::Open(tmp.path()).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains(NumberedManifestName(3)));
  }
  SECTION("no numbered manifest at all") {
    REQUIRE(RemoveAll(tmp / NumberedManifestName(1)).ok());
    REQUIRE(RemoveAll(tmp / NumberedManifestName(2)).ok());
    CHECK(OcdbtKvStore::Open(tmp.path()).status().code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("concurrent reads and listings", "[ocdbt]") {
  TempDir tmp;
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 3000; ++i) {
    kvs.push_back({"k" + std::to_string(100000 + i), std::string(i % 7 == 0 ? 150 : 3, 'v')});
  }
  testing::WriteSimpleDb(tmp.path(), kvs, 64);
  auto store = OcdbtKvStore::Open(tmp.path());
  REQUIRE(store.ok());
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < kvs.size(); i += 4) {
        auto v = (*store)->Read(kvs[i].first);
        if (!v.ok() || *v != kvs[i].second) ++failures[t];
      }
      auto listed = (*store)->List("k1001");
      if (!listed.ok() || listed->size() != 100) ++failures[t];
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == std::vector<int>(4, 0));
}

TEST_CASE("20,000 keys: listing is fast and reads descend by key", "[ocdbt][perf]") {
  TempDir tmp;
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 20000; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "params.layer%05d/c/0", i);
    kvs.push_back({key, std::to_string(i)});
  }
  testing::WriteSimpleDb(tmp.path(), kvs, 500);
  auto store = OcdbtKvStore::Open(tmp.path());
  REQUIRE(store.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto keys = (*store)->List("");
  auto t1 = std::chrono::steady_clock::now();
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 20000);
  CHECK((*keys)[12345].key == kvs[12345].first);
  double list_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  // A second listing comes from the node cache.
  auto t2 = std::chrono::steady_clock::now();
  REQUIRE((*store)->List("").ok());
  auto t3 = std::chrono::steady_clock::now();
  double cached_ms = std::chrono::duration<double, std::milli>(t3 - t2).count();
  for (int i = 0; i < 20000; i += 97) {
    REQUIRE((*store)->Read(kvs[i].first).value() == kvs[i].second);
  }
  auto t4 = std::chrono::steady_clock::now();
  double read_ms = std::chrono::duration<double, std::milli>(t4 - t3).count();
  WARN("list " << list_ms << " ms, cached list " << cached_ms << " ms, 207 reads " << read_ms
               << " ms");
  CHECK(list_ms < 2000);  // generous for sanitizer builds; ~10 ms optimized
  CHECK(read_ms < 2000);
  CHECK((*store)->List("params.layer01999").value().size() == 1);
  CHECK((*store)->List("params.layer0199").value().size() == 10);
  CHECK((*store)->List("params.layer1999").value().size() == 10);
  CHECK((*store)->List("params.layer2").value().empty());
  CHECK((*store)->List("params.layer19999/c/0").value().size() == 1);
}

}  // namespace
}  // namespace ockpt::ocdbt
