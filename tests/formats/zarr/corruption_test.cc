// Damaged chunks and metadata fail cleanly: every one-byte flip and every
// truncation of a stored chunk is either detected (kDataLoss naming the
// chunk) or, where the codec has no checksum, decodes to a chunk of the
// right size; nothing crashes or over-allocates.

#include <catch2/catch.hpp>

#include "formats/zarr/metadata_v2.h"
#include "formats/zarr/metadata_v3.h"
#include "formats/zarr/zarr_array.h"
#include "tests/formats/zarr/zarr_test_util.h"
#include "tests/support/testdata.h"

namespace ockpt::zarr {
namespace {

using testing::MemoryKvStore;
using testing::ReadAll;

// Copies every key under prefix from a directory into memory.
MemoryKvStore Load(const std::string& root, const std::string& prefix) {
  FileKvStore files(root);
  MemoryKvStore mem;
  auto keys = files.List(prefix);
  REQUIRE(keys.ok());
  for (const KeyInfo& k : *keys) mem.values[k.key] = *files.Read(k.key);
  return mem;
}

struct Case {
  std::string root;
  std::string prefix;
  std::string chunk_key;
};

TEST_CASE("one-byte corruption and truncation of stored chunks") {
  const Case cases[] = {
      {ockpt::testing::TestData("zarr"), "f_order_zlib/", "f_order_zlib/1.1"},
      {ockpt::testing::TestData("zarr"), "slash_be_gzip_fill/", "slash_be_gzip_fill/0/0"},
      {ockpt::testing::TestData("zarr"), "bool_blosc/", "bool_blosc/1.2"},
      {ockpt::testing::TestData("zarr"), "complex_c16_f/", "complex_c16_f/0.1"},
      {ockpt::testing::TestData("zarr"), "uint8_blosc_edge/", "uint8_blosc_edge/2"},
      {ockpt::testing::Golden("neuroglancer_ome_zarr/simple_0.4"), "scale1/image/",
       "scale1/image/0/0"},
      {ockpt::testing::Golden("orbax_legacy_aggregate/aggregate_some.checkpoint"), "b/", "b/0"},
  };
  for (const Case& c : cases) {
    INFO(c.chunk_key);
    MemoryKvStore store = Load(c.root, c.prefix);
    auto a = ZarrArray::Open(&store, c.prefix);
    REQUIRE(a.ok());
    REQUIRE(ReadAll(*a).ok());
    const Bytes original = store.values.at(c.chunk_key);
    REQUIRE(!original.empty());
    int detected = 0;
    for (size_t i = 0; i < original.size(); ++i) {
      for (unsigned char mask : {0x01, 0x80, 0xff}) {
        Bytes bad = original;
        bad[i] = static_cast<char>(bad[i] ^ mask);
        store.values[c.chunk_key] = bad;
        auto r = ReadAll(*a);
        if (r.ok()) continue;  // e.g. zstd literals, deflate padding bits, gzip mtime
        INFO("byte " << i << ": " << r.status().ToString());
        CHECK(r.status().code() == StatusCode::kDataLoss);
        CHECK_THAT(r.status().message(), Catch::Contains(c.chunk_key));
        ++detected;
      }
    }
    CHECK(detected > 0);
    for (size_t n = 0; n < original.size(); ++n) {
      store.values[c.chunk_key] = original.substr(0, n);
      auto r = ReadAll(*a);
      INFO("truncated to " << n);
      CHECK(r.status().code() == StatusCode::kDataLoss);
    }
    // Trailing garbage is refused too.
    store.values[c.chunk_key] = original + "x";
    CHECK(ReadAll(*a).status().code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("an uncompressed chunk of the wrong size is kDataLoss") {
  MemoryKvStore store = Load(ockpt::testing::TestData("zarr"), "complex_c8_be/");
  auto a = ZarrArray::Open(&store, "complex_c8_be/");
  REQUIRE(a.ok());
  store.values["complex_c8_be/0"] += "y";
  auto r = ReadAll(*a);
  CHECK(r.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(r.status().message(), Catch::Contains("complex_c8_be/0"));
}

TEST_CASE("metadata garbage is kDataLoss") {
  MemoryKvStore store;
  const char* garbage[] = {"",
                           "{",
                           "}",
                           "[]",
                           "null",
                           "\"x\"",
                           "{\"shape\":[1]}",
                           "\x89PNG\r\n\x1a\n",
                           "{\"zarr_format\":2}"};
  for (const char* g : garbage) {
    INFO(g);
    store.values["v2/.zarray"] = g;
    CHECK(ZarrArray::Open(&store, "v2/").status().code() == StatusCode::kDataLoss);
    store.values["v3/zarr.json"] =
        std::string(g) == "{\"zarr_format\":2}" ? "{\"zarr_format\":3}" : g;
    CHECK(ZarrArray::Open(&store, "v3/").status().code() == StatusCode::kDataLoss);
  }
  CHECK(ZarrArray::OpenWithMetadata(&store, "", "{}", 4).status().code() ==
        StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace ockpt::zarr

// Issue 14: 70,000 nested '[' in .zarray / zarr.json (as found inside an
// OCDBT database by a fuzz campaign) are kDataLoss, not a stack overflow.
namespace ockpt::zarr {
namespace {

TEST_CASE("deeply nested zarr metadata is refused without recursion") {
  std::string deep = std::string(70000, '[') + std::string(70000, ']');
  auto v2 = ParseZarrV2Metadata("{\"zarr_format\": 2, \"x\": " + deep + "}");
  REQUIRE(!v2.ok());
  CHECK(v2.status().code() == StatusCode::kDataLoss);
  CHECK(v2.status().message().find(".zarray") != std::string::npos);
  auto v3 = ParseZarrV3Metadata("{\"zarr_format\": 3, \"x\": " + deep + "}");
  REQUIRE(!v3.ok());
  CHECK(v3.status().code() == StatusCode::kDataLoss);
  CHECK(v3.status().message().find("zarr.json") != std::string::npos);
}

}  // namespace
}  // namespace ockpt::zarr
