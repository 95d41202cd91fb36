// Damaged databases: every one-byte flip and every truncation of a manifest,
// a B+tree node and a version-tree node gives a clean non-OK Status; bodies
// corrupted behind a valid CRC never crash the decoders or the traversal.
// (Run under ASan/UBSan to make "never crash" mean something.)

#include <catch2/catch.hpp>

#include "formats/ocdbt/format/btree_node.h"
#include "formats/ocdbt/format/manifest.h"
#include "formats/ocdbt/format/version_tree.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "tests/formats/ocdbt/test_db.h"
#include "tests/support/temp_dir.h"
#include "tests/support/testdata.h"

namespace ockpt::ocdbt {
namespace {

using ockpt::testing::Golden;
using ockpt::testing::TempDir;

// Everything a reader can do with a database; the first failure.
Status FullCheck(const std::string& dir) {
  OCKPT_ASSIGN_OR_RETURN(auto store, OcdbtKvStore::Open(dir));
  OCKPT_ASSIGN_OR_RETURN(auto entries, store->ListEntries(""));
  for (const auto& e : entries) {
    OCKPT_RETURN_IF_ERROR(store->ReadEntry(e).status());
    OCKPT_RETURN_IF_ERROR(store->Read(e.key).status());
  }
  OCKPT_RETURN_IF_ERROR(store->ListVersions().status());
  return Status::Ok();
}

void ExpectCleanFailure(const Status& s) {
  CHECK(!s.ok());
  CHECK((s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kUnimplemented ||
         s.code() == StatusCode::kNotFound));
  CHECK(!s.message().empty());
}

Bytes ReadAll(const std::string& path) { return ReadFile(path).value(); }

void Overwrite(const std::string& path, const Bytes& data) { REQUIRE(WriteFile(path, data).ok()); }

TEST_CASE("every byte flip and truncation of a manifest fails cleanly", "[ocdbt][corruption]") {
  for (std::string db : {"files_high_arity.ocdbt", "multi_version_low_arity.ocdbt"}) {
    INFO(db);
    TempDir tmp;
    const std::string dir = tmp / "db";
    testing::CopyTree(Golden("neuroglancer_ocdbt/" + db), dir);
    const std::string path = dir + "/manifest.ocdbt";
    const Bytes good = ReadAll(path);
    REQUIRE(FullCheck(dir).ok());
    for (size_t i = 0; i < good.size(); ++i) {
      for (uint8_t x : {0x01, 0x80, 0xff}) {
        INFO("byte " << i << " xor " << int(x));
        Bytes bad = good;
        bad[i] ^= static_cast<char>(x);
        Overwrite(path, bad);
        ExpectCleanFailure(FullCheck(dir));
      }
    }
    for (size_t n = 0; n < good.size(); ++n) {
      INFO("truncated to " << n);
      Overwrite(path, good.substr(0, n));
      auto s = OcdbtKvStore::Open(dir).status();
      ExpectCleanFailure(s);
      CHECK(s.code() == StatusCode::kDataLoss);
      CHECK_THAT(s.message(), Catch::Contains(path));
    }
    Overwrite(path, good);
    CHECK(FullCheck(dir).ok());
  }
}

// Finds the root node of the latest generation: (file, offset, length).
struct NodeSpot {
  std::string file;
  uint64_t offset, length;
};
NodeSpot RootOf(const std::string& dir) {
  Manifest m = DecodeManifest(ReadAll(dir + "/manifest.ocdbt")).value();
  const auto& ref = m.latest().root;
  return {dir + "/" + m.data_files[ref.file_id].FullPath(), ref.offset, ref.length};
}

void FlipEveryByte(const std::string& dir, const NodeSpot& spot) {
  const Bytes good = ReadAll(spot.file);
  for (uint64_t i = spot.offset; i < spot.offset + spot.length; ++i) {
    for (uint8_t x : {0x01, 0xff}) {
      INFO("byte " << i - spot.offset << " of the node, xor " << int(x));
      Bytes bad = good;
      bad[i] ^= static_cast<char>(x);
      Overwrite(spot.file, bad);
      auto s = FullCheck(dir);
      ExpectCleanFailure(s);
      if (s.code() == StatusCode::kDataLoss) {
        CHECK_THAT(s.message(), Catch::Contains(spot.file) &&
                                    Catch::Contains("offset " + std::to_string(spot.offset)));
      }
    }
  }
  Overwrite(spot.file, good);
}

TEST_CASE("every byte flip of a B+tree node fails cleanly", "[ocdbt][corruption]") {
  SECTION("root leaf (files_high_arity)") {
    TempDir tmp;
    const std::string dir = tmp / "db";
    testing::CopyTree(Golden("neuroglancer_ocdbt/files_high_arity.ocdbt"), dir);
    FlipEveryByte(dir, RootOf(dir));
    CHECK(FullCheck(dir).ok());
  }
  SECTION("interior root and a leaf below it (files_min_arity)") {
    TempDir tmp;
    const std::string dir = tmp / "db";
    testing::CopyTree(Golden("neuroglancer_ocdbt/files_min_arity.ocdbt"), dir);
    NodeSpot root = RootOf(dir);
    FlipEveryByte(dir, root);
    // The first child of the root, one level down.
    BtreeNode node = DecodeBtreeNode(ReadFileRange(root.file, root.offset, root.length).value(),
                                     1 << 20).value();
    REQUIRE(node.height > 0);
    const auto& child = node.interior_entries[0].child;
    FlipEveryByte(dir, {dir + "/" + node.data_files[child.file_id].FullPath(), child.offset,
                        child.length});
    CHECK(FullCheck(dir).ok());
  }
}

TEST_CASE("every byte flip of a version tree node fails cleanly", "[ocdbt][corruption]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  testing::CopyTree(Golden("neuroglancer_ocdbt/multi_version_low_arity.ocdbt"), dir);
  FlipEveryByte(dir, {dir + "/d/df024f987a8cf2dd0b219fe1011002bd", 373, 136});
  CHECK(FullCheck(dir).ok());
}

// Rewrites the manifest so that the latest root points at (file, offset, length).
void PointRootAt(const std::string& dir, Manifest m, const std::string& file, uint64_t offset,
                 uint64_t length) {
  m.data_files.push_back({"", file});
  std::sort(m.data_files.begin(), m.data_files.end());
  for (size_t i = 0; i < m.data_files.size(); ++i) {
    if (m.data_files[i].relative_path == file) m.versions.back().root.file_id = i;
  }
  // Other references keep their files: this helper is used on
  // single-version databases whose table has one entry besides `file`.
  REQUIRE(m.versions.size() == 1);
  REQUIRE(m.version_nodes.empty());
  m.versions.back().root.offset = offset;
  m.versions.back().root.length = length;
  Overwrite(dir + "/manifest.ocdbt", EncodeManifest(m).value());
}

TEST_CASE("every truncation of a B+tree node fails cleanly", "[ocdbt][corruption]") {
  TempDir tmp;
  const std::string dir = tmp / "db";
  testing::CopyTree(Golden("neuroglancer_ocdbt/files_min_arity.ocdbt"), dir);
  Manifest m = DecodeManifest(ReadAll(dir + "/manifest.ocdbt")).value();
  NodeSpot root = RootOf(dir);
  Bytes blob = ReadFileRange(root.file, root.offset, root.length).value();
  for (size_t n = 0; n < blob.size(); ++n) {
    INFO("node truncated to " << n);
    ExpectCleanFailure(DecodeBtreeNode(blob.substr(0, n), 1 << 20).status());
    Manifest shorter = m;
    shorter.versions.back().root.length = n;
    Overwrite(dir + "/manifest.ocdbt", EncodeManifest(shorter).value());
    ExpectCleanFailure(OcdbtKvStore::Open(dir).status());
  }
  // And the body, behind a valid envelope.
  Bytes body = DecodeEnvelope(blob, kBtreeNodeMagic, 1 << 20).value().body;
  for (size_t n = 0; n < body.size(); ++n) {
    INFO("body truncated to " << n);
    ExpectCleanFailure(DecodeBtreeNodeBody(body.substr(0, n)).status());
  }
  Overwrite(dir + "/manifest.ocdbt", EncodeManifest(m).value());
  CHECK(FullCheck(dir).ok());
}

TEST_CASE("bodies corrupted behind a valid CRC never crash", "[ocdbt][corruption]") {
  SECTION("manifest bodies") {
    for (std::string db : {"files_min_arity.ocdbt", "multi_version_low_arity.ocdbt",
                           "multi_version_high_arity.ocdbt"}) {
      TempDir tmp;
      const std::string dir = tmp / "db";
      testing::CopyTree(Golden("neuroglancer_ocdbt/" + db), dir);
      Bytes body =
          DecodeEnvelope(ReadAll(dir + "/manifest.ocdbt"), kManifestMagic, 1 << 20).value().body;
      for (size_t i = 0; i < body.size(); ++i) {
        for (uint8_t x : {0x01, 0x02, 0x40, 0x80, 0xff}) {
          Bytes bad = body;
          bad[i] ^= static_cast<char>(x);
          Overwrite(dir + "/manifest.ocdbt",
                    EncodeEnvelope(kManifestMagic, bad, EnvelopeCompression::kNone).value());
          FullCheck(dir).IgnoreError();  // may succeed; must not crash
        }
      }
      for (size_t n = 0; n < body.size(); ++n) {
        ExpectCleanFailure(DecodeManifestBody(body.substr(0, n)).status());
      }
    }
  }
  SECTION("B+tree node bodies, through the store") {
    for (std::string db : {"files_min_arity.ocdbt", "files_high_arity.ocdbt"}) {
      TempDir tmp;
      const std::string dir = tmp / "db";
      testing::CopyTree(Golden("neuroglancer_ocdbt/" + db), dir);
      Manifest m = DecodeManifest(ReadAll(dir + "/manifest.ocdbt")).value();
      NodeSpot root = RootOf(dir);
      Bytes body = DecodeEnvelope(ReadFileRange(root.file, root.offset, root.length).value(),
                                  kBtreeNodeMagic, 1 << 20)
                       .value()
                       .body;
      for (size_t i = 0; i < body.size(); ++i) {
        for (uint8_t x : {0x01, 0x02, 0x40, 0x80, 0xff}) {
          INFO("body byte " << i << " xor " << int(x));
          Bytes bad = body;
          bad[i] ^= static_cast<char>(x);
          Bytes blob = EncodeEnvelope(kBtreeNodeMagic, bad, EnvelopeCompression::kNone).value();
          Overwrite(dir + "/d/fuzz", blob);
          PointRootAt(dir, m, "d/fuzz", 0, blob.size());
          FullCheck(dir).IgnoreError();
          DecodeBtreeNodeBody(bad).status().IgnoreError();
        }
      }
    }
  }
  SECTION("version tree node bodies") {
    Bytes blob = ReadFileRange(Golden("neuroglancer_ocdbt/multi_version_low_arity.ocdbt/d/"
                                      "df024f987a8cf2dd0b219fe1011002bd"),
                               373, 136)
                     .value();
    Bytes body = DecodeEnvelope(blob, kVersionTreeNodeMagic, 1 << 20).value().body;
    for (size_t i = 0; i < body.size(); ++i) {
      for (uint8_t x : {0x01, 0x80, 0xff}) {
        Bytes bad = body;
        bad[i] ^= static_cast<char>(x);
        DecodeVersionTreeNodeBody(bad, 1).status().IgnoreError();
      }
    }
    for (size_t n = 0; n < body.size(); ++n) {
      ExpectCleanFailure(DecodeVersionTreeNodeBody(body.substr(0, n), 1).status());
    }
  }
}

}  // namespace
}  // namespace ockpt::ocdbt
