#include "formats/orbax/restore.h"
#include "formats/orbax/restored_composite.h"

#include <catch2/catch.hpp>

#include "formats/npy/npy.h"
#include "lib/base/file.h"
#include "lib/base/json.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax {
namespace {

const std::string kDirect = "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                            "pytree_checkpointable_has_metadata";

npy::NpyHeader HeaderOf(const std::string& path, Bytes* payload) {
  auto data = ReadFile(path);
  REQUIRE(data.ok());
  size_t off = 0;
  auto h = npy::DecodeNpyHeader(*data, &off);
  REQUIRE(h.ok());
  *payload = data->substr(off);
  return *h;
}

TEST_CASE("restore writes .npy files and _tree.json") {
  testing::TempDir tmp;
  RestoreOptions opt;
  opt.path = testing::Golden(kDirect);
  opt.out = tmp / "out";
  REQUIRE(Restore(opt, {}).ok());
  Bytes payload;
  auto h = HeaderOf(tmp / "out/b/c.npy", &payload);
  CHECK(h.descr == "<i4");
  CHECK(h.shape == Shape{3});
  CHECK(payload == Bytes("\1\0\0\0\2\0\0\0\3\0\0\0", 12));
  auto tree = ReadFile(tmp / "out/_tree.json");
  REQUIRE(tree.ok());
  CHECK(tree->find("\"write_shape\"") != std::string::npos);

  // OUT exists now: refused.
  CHECK(Restore(opt, {}).code() == StatusCode::kAlreadyExists);
}

TEST_CASE("restore --select, --dtype and a warning for lossy casts") {
  testing::TempDir tmp;
  RestoreOptions opt;
  opt.path = testing::Golden(kDirect);
  opt.out = tmp / "sel";
  opt.select = {"b.*"};
  opt.dtype = DType::kFloat32;
  std::vector<std::string> warnings;
  Context ctx;
  ctx.warn = [&](std::string_view w) { warnings.emplace_back(w); };
  REQUIRE(Restore(opt, ctx).ok());
  CHECK_FALSE(PathExists(tmp / "sel/a.npy"));
  Bytes payload;
  auto h = HeaderOf(tmp / "sel/b/c.npy", &payload);
  CHECK(h.descr == "<f4");
  float v[3];
  REQUIRE(payload.size() == 12);
  std::memcpy(v, payload.data(), 12);
  CHECK(v[2] == 3.0f);
  CHECK(warnings.size() == 1);

  opt.out = tmp / "none";
  opt.select = {"zzz"};
  CHECK(Restore(opt, {}).code() == StatusCode::kNotFound);
  CHECK_FALSE(PathExists(tmp / "none"));
}

TEST_CASE("failed restore leaves nothing under OUT") {
  testing::TempDir tmp;
  RestoreOptions opt;
  opt.path = testing::Golden("orbax_compat/v0_checkpoints/direct_checkpoint/critical_metadata_alterations/"
                             "missing_pytree_data_dir_d");
  opt.out = tmp / "out";
  CHECK_FALSE(Restore(opt, {}).ok());
  CHECK_FALSE(PathExists(tmp / "out"));
  auto names = ListDirectory(tmp.path());
  REQUIRE(names.ok());
  CHECK(names->empty());
}

TEST_CASE("composite restore: items in subfolders, JSON items as files, opaque items copied, _checkpoint.json") {
  testing::TempDir tmp;
  RestoreOptions opt;
  const std::string src = testing::Golden("orbax_managed/v1_managed/has_metrics/has_custom_metadata");
  opt.path = src;
  opt.out = tmp / "out";
  REQUIRE(Restore(opt, {}).ok());
  CHECK(IsRegularFile(tmp / "out/state/a.npy"));
  CHECK(IsRegularFile(tmp / "out/metadata.json"));
  CHECK(IsRegularFile(tmp / "out/metrics.json"));
  // The custom handler's item, byte for byte.
  auto ckpt = OpenCheckpoint(src);
  REQUIRE(ckpt.ok());
  auto copied = ReadFile(tmp / "out/baz/foo.txt");
  auto original = ReadFile(JoinPath(ckpt->dir, "baz/foo.txt"));
  REQUIRE(copied.ok());
  REQUIRE(original.ok());
  CHECK(*copied == *original);
  // What save needs to rebuild the composite.
  auto listed = ReadRestoredCheckpoint(tmp / "out");
  REQUIRE(listed.ok());
  REQUIRE(listed->has_value());
  std::vector<std::string> names;
  for (const RestoredItem& it : (*listed)->items) names.push_back(it.name);
  CHECK(names == std::vector<std::string>{"baz", "metadata", "metrics", "state"});
  CHECK((*listed)->items[0].kind == ItemKind::kOpaque);
  CHECK((*listed)->items[0].handler == ckpt->items[0].handler);
  CHECK((*listed)->custom_metadata == ckpt->checkpoint_metadata["custom_metadata"]);
}

}  // namespace
}  // namespace ockpt::orbax

namespace ockpt::orbax {
namespace {

// Issue 17: RestoreShard, the per-rank entry point of a sharded restore.
TEST_CASE("RestoreShard writes one device's pieces with global_shape and index") {
  testing::TempDir tmp;
  RestoreOptions opt;
  opt.path = testing::Golden(kDirect);  // a: int32 arange(8); b.c: int32 [1, 2, 3]
  opt.out = tmp / "out/shard_1";        // the parent is created
  ShardingOptions sharding;
  auto mesh = ParseMesh("x=2,y=2");
  REQUIRE(mesh.ok());
  sharding.mesh = *mesh;
  auto spec = ParseSpec("a=x+y", sharding.mesh);
  REQUIRE(spec.ok());
  sharding.specs.push_back(*spec);
  opt.sharding = sharding;
  REQUIRE(RestoreShard(opt, 1, {}).ok());
  Bytes payload;
  auto h = HeaderOf(tmp / "out/shard_1/a.npy", &payload);
  CHECK(h.shape == Shape{2});
  CHECK(payload == Bytes("\2\0\0\0\3\0\0\0", 8));  // a[2:4]
  h = HeaderOf(tmp / "out/shard_1/b/c.npy", &payload);  // unmatched: replicated
  CHECK(payload == Bytes("\1\0\0\0\2\0\0\0\3\0\0\0", 12));
  auto tree = ReadFile(tmp / "out/shard_1/_tree.json");
  REQUIRE(tree.ok());
  auto doc = ParseJsonBounded(*tree, "_tree.json");
  REQUIRE(doc.ok());
  const Json& a = (*doc)["leaves"][0];
  CHECK(a["name"] == "a");
  CHECK(a["global_shape"] == Json::array({8}));
  CHECK(a["index"] == Json::array({Json::array({2, 4})}));
  CHECK(a["chunk_shape"].is_null());
  const Json& bc = (*doc)["leaves"][1];
  CHECK(bc["index"] == Json::array({Json::array({0, 3})}));

  // A shard outside the mesh, a spec that does not fit: kInvalidArgument, nothing written.
  opt.out = tmp / "bad";
  CHECK(RestoreShard(opt, 4, {}).code() == StatusCode::kInvalidArgument);
  auto too_long = ParseSpec("a=x,y", sharding.mesh);
  REQUIRE(too_long.ok());
  opt.sharding->specs = {*too_long};
  CHECK(RestoreShard(opt, 0, {}).code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(PathExists(tmp / "bad"));
  RestoreOptions whole = opt;
  whole.sharding.reset();
  CHECK(RestoreShard(whole, 0, {}).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ockpt::orbax
