// The Orbax file structs (formats/orbax/format/): every such file under
// tests/data/golden decodes and re-encodes byte for byte; corrupted and
// truncated copies decode to kDataLoss naming the file, never crash.

#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "formats/orbax/format/array_metadatas_file.h"
#include "formats/orbax/format/checkpoint_metadata_file.h"
#include "formats/orbax/format/metrics_file.h"
#include "formats/orbax/format/root_metadata_file.h"
#include "formats/orbax/format/sharding_file.h"
#include "formats/orbax/format/tree_metadata_file.h"
#include "lib/base/file.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax::format {
namespace {

namespace fs = std::filesystem;

// Decodes then re-encodes; the error status when Decode fails.
using RoundTrip = std::function<Result<std::string>(ByteView, std::string_view)>;

template <typename F, typename D, typename E>
RoundTrip Make(D decode, E encode) {
  return [decode, encode](ByteView text, std::string_view path) -> Result<std::string> {
    OCKPT_ASSIGN_OR_RETURN(F f, decode(text, path));
    return encode(f);
  };
}

struct Kind {
  std::string name;
  RoundTrip round_trip;
};

// Which struct a golden file is, by its name; nullopt for other files.
std::optional<Kind> KindOf(const fs::path& p) {
  std::string name = p.filename().string();
  std::string parent = p.parent_path().filename().string();
  if (name == "_METADATA") {
    return Kind{"_METADATA", Make<TreeMetadataFile>(DecodeTreeMetadataFile, EncodeTreeMetadataFile)};
  }
  if (name == "_CHECKPOINT_METADATA") {
    return Kind{name, Make<CheckpointMetadataFile>(DecodeCheckpointMetadataFile, EncodeCheckpointMetadataFile)};
  }
  if (name == "_ROOT_METADATA") {
    return Kind{name, Make<RootMetadataFile>(DecodeRootMetadataFile, EncodeRootMetadataFile)};
  }
  if (name == "_sharding") return Kind{name, Make<ShardingFile>(DecodeShardingFile, EncodeShardingFile)};
  if (parent == "array_metadatas" && name.rfind("process_", 0) == 0) {
    return Kind{"array_metadatas", Make<ArrayMetadatasFile>(DecodeArrayMetadatasFile, EncodeArrayMetadatasFile)};
  }
  if (parent == "metrics" && name == "metrics") {
    return Kind{name, Make<MetricsFile>(DecodeMetricsFile, EncodeMetricsFile)};
  }
  return std::nullopt;
}

struct GoldenFile {
  std::string path;
  Kind kind;
  std::string bytes;
};

std::vector<GoldenFile> GoldenFiles() {
  std::vector<GoldenFile> out;
  for (const auto& e : fs::recursive_directory_iterator(testing::Golden(""))) {
    if (!e.is_regular_file()) continue;
    auto kind = KindOf(e.path());
    if (!kind) continue;
    // The compat tests' stand-in item: its _METADATA holds the word "dummy".
    if (e.path().string().find("dummy_checkpointable_added/dummy/") != std::string::npos) continue;
    auto bytes = ReadFile(e.path().string());
    REQUIRE(bytes.ok());
    out.push_back({e.path().string(), *kind, std::string(bytes->begin(), bytes->end())});
  }
  return out;
}

TEST_CASE("every golden Orbax JSON file re-encodes byte for byte") {
  std::map<std::string, int> counts;
  for (const GoldenFile& g : GoldenFiles()) {
    INFO(g.path);
    auto encoded = g.kind.round_trip(g.bytes, g.path);
    REQUIRE(encoded.ok());
    CHECK(*encoded == g.bytes);
    ++counts[g.kind.name];
  }
  // All six kinds are covered.
  CHECK(counts.size() == 6);
  for (const auto& [k, n] : counts) {
    INFO(k);
    CHECK(n > 0);
  }
}

TEST_CASE("truncated or corrupted Orbax JSON files are DataLoss naming the file") {
  const char kBytes[] = {'\0', '"', '{', ']', '9', '\xff', ',', 'x'};
  for (const GoldenFile& g : GoldenFiles()) {
    INFO(g.path);
    for (size_t n = 0; n < g.bytes.size(); ++n) {
      auto r = g.kind.round_trip(std::string_view(g.bytes).substr(0, n), g.path);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == StatusCode::kDataLoss);
      CHECK(std::string(r.status().message()).find(g.path) != std::string::npos);
    }
    for (size_t i = 0; i < g.bytes.size(); ++i) {
      std::string bad = g.bytes;
      bad[i] = kBytes[i % sizeof(kBytes)];
      auto r = g.kind.round_trip(bad, g.path);
      if (r.ok()) continue;  // still valid JSON of the right shape
      CHECK(r.status().code() == StatusCode::kDataLoss);
      CHECK(std::string(r.status().message()).find(g.path) != std::string::npos);
    }
  }
}

TEST_CASE("unknown members and types round-trip in place") {
  std::string text =
      R"j({"tree_metadata": {"('a',)": {"key_metadata": [{"key": 0, "key_type": 1, "z": 1}], )j"
      R"j("value_metadata": {"write_shape": "odd", "value_type": "jax.Array", "extra": [1.5, NaN]}, "more": {}}}, )j"
      R"j("future": true, "use_ocdbt": "yes", "custom_metadata": null})j";
  auto f = DecodeTreeMetadataFile(text, "t");
  REQUIRE(f.ok());
  CHECK(f->tree_metadata.at(0).value_metadata.value_type == "jax.Array");
  CHECK_FALSE(f->tree_metadata.at(0).value_metadata.write_shape);
  CHECK_FALSE(f->use_ocdbt);
  CHECK(EncodeTreeMetadataFile(*f) == text);

  std::string cm = R"j({"z": 1, "metrics": {"loss": NaN, "acc": Infinity}, "init_timestamp_nsecs": 1.5})j";
  auto c = DecodeCheckpointMetadataFile(cm, "c");
  REQUIRE(c.ok());
  CHECK_FALSE(c->init_timestamp_nsecs);
  CHECK(EncodeCheckpointMetadataFile(*c) == cm);
}

TEST_CASE("Encode of new structs uses Orbax's member order") {
  TreeMetadataFile f;
  TreeMetadataFileEntry e;
  e.key = "('a',)";
  e.key_metadata.push_back({Json("a"), 2, {}});
  e.value_metadata.value_type = "jax.Array";
  e.value_metadata.skip_deserialize = false;
  e.value_metadata.write_shape = Shape{8};
  f.tree_metadata.push_back(e);
  f.use_ocdbt = true;
  f.use_zarr3 = false;
  f.store_array_data_equal_to_fill_value = true;
  f.custom_metadata = Json(nullptr);
  CHECK(EncodeTreeMetadataFile(f) ==
        R"j({"tree_metadata": {"('a',)": {"key_metadata": [{"key": "a", "key_type": 2}], )j"
        R"j("value_metadata": {"value_type": "jax.Array", "skip_deserialize": false, "write_shape": [8]}}}, )j"
        R"j("use_ocdbt": true, "use_zarr3": false, "store_array_data_equal_to_fill_value": true, )j"
        R"j("custom_metadata": null})j");
  ShardingFile s;
  s.entries["Yi5j"] = "{}";
  s.entries["YQ=="] = R"j({"a": 1})j";
  CHECK(EncodeShardingFile(s) == R"j({"YQ==":"{\"a\": 1}","Yi5j":"{}"})j");
  CHECK(ShardingKey("b.c") == "Yi5j");
}

}  // namespace
}  // namespace ockpt::orbax::format
