#include "formats/orbax/checkpoint_reader.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/formats/orbax/orbax_test_util.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax {
namespace {

using testing::ReadLeafBytes;

const std::string kV0 = "orbax_compat/v0_checkpoints/";
const std::string kV1 = "orbax_compat/v1_checkpoints/";

Bytes Int32s(std::initializer_list<int32_t> v) {
  Bytes b;
  for (int32_t x : v) PutU32LE(&b, static_cast<uint32_t>(x));
  return b;
}

void CheckCompatTree(const PyTreeItem& item) {
  REQUIRE(item.leaves().size() == 2);
  const LeafRecord& a = item.leaves()[0];
  CHECK(a.name() == "a");
  CHECK(a.dtype == DType::kInt32);
  CHECK(a.shape == Shape{8});
  CHECK(item.leaves()[1].name() == "b.c");
  CHECK(ReadLeafBytes(item, "a") == Int32s({0, 1, 2, 3, 4, 5, 6, 7}));
  CHECK(ReadLeafBytes(item, "b.c") == Int32s({1, 2, 3}));
}

TEST_CASE("direct v0 checkpoint (StandardCheckpointer, zarr2)") {
  auto ckpt = OpenCheckpoint(testing::Golden(kV0 + "direct_checkpoint/checkpoint_metadata_present/"
                                                   "pytree_checkpointable_has_metadata"));
  REQUIRE(ckpt.ok());
  CHECK(ckpt->kind == PathKind::kCheckpoint);
  REQUIRE(ckpt->items.size() == 1);
  const ItemEntry& e = ckpt->items[0];
  CHECK(e.name.empty());
  CHECK(e.kind == ItemKind::kPyTree);
  CHECK(e.handler.get<std::string>().find("StandardCheckpointHandler") != std::string::npos);
  REQUIRE(e.pytree);
  CHECK(e.pytree->ocdbt());
  CHECK(e.pytree->zarr_format() == 2);
  const LeafRecord& a = e.pytree->leaves()[0];
  CHECK(a.value_type == "jax.Array");
  CHECK(a.write_shape == Shape{8});
  CHECK(a.compressor == "zstd:1");
  CHECK(a.sharding["sharding_type"] == "SingleDeviceSharding");
  CheckCompatTree(*e.pytree);
  CHECK(ckpt->checkpoint_metadata["custom_metadata"]["custom"] == "meta");
}

TEST_CASE("composite v1 checkpoint (zarr3 sharded) and JSON item") {
  auto ckpt = OpenCheckpoint(testing::Golden(kV1 + "composite_checkpoint/checkpoint_metadata_present/"
                                                   "pytree_checkpointable_has_metadata"));
  REQUIRE(ckpt.ok());
  CHECK(ckpt->kind == PathKind::kCheckpoint);
  REQUIRE(ckpt->items.size() == 2);
  CHECK(ckpt->items[0].name == "metadata");
  CHECK(ckpt->items[0].kind == ItemKind::kJson);
  CHECK(ckpt->items[0].json_value["metadata"] == "json_data");
  CHECK(ckpt->items[1].name == "state");
  REQUIRE(ckpt->items[1].pytree);
  CHECK(ckpt->items[1].pytree->zarr_format() == 3);
  CheckCompatTree(*ckpt->items[1].pytree);

  auto only = OpenCheckpoint(ckpt->path, {std::nullopt, std::string("state")});
  REQUIRE(only.ok());
  CHECK(only->items.size() == 1);
  CHECK(OpenCheckpoint(ckpt->path, {std::nullopt, std::string("nope")}).status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("item without _METADATA takes its structure from the OCDBT keys") {
  auto item = PyTreeItem::Open(testing::Golden(kV0 + "direct_checkpoint/checkpoint_metadata_present/"
                                                     "pytree_checkpointable_missing_metadata"));
  REQUIRE(item.ok());
  CHECK_FALSE((*item)->has_tree_metadata());
  CheckCompatTree(**item);
}

TEST_CASE("manager root: latest step, items of every kind") {
  std::string root = testing::Golden("orbax_managed/v0_managed/has_metrics/has_custom_metadata");
  auto ckpt = OpenCheckpoint(root);
  REQUIRE(ckpt.ok());
  CHECK(ckpt->kind == PathKind::kRoot);
  CHECK(ckpt->step == 0);
  CHECK(ckpt->root_metadata["custom_metadata"]["foo"] == "bar");
  std::map<std::string, ItemKind> kinds;
  for (const auto& e : ckpt->items) kinds[e.name] = e.kind;
  CHECK(kinds["state"] == ItemKind::kPyTree);
  CHECK(kinds["metadata"] == ItemKind::kJson);
  CHECK(kinds["metrics"] == ItemKind::kJson);
  CHECK(kinds["baz"] == ItemKind::kOpaque);
  CHECK(OpenCheckpoint(root, {int64_t{0}, std::nullopt}).ok());
  CHECK(OpenCheckpoint(root, {int64_t{5}, std::nullopt}).status().code() == StatusCode::kNotFound);
}

TEST_CASE("legacy aggregate and tunix multi-chunk arrays") {
  auto item = PyTreeItem::Open(testing::Golden("orbax_legacy_aggregate/aggregate_some.checkpoint"));
  REQUIRE(item.ok());
  REQUIRE((*item)->leaves().size() == 4);
  Bytes b = ReadLeafBytes(**item, "b");
  REQUIRE(b.size() == 16 * 8);
  CHECK(LoadU64LE(b.data() + 8 * 15) == 30);
  Bytes ce = ReadLeafBytes(**item, "c.e");
  CHECK(LoadU64LE(ce.data() + 8 * 15) == 60);

  auto tunix = OpenCheckpoint(testing::Golden("tunix_sft_sharded/checkpoints/1"));
  REQUIRE(tunix.ok());
  bool saw = false;
  for (const auto& e : tunix->items) {
    if (!e.pytree) continue;
    for (const auto& r : e.pytree->leaves()) {
      if (r.name().find("w1.kernel") != std::string::npos) {
        saw = true;
        CHECK(r.shape == Shape{2, 4});
        CHECK(r.chunk_shape == Shape{1, 2});
        CHECK(r.sharding["sharding_type"] == "NamedSharding");
      }
    }
  }
  CHECK(saw);
}

TEST_CASE("damaged and foreign paths fail cleanly") {
  auto d = OpenCheckpoint(testing::Golden(kV0 + "direct_checkpoint/critical_metadata_alterations/"
                                                "missing_pytree_data_dir_d"));
  CHECK_FALSE(d.ok());
  auto m = OpenCheckpoint(testing::Golden(kV0 + "direct_checkpoint/critical_metadata_alterations/"
                                                "missing_pytree_data_file_manifest.ocdbt"));
  CHECK_FALSE(m.ok());
  CHECK(m.status().message().find("manifest.ocdbt") != std::string::npos);
  CHECK(OpenCheckpoint("/nonexistent/x").status().code() == StatusCode::kNotFound);
  testing::TempDir empty;
  CHECK(OpenCheckpoint(empty.path()).status().code() == StatusCode::kNotFound);
  // The dummy item of a composite is reported, not fatal.
  auto dummy = OpenCheckpoint(testing::Golden(
      kV1 + "composite_checkpoint/critical_general_alterations/dummy_checkpointable_added"));
  REQUIRE(dummy.ok());
  bool saw_dummy = false;
  for (const auto& e : dummy->items) {
    if (e.name == "dummy") {
      saw_dummy = true;
      CHECK_FALSE(e.error.ok());
    }
  }
  CHECK(saw_dummy);
}

TEST_CASE("step names") {
  CHECK(ParseStepName("10") == 10);
  CHECK(ParseStepName("0023") == 23);
  CHECK(ParseStepName("step_7") == 7);
  CHECK_FALSE(ParseStepName("10.orbax-checkpoint-tmp").has_value());
  CHECK_FALSE(ParseStepName("metadata").has_value());
  CHECK_FALSE(ParseStepName("_5").has_value());
  CHECK(IsTmpName("10.orbax-checkpoint-tmp-1234"));
}

}  // namespace
}  // namespace ockpt::orbax
