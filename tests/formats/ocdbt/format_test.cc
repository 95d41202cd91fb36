// OCDBT byte formats against the test vectors of the format reference
// (§13.2-13.5) and the golden files they come from; round trips.

#include <catch2/catch.hpp>

#include "formats/ocdbt/format/btree_node.h"
#include "formats/ocdbt/format/data_file_table.h"
#include "formats/ocdbt/format/envelope.h"
#include "formats/ocdbt/format/manifest.h"
#include "formats/ocdbt/format/version_tree.h"
#include "lib/base/crc32c.h"
#include "lib/base/file.h"
#include "tests/formats/ocdbt/test_db.h"
#include "tests/support/testdata.h"

namespace ockpt::ocdbt {
namespace {

using testing::FromHex;

// §13.2: files_high_arity.ocdbt/manifest.ocdbt (110 bytes, zstd).
constexpr std::string_view kHighArityManifest =
    "0cdb3a2a6e00000000000000000128b52ffd2053990200c297fed98f4286d54957e7d4738210c1006480808004040100000000"
    "012200642f39623037613961303061316135363262316338303166316431363461393063360101000000590859007cf3edd3e1"
    "951f18008224ca0b";
constexpr std::string_view kHighArityManifestBody =
    "c297fed98f4286d54957e7d4738210c1 00 64 80808004 04 01 00000000"
    "01 22 00 642f3962303761396130306131613536326231633830316631643136346139306336"
    "01 01 00 00 00 59 08 59 00 7cf3edd3e1951f18"
    "00";

// §13.3: its leaf node d/9b07a9a00a1a562b1c801f1d164a90c6 (89 bytes at offset 0).
constexpr std::string_view kHighArityLeaf =
    "0cdb20de5900000000000000000128b52ffd203ef10100000008000001040400000101010801010105236162617a2f666972"
    "7374787a63656d707479000303000000030000000000000000006162636162636261720ecff67e";
constexpr std::string_view kHighArityLeafBody =
    "00 00 08 00 00 01 04 04 00 00 01 01 01 08 01 01 01 05"
    "23 61 62 617a2f6669727374 78 7a 63 656d707479"
    "00 03 03 00 00 00 03 00 00 00 00 00 00 00 00 00 616263 616263 626172";

// §13.4: version-tree leaf node body of multi_version_low_arity.
constexpr std::string_view kLowArityVersionLeafBody =
    "01 00 | 02 02 22 20 00 00"
    "642f3633656462333766633535386463313164373931323864386662653263313766"  // d/63edb37f...
    "6537663665626330353962363737623837356364323566653761386332613132"      // e7f6ebc0...
    "02 | c501 c601 | 00 00 | 00 01 | 00 00 | f402 f202 | c501 c601 | f402 f202 | 00 00 |"
    "241a7689e2951f18 f1d1e889e2951f18";

// §13.5: an Orbax merged root manifest (v1, zarr3).
constexpr std::string_view kOrbaxRootManifest =
    "0cdb3a2a7100000000000000000128b52ffd2056b102001aa327ec776ab0ff09972d420a79fe7200800880c2d72f04010000"
    "0000012200642f31656532393664343662653832326566363636656433363232363963333536350101000000f90204f902001b"
    "736cc3f646af180091f802d7";

Bytes UncompressedEnvelope(std::string_view magic_and_len_hex, const Bytes& body,
                           std::string_view crc_hex) {
  return FromHex(magic_and_len_hex) + body + FromHex(crc_hex);
}

TEST_CASE("CRC-32C check value used by envelopes", "[ocdbt][format]") {
  // Sanity: the test vectors' CRCs.
  Bytes blob = FromHex(kHighArityManifest);
  REQUIRE(blob.size() == 110);
  CHECK(LoadU32LE(blob.data() + 106) == 0x0bca2482u);
}

TEST_CASE("manifest test vector (§13.2), compressed and uncompressed", "[ocdbt][format]") {
  Bytes blob = FromHex(kHighArityManifest);
  Bytes body = FromHex(kHighArityManifestBody);
  REQUIRE(body.size() == 83);

  auto env = DecodeEnvelope(blob, kManifestMagic, 1 << 20);
  REQUIRE(env.ok());
  CHECK(env->compression == EnvelopeCompression::kZstd);
  CHECK(env->body == body);

  auto m = DecodeManifest(blob);
  REQUIRE(m.ok());
  CHECK(HexString(ByteView(reinterpret_cast<const char*>(m->config.uuid.data()), 16)) ==
        "c297fed98f4286d54957e7d4738210c1");
  CHECK(m->config.manifest_kind == ManifestKind::kSingle);
  CHECK(m->config.max_inline_value_bytes == 100);
  CHECK(m->config.max_decoded_node_bytes == 8388608);
  CHECK(m->config.version_tree_arity_log2 == 4);
  CHECK(m->config.compression == CompressionMethod::kZstd);
  CHECK(m->config.zstd_level == 0);
  REQUIRE(m->data_files.size() == 1);
  CHECK(m->data_files[0] == DataFileId{"", "d/9b07a9a00a1a562b1c801f1d164a90c6"});
  REQUIRE(m->versions.size() == 1);
  const auto& v = m->versions[0];
  CHECK(v.generation == 1);
  CHECK(v.root_height == 0);
  CHECK(v.root == IndirectDataReference{0, 0, 89});
  CHECK(v.statistics == BtreeStatistics{8, 89, 0});
  CHECK(v.commit_time_ns == 1738272778344067964u);
  CHECK(m->version_nodes.empty());

  // The same body in an uncompressed envelope.
  Bytes raw = UncompressedEnvelope("0cdb3a2a650000000000000000 00", body, "752c937b");
  REQUIRE(raw.size() == 0x65);
  auto m2 = DecodeManifest(raw);
  REQUIRE(m2.ok());
  CHECK(*m2 == *m);

  // Encoders reproduce the bytes.
  CHECK(EncodeManifestBody(*m) == body);
  CHECK(EncodeEnvelope(kManifestMagic, body, EnvelopeCompression::kNone).value() == raw);
  auto reencoded = EncodeManifest(*m);
  REQUIRE(reencoded.ok());
  CHECK(DecodeManifest(*reencoded).value() == *m);
  // Same libzstd one-shot call as TensorStore: byte-identical (libzstd 1.5.x).
  CHECK(*reencoded == blob);

  // And the vector is the golden file.
  auto file = ReadFile(ockpt::testing::Golden("neuroglancer_ocdbt/files_high_arity.ocdbt/manifest.ocdbt"));
  REQUIRE(file.ok());
  CHECK(*file == blob);
}

TEST_CASE("leaf node test vector (§13.3), compressed and uncompressed", "[ocdbt][format]") {
  Bytes blob = FromHex(kHighArityLeaf);
  Bytes body = FromHex(kHighArityLeafBody);
  REQUIRE(blob.size() == 89);
  auto node = DecodeBtreeNode(blob, 1 << 20);
  REQUIRE(node.ok());
  CHECK(node->height == 0);
  CHECK(node->data_files.empty());
  REQUIRE(node->leaf_entries.size() == 8);
  std::vector<std::string> keys, values;
  for (const auto& e : node->leaf_entries) {
    keys.push_back(e.key);
    values.push_back(e.inline_value);
    CHECK(e.kind == ValueKind::kInline);
    CHECK(e.value_length == e.inline_value.size());
  }
  CHECK(keys == std::vector<std::string>{"#", "a", "b", "baz/first", "baz/x", "baz/z", "c", "empty"});
  CHECK(values == std::vector<std::string>{"", "abc", "abc", "", "", "", "bar", ""});

  Bytes raw = UncompressedEnvelope("0cdb20de500000000000000000 00", body, "23d259f0");
  auto node2 = DecodeBtreeNode(raw, 1 << 20);
  REQUIRE(node2.ok());
  CHECK(*node2 == *node);
  CHECK(EncodeBtreeNodeBody(*node) == body);
  CHECK(EncodeBtreeNode(*node, EnvelopeCompression::kNone).value() == raw);
  CHECK(EncodeBtreeNode(*node, EnvelopeCompression::kZstd).value() == blob);

  auto file = ReadFileRange(ockpt::testing::Golden(
      "neuroglancer_ocdbt/files_high_arity.ocdbt/d/9b07a9a00a1a562b1c801f1d164a90c6"), 0, 89);
  REQUIRE(file.ok());
  CHECK(*file == blob);
}

TEST_CASE("version tree leaf node test vector (§13.4)", "[ocdbt][format]") {
  Bytes body = FromHex(kLowArityVersionLeafBody);
  auto node = DecodeVersionTreeNodeBody(body, 1);
  REQUIRE(node.ok());
  CHECK(node->version_tree_arity_log2 == 1);
  CHECK(node->height == 0);
  REQUIRE(node->data_files.size() == 2);
  CHECK(node->data_files[0] == DataFileId{"", "d/63edb37fc558dc11d79128d8fbe2c17f"});
  CHECK(node->data_files[1] == DataFileId{"", "d/e7f6ebc059b677b875cd25fe7a8c2a12"});
  REQUIRE(node->leaf_entries.size() == 2);
  const auto& a = node->leaf_entries[0];
  const auto& b = node->leaf_entries[1];
  CHECK(a.generation == 197);
  CHECK(b.generation == 198);
  CHECK(a.root == IndirectDataReference{0, 0, 372});
  CHECK(b.root == IndirectDataReference{1, 0, 370});
  CHECK(a.statistics == BtreeStatistics{197, 372, 0});
  CHECK(b.statistics == BtreeStatistics{198, 370, 0});
  CHECK(a.commit_time_ns == LoadU64LE(FromHex("241a7689e2951f18").data()));
  CHECK(EncodeVersionTreeNodeBody(*node) == body);

  // Wrong arity (the manifest's) is rejected.
  CHECK(DecodeVersionTreeNodeBody(body, 4).status().code() == StatusCode::kDataLoss);

  // The node as stored, in its envelope.
  auto blob = ReadFileRange(ockpt::testing::Golden(
      "neuroglancer_ocdbt/multi_version_low_arity.ocdbt/d/df024f987a8cf2dd0b219fe1011002bd"), 373,
      136);
  REQUIRE(blob.ok());
  auto stored = DecodeVersionTreeNode(*blob, 1);
  REQUIRE(stored.ok());
  CHECK(*stored == *node);
  CHECK(EncodeVersionTreeNode(*node, EnvelopeCompression::kZstd).value() == *blob);
  Bytes raw = EncodeVersionTreeNode(*node, EnvelopeCompression::kNone).value();
  CHECK(DecodeVersionTreeNode(raw, 1).value() == *node);

  // Its height-1 parent at offset 592 points back at it.
  auto parent_blob = ReadFileRange(ockpt::testing::Golden(
      "neuroglancer_ocdbt/multi_version_low_arity.ocdbt/d/df024f987a8cf2dd0b219fe1011002bd"), 592,
      FileSize(ockpt::testing::Golden(
          "neuroglancer_ocdbt/multi_version_low_arity.ocdbt/d/df024f987a8cf2dd0b219fe1011002bd"))
              .value() - 592);
  REQUIRE(parent_blob.ok());
  // The parent's length is in its header.
  uint64_t parent_len = LoadU64LE(parent_blob->data() + 4);
  auto parent = DecodeVersionTreeNode(parent_blob->substr(0, parent_len), 1);
  REQUIRE(parent.ok());
  CHECK(parent->height == 1);
  bool found = false;
  for (const auto& r : parent->interior_entries) {
    if (r.location.offset == 373 && r.location.length == 136) {
      found = true;
      CHECK(r.generation == 198);
      CHECK(r.num_generations == 2);
      CHECK(r.height == 0);
      CHECK(parent->data_files[r.location.file_id].relative_path ==
            "d/df024f987a8cf2dd0b219fe1011002bd");
    }
  }
  CHECK(found);
}

TEST_CASE("Orbax root manifest test vector (§13.5)", "[ocdbt][format]") {
  Bytes blob = FromHex(kOrbaxRootManifest);
  REQUIRE(blob.size() == 113);
  auto m = DecodeManifest(blob);
  REQUIRE(m.ok());
  CHECK(m->config.max_inline_value_bytes == 1024);
  CHECK(m->config.max_decoded_node_bytes == 100000000);
  CHECK(m->config.version_tree_arity_log2 == 4);
  REQUIRE(m->data_files.size() == 1);
  CHECK(m->data_files[0].relative_path == "d/1ee296d46be822ef666ed362269c3565");
  CHECK(m->latest().generation == 1);
  CHECK(EncodeManifest(*m).value() == blob);
  // Uncompressed variant.
  Bytes raw = EncodeEnvelope(kManifestMagic, EncodeManifestBody(*m), EnvelopeCompression::kNone)
                  .value();
  CHECK(DecodeManifest(raw).value() == *m);
  auto file = ReadFile(ockpt::testing::Golden(
      "orbax_compat/v1_checkpoints/composite_checkpoint/checkpoint_metadata_missing/"
      "pytree_checkpointable_has_metadata/state/manifest.ocdbt"));
  REQUIRE(file.ok());
  CHECK(*file == blob);
}

TEST_CASE("envelope rejects what is not a valid blob", "[ocdbt][format]") {
  Bytes body = FromHex(kHighArityManifestBody);
  Bytes raw = EncodeEnvelope(kManifestMagic, body, EnvelopeCompression::kNone).value();

  SECTION("wrong magic") {
    auto s = DecodeEnvelope(raw, kBtreeNodeMagic, 1 << 20).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("expected 0x0cdb20de") && Catch::Contains("found 0x0cdb3a2a"));
  }
  SECTION("length mismatch") {
    Bytes longer = raw + "x";
    auto s = DecodeEnvelope(longer, kManifestMagic, 1 << 20).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("length"));
  }
  SECTION("bad CRC") {
    raw[20] ^= 1;
    auto s = DecodeEnvelope(raw, kManifestMagic, 1 << 20).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("CRC-32C"));
  }
  SECTION("unknown version") {
    Bytes b;
    PutU32BE(&b, kManifestMagic);
    PutU64LE(&b, 0);
    PutVarint(&b, 1);  // version 1
    PutVarint(&b, 0);
    b += body;
    StoreU64LE(b.data() + 4, b.size() + 4);
    PutU32LE(&b, Crc32c(b));
    auto s = DecodeEnvelope(b, kManifestMagic, 1 << 20).status();
    CHECK(s.code() == StatusCode::kUnimplemented);
  }
  SECTION("unknown compression") {
    Bytes b;
    PutU32BE(&b, kManifestMagic);
    PutU64LE(&b, 0);
    PutVarint(&b, 0);
    PutVarint(&b, 7);
    b += body;
    StoreU64LE(b.data() + 4, b.size() + 4);
    PutU32LE(&b, Crc32c(b));
    auto s = DecodeEnvelope(b, kManifestMagic, 1 << 20).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("compression format 7"));
  }
  SECTION("body over the cap") {
    auto s = DecodeEnvelope(raw, kManifestMagic, 10).status();
    CHECK(s.code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("data file table round trip with base paths", "[ocdbt][format]") {
  DataFileTable table = {
      {"", "d/0123"},
      {"", "d/0124"},
      {"ocdbt.process_0/", "d/aaaa"},
      {"ocdbt.process_0/", "d/aaab"},
      {"ocdbt.process_1/", "d/aaaa"},
  };
  Bytes enc;
  EncodeDataFileTable(table, &enc);
  ByteReader r(enc);
  auto dec = DecodeDataFileTable(r);
  REQUIRE(dec.ok());
  CHECK(*dec == table);
  CHECK(r.empty());
  // Prefixes never cross a base path boundary when the base paths differ:
  // entry 2 shares nothing with "d/0124" beyond "" (base lengths 0 vs 16).
  // Orbax merge example: one file, base "ocdbt.process_0/" (16 bytes).
  Bytes one;
  EncodeDataFileTable({{"ocdbt.process_0/", "d/0123456789abcdef0123456789abcdef"}}, &one);
  CHECK(HexString(one.substr(0, 3)) == "013210");  // n=1, suffix 50, base 16

  SECTION("prefix longer than the previous path") {
    Bytes bad = FromHex("02 05 01 01 00 00") + "ab";
    ByteReader br(bad);
    CHECK(DecodeDataFileTable(br).status().code() == StatusCode::kDataLoss);
  }
  SECTION("count larger than the bytes left") {
    Bytes bad = FromHex("ffffffff0f 00");
    ByteReader br(bad);
    auto s = DecodeDataFileTable(br).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("claims"));
  }
  SECTION("base path longer than the path") {
    Bytes bad = FromHex("01 02 05") + "ab";
    ByteReader br(bad);
    CHECK(DecodeDataFileTable(br).status().code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("B+tree interior node round trip", "[ocdbt][format]") {
  BtreeNode node;
  node.height = 2;
  node.data_files = {{"", "d/x"}, {"p/", "d/y"}};
  InteriorNodeEntry a;
  a.key = "abc";
  a.subtree_common_prefix_length = 2;
  a.child = {0, 10, 20};
  a.statistics = {5, 100, 7};
  InteriorNodeEntry b;
  b.key = "abd/long";
  b.subtree_common_prefix_length = 8;
  b.child = {1, 0, 33};
  b.statistics = {1, 33, 0};
  node.interior_entries = {a, b};
  Bytes blob = EncodeBtreeNode(node, EnvelopeCompression::kZstd).value();
  auto dec = DecodeBtreeNode(blob, 1 << 20);
  REQUIRE(dec.ok());
  CHECK(*dec == node);

  SECTION("keys out of order") {
    std::swap(node.interior_entries[0], node.interior_entries[1]);
    auto s = DecodeBtreeNodeBody(EncodeBtreeNodeBody(node)).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("strictly increasing"));
  }
  SECTION("file id out of range") {
    node.interior_entries[1].child.file_id = 2;
    auto s = DecodeBtreeNodeBody(EncodeBtreeNodeBody(node)).status();
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK_THAT(s.message(), Catch::Contains("out of range"));
  }
  SECTION("subtree prefix longer than the key") {
    node.interior_entries[0].subtree_common_prefix_length = 4;
    CHECK(DecodeBtreeNodeBody(EncodeBtreeNodeBody(node)).status().code() ==
          StatusCode::kDataLoss);
  }
}

TEST_CASE("B+tree leaf with out-of-line values round trip", "[ocdbt][format]") {
  BtreeNode node;
  node.data_files = {{"ocdbt.process_0/", "d/values"}};
  LeafNodeEntry a;
  a.key = "";
  a.value_length = 2;
  a.inline_value = "hi";
  LeafNodeEntry b;
  b.key = "\xff\x01";
  b.kind = ValueKind::kOutOfLine;
  b.value_length = 1000;
  b.location = {0, 4096, 1000};
  node.leaf_entries = {a, b};
  Bytes body = EncodeBtreeNodeBody(node);
  auto dec = DecodeBtreeNodeBody(body);
  REQUIRE(dec.ok());
  CHECK(*dec == node);
  // Trailing bytes are an error.
  CHECK(DecodeBtreeNodeBody(body + "x").status().code() == StatusCode::kDataLoss);
  // Zero entries are an error.
  CHECK(DecodeBtreeNodeBody(FromHex("00 00 00")).status().code() == StatusCode::kDataLoss);
}

TEST_CASE("manifest with version nodes and a missing root round trip", "[ocdbt][format]") {
  Manifest m;
  m.config = testing::TestConfig();
  m.config.version_tree_arity_log2 = 1;
  m.config.compression = CompressionMethod::kNone;
  m.data_files = {{"", ""}, {"", "d/a"}};
  BtreeGenerationReference v;
  v.generation = 5;
  v.root = {0, IndirectDataReference::kMissing, IndirectDataReference::kMissing};
  m.versions = {v};
  VersionNodeReference n2;
  n2.generation = 4;
  n2.location = {1, 0, 50};
  n2.num_generations = 4;
  n2.commit_time_ns = 9;
  n2.height = 1;
  m.version_nodes = {n2};
  Bytes blob = EncodeManifest(m).value();
  auto dec = DecodeManifest(blob);
  REQUIRE(dec.ok());
  CHECK(*dec == m);
  CHECK(dec->latest().root.IsMissing());

  SECTION("inline versions beyond one leaf range") {
    BtreeGenerationReference w = v;
    w.generation = 7;  // arity 2: 5 and 7 are in different leaves
    m.versions = {v, w};
    auto s = DecodeManifestBody(EncodeManifestBody(m)).status();
    CHECK(s.code() == StatusCode::kDataLoss);
  }
  SECTION("version node heights must decrease") {
    VersionNodeReference n1 = n2;
    n1.generation = 2;
    m.version_nodes = {n1, n2};
    CHECK(DecodeManifestBody(EncodeManifestBody(m)).status().code() == StatusCode::kDataLoss);
  }
  SECTION("numbered kind: config only") {
    m.config.manifest_kind = ManifestKind::kNumbered;
    Bytes body = EncodeManifestBody(m);
    auto cfg_only = DecodeManifestBody(body);
    REQUIRE(cfg_only.ok());
    CHECK(cfg_only->versions.empty());
    // Numbered manifest files are written as single.
    auto full = DecodeManifestBody(EncodeManifestBody(m, /*as_single=*/true));
    REQUIRE(full.ok());
    CHECK(full->versions.size() == 1);
  }
}

TEST_CASE("numbered manifest names", "[ocdbt][format]") {
  CHECK(NumberedManifestName(0xc8) == "manifest.00000000000000c8");
  CHECK(ParseNumberedManifestName("manifest.00000000000000c8") == std::optional<uint64_t>(200));
  CHECK(!ParseNumberedManifestName("manifest.0000000000000000"));
  CHECK(!ParseNumberedManifestName("manifest.00000000000000C8"));
  CHECK(!ParseNumberedManifestName("manifest.ocdbt"));
  CHECK(!ParseNumberedManifestName("manifest.000000000000000c8"));
}

}  // namespace
}  // namespace ockpt::ocdbt
