#include "formats/npy/npy_dir.h"

#include <catch2/catch.hpp>

#include "formats/npy/npy.h"
#include "lib/base/file.h"
#include "tests/support/temp_dir.h"

namespace ockpt::npy {
namespace {

void WriteNpy(const std::string& path, const std::string& descr, Shape shape, const Bytes& data) {
  REQUIRE(MakeDirectories(Dirname(path)).ok());
  REQUIRE(WriteFile(path, EncodeNpyHeader({descr, false, shape}) + data).ok());
}

TEST_CASE("directory without _tree.json: dicts and np.ndarray leaves") {
  testing::TempDir dir;
  WriteNpy(dir / "params/w.npy", "<f4", {2}, Bytes(8, '\1'));
  WriteNpy(dir / "step.npy", "<i8", {}, Bytes(8, '\2'));
  auto src = OpenNpyDirectory(dir.path());
  REQUIRE(src.ok());
  const auto& leaves = (*src)->leaves();
  REQUIRE(leaves.size() == 2);
  CHECK(leaves[0].name() == "params.w");
  CHECK(leaves[0].dtype == DType::kFloat32);
  CHECK(leaves[1].shape == Shape{});
  auto arr = (*src)->OpenArray(0);
  REQUIRE(arr.ok());
  CHECK((*arr)->size() == 8);
  char buf[4];
  REQUIRE((*arr)->ReadAt(4, 4, buf).ok());
  CHECK(buf[3] == '\1');
  CHECK_FALSE((*arr)->ReadAt(6, 4, buf).ok());
}

TEST_CASE("_tree.json gives key types, raw-bit dtypes and strings") {
  testing::TempDir dir;
  WriteNpy(dir / "opt/0/mu.npy", "<u2", {3}, Bytes(6, '\0'));
  REQUIRE(WriteFile(dir / "_tree.json", R"({"leaves": [
    {"keypath": [{"key": "opt", "type": "dict"}, {"key": "0", "type": "sequence"}, {"key": "mu", "type": "dict"}],
     "value_type": "jax.Array", "dtype": "bfloat16"},
    {"keypath": [{"key": "name", "type": "dict"}], "value_type": "string", "value": "run1"},
    {"keypath": [{"key": "extra", "type": "dict"}], "value_type": "None"}],
    "custom_metadata": {"a": 1}})").ok());
  auto src = OpenNpyDirectory(dir.path());
  REQUIRE(src.ok());
  const auto& leaves = (*src)->leaves();
  REQUIRE(leaves.size() == 3);
  CHECK(leaves[0].name() == "extra");
  CHECK(leaves[2].name() == "opt.0.mu");
  CHECK(leaves[2].keypath[1].type == KeyType::kSequence);
  CHECK(leaves[2].dtype == DType::kBFloat16);
  CHECK(leaves[1].string_value == "run1");
  CHECK((*src)->custom_metadata()["a"] == 1);
}

TEST_CASE("bad sources fail with clear errors") {
  testing::TempDir dir;
  CHECK(OpenNpyDirectory(dir / "nope").status().code() == StatusCode::kNotFound);
  CHECK(OpenNpyDirectory(dir.path()).status().code() == StatusCode::kNotFound);
  WriteNpy(dir / "a.npy", "<f4", {4}, Bytes(8, '\0'));  // too short
  CHECK(OpenNpyDirectory(dir.path()).status().code() == StatusCode::kDataLoss);
  WriteNpy(dir / "a.npy", "<f4", {2}, Bytes(8, '\0'));
  REQUIRE(WriteFile(dir / "_tree.json", R"({"leaves": [{"keypath": [{"key": "b"}], "value_type": "np.ndarray"}]})").ok());
  auto missing = OpenNpyDirectory(dir.path());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("b.npy") != std::string::npos);
  REQUIRE(WriteFile(dir / "_tree.json", R"({"leaves": [{"keypath": [{"key": ".."}], "value_type": "np.ndarray"}]})").ok());
  CHECK(OpenNpyDirectory(dir.path()).status().code() == StatusCode::kDataLoss);
  REQUIRE(WriteFile(dir / "_tree.json", "{not json").ok());
  CHECK(OpenNpyDirectory(dir.path()).status().code() == StatusCode::kDataLoss);
  REQUIRE(WriteFile(dir / "_tree.json", R"({"leaves": [{"keypath": [{"key": "a"}], "dtype": "int32"}]})").ok());
  CHECK(OpenNpyDirectory(dir.path()).status().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ockpt::npy
