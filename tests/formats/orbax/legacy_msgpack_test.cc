#include "formats/orbax/legacy_msgpack.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/support/testdata.h"

namespace ockpt::orbax {
namespace {

TEST_CASE("aggregate_some: placeholders and inline arrays") {
  auto data = ReadFile(testing::Golden("orbax_legacy_aggregate/aggregate_some.checkpoint/checkpoint"));
  REQUIRE(data.ok());
  auto leaves = DecodeLegacyMsgpack(*data);
  REQUIRE(leaves.ok());
  REQUIRE(leaves->size() == 4);
  CHECK((*leaves)[0].kind == LegacyLeaf::Kind::kPlaceholder);
  CHECK((*leaves)[0].zarr_path == "a/");
  const LegacyLeaf& ca = (*leaves)[2];
  CHECK(DottedName(ca.keypath) == "c.a");
  CHECK(ca.kind == LegacyLeaf::Kind::kInlineArray);
  CHECK(ca.dtype == DType::kInt64);
  CHECK(ca.shape == Shape{2, 4});
  REQUIRE(ca.data.size() == 64);
  CHECK(LoadU64LE(ca.data.data() + 8 * 7) == 21);
}

TEST_CASE("t5x spec leaves become zarr arrays") {
  auto data = ReadFile(testing::Golden("t5x_tiny/tiny_t5/checkpoint_1/checkpoint"));
  REQUIRE(data.ok());
  auto leaves = DecodeLegacyMsgpack(*data);
  REQUIRE(leaves.ok());
  bool found = false;
  for (const auto& l : *leaves) {
    if (DottedName(l.keypath) == "optimizer.state.param_states.kernel") {
      found = true;
      CHECK(l.kind == LegacyLeaf::Kind::kZarrSpec);
      CHECK(l.zarr_path == "state.param_states.kernel/");
      CHECK(l.zarray_json.find("\"<f8\"") != std::string::npos);
    }
  }
  CHECK(found);
}

TEST_CASE("msgpack corruption never crashes") {
  auto data = ReadFile(testing::Golden("orbax_legacy_aggregate/aggregate_all.checkpoint/checkpoint"));
  REQUIRE(data.ok());
  for (size_t n = 0; n < data->size(); ++n) {
    CHECK_FALSE(DecodeLegacyMsgpack(data->substr(0, n)).ok());
  }
  for (size_t i = 0; i < data->size(); ++i) {
    Bytes b = *data;
    b[i] ^= 0x5a;
    (void)DecodeLegacyMsgpack(b);  // any Status is fine; no crash, no huge allocation
  }
  // A header that claims 2^32-1 array elements in 5 bytes.
  CHECK_FALSE(DecodeLegacyMsgpack(ByteView("\xdd\xff\xff\xff\xff", 5)).ok());
}

}  // namespace
}  // namespace ockpt::orbax
