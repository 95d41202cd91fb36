#include "formats/orbax/tree_metadata.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax {
namespace {

TEST_CASE("golden _METADATA decodes") {
  auto text = ReadFile(testing::Golden(
      "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
      "pytree_checkpointable_has_metadata/_METADATA"));
  REQUIRE(text.ok());
  auto tm = DecodeTreeMetadata(*text);
  REQUIRE(tm.ok());
  REQUIRE(tm->entries.size() == 2);
  CHECK(tm->entries[1].keypath == KeyPath{{"b", KeyType::kDict}, {"c", KeyType::kDict}});
  CHECK(tm->entries[1].value_type == "jax.Array");
  CHECK(tm->entries[1].write_shape == Shape{3});
  CHECK(tm->use_ocdbt == true);
  CHECK_FALSE(tm->use_zarr3);
  CHECK(tm->store_array_data_equal_to_fill_value);
  CHECK(tm->custom_metadata.is_null());
}

TEST_CASE("sequence keys, empty nodes and custom metadata") {
  auto tm = DecodeTreeMetadata(R"json({"tree_metadata": {"('opt', '0')": {"key_metadata": [{"key": "opt", "key_type": 2}, {"key": "0", "key_type": 1}], "value_metadata": {"value_type": "Dict", "skip_deserialize": true}}}, "custom_metadata": {"x": 1}})json");
  REQUIRE(tm.ok());
  CHECK(tm->entries[0].keypath[1].type == KeyType::kSequence);
  CHECK(tm->entries[0].skip_deserialize);
  CHECK(tm->custom_metadata["x"] == 1);
  CHECK_FALSE(tm->use_ocdbt.has_value());
}

TEST_CASE("damaged _METADATA gives a clean error") {
  auto text = ReadFile(testing::Golden(
      "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
      "pytree_checkpointable_has_metadata/_METADATA"));
  REQUIRE(text.ok());
  for (size_t n = 0; n < text->size(); n += 7) {
    auto tm = DecodeTreeMetadata(text->substr(0, n));
    CHECK_FALSE(tm.ok());
    CHECK(tm.status().code() == StatusCode::kDataLoss);
  }
  CHECK_FALSE(DecodeTreeMetadata("dummy").ok());
  CHECK_FALSE(DecodeTreeMetadata("[]").ok());
  CHECK_FALSE(DecodeTreeMetadata(R"({"tree_metadata": {"x": {"key_metadata": 3}}})").ok());
  auto missing = DecodeTreeMetadata(R"({"tree_metadata": {"x": {"key_metadata": [{"key": "a"}]}}})");
  CHECK_FALSE(missing.ok());
  CHECK(missing.status().message().find("tree_metadata[\"x\"]") != std::string::npos);
}

}  // namespace
}  // namespace ockpt::orbax
