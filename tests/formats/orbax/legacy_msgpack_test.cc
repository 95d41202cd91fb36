#include "formats/orbax/legacy_msgpack.h"

#include <catch2/catch.hpp>

#include <map>

#include <nlohmann/json.hpp>

#include "lib/base/file.h"
#include "lib/base/sha256.h"
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


// tests/data/flax: files in flax.serialization's format (make_flax.py), with
// the SHA-256 of every array's C-order bytes in expected.json.
TEST_CASE("flax msgpack files: chunked arrays, ext types, None and empty nodes") {
  auto data = ReadFile(testing::TestData("flax/flax_state.msgpack"));
  REQUIRE(data.ok());
  auto expected_text = ReadFile(testing::TestData("flax/expected.json"));
  REQUIRE(expected_text.ok());
  auto expected = nlohmann::json::parse(*expected_text);
  auto leaves = DecodeLegacyMsgpack(*data);
  if (!leaves.ok()) FAIL(leaves.status().ToString());
  std::map<std::string, const LegacyLeaf*> by_name;
  for (const LegacyLeaf& l : *leaves) by_name[DottedName(l.keypath)] = &l;
  for (const auto& [name, want] : expected.items()) {
    INFO(name);
    REQUIRE(by_name.count(name));
    const LegacyLeaf& l = *by_name[name];
    REQUIRE(l.kind == LegacyLeaf::Kind::kInlineArray);
    CHECK(std::string(Name(l.dtype)) == want["dtype"].get<std::string>());
    Shape shape;
    for (const auto& d : want["shape"]) shape.push_back(d.get<int64_t>());
    CHECK(l.shape == shape);
    CHECK(Sha256Hex(l.data) == want["sha256"].get<std::string>());
  }
  REQUIRE(by_name.count("note"));
  CHECK(by_name["note"]->kind == LegacyLeaf::Kind::kNone);
  REQUIRE(by_name.count("empty"));
  CHECK(by_name["empty"]->kind == LegacyLeaf::Kind::kEmptyDict);
  REQUIRE(by_name.count("opt_state.1"));
  CHECK(by_name["opt_state.1"]->kind == LegacyLeaf::Kind::kEmptyDict);
}

TEST_CASE("flax chunked arrays: damaged pieces fail") {
  // {"a": {"__msgpack_chunked_array__": true, "shape": {"0": 3}, "chunks": {"0": ext1((2,), "int8", 2 bytes)}}}
  // holds 2 of the 3 elements its shape needs.
  std::string piece = "\x93\x91\x02\xa4int8\xc4\x02\x01\x02";
  std::string doc = "\x81\xa1" "a" "\x83\xb9__msgpack_chunked_array__\xc3\xa5shape\x81\xa1" "0" "\x03"
                    "\xa6" "chunks" "\x81\xa1" "0" "\xc7" + std::string(1, static_cast<char>(piece.size())) + "\x01" + piece;
  auto short_leaves = DecodeLegacyMsgpack(doc);
  REQUIRE_FALSE(short_leaves.ok());
  CHECK(short_leaves.status().message().find("a: chunks of a chunked array hold 2 bytes") != std::string::npos);
}

}  // namespace
}  // namespace ockpt::orbax
