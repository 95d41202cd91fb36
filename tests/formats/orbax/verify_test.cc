// Verify: every value byte of every OCDBT database is read (once, in
// extents), and damage is reported per key, per leaf, without stopping.

#include "formats/orbax/verify.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "formats/npy/npy.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/orbax/save.h"
#include "lib/base/file.h"
#include "tests/support/pattern.h"
#include "tests/support/temp_dir.h"

namespace ockpt::orbax {
namespace {

using testing::Pattern;

void WriteNpy(const std::string& path, const std::string& descr, const Shape& shape,
              const Bytes& data) {
  REQUIRE(MakeDirectories(Dirname(path)).ok());
  REQUIRE(WriteFile(path, npy::EncodeNpyHeader({descr, false, shape}) + data).ok());
}

// A checkpoint of two leaves in 4 KiB chunks: w (8 x 8 chunks of 32 x 32)
// and b.
std::string MakeCheckpoint(const testing::TempDir& tmp) {
  WriteNpy(tmp / "src/w.npy", "<f4", {256, 256}, Pattern(256 * 256 * 4, 1));
  WriteNpy(tmp / "src/b.npy", "<i8", {100}, Pattern(800, 2));
  SaveOptions so;
  so.src = tmp / "src";
  so.dest = tmp / "ckpt";
  so.layout.chunk_bytes = 4096;
  REQUIRE(Save(so, {}).ok());
  return so.dest;
}

bool AnyContains(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

TEST_CASE("verify: an intact checkpoint has no problems") {
  testing::TempDir tmp;
  VerifyOptions vo;
  vo.path = MakeCheckpoint(tmp);
  auto r = Verify(vo, {});
  REQUIRE(r.ok());
  INFO(fmt::format("{}", fmt::join(r->problems, "\n")));
  CHECK(r->ok());
  CHECK(r->leaves_checked == 2);
}

TEST_CASE("verify: ockpt's checksummed chunks are counted; TensorStore's frames and raw chunks are not") {
  for (bool zarr3 : {false, true}) {
    for (int mode : {0, 1, 2}) {  // 0: default, 1: --no-zstd-checksum, 2: --compression none
      INFO("zarr3 " << zarr3 << " mode " << mode);
      testing::TempDir tmp;
      WriteNpy(tmp / "src/w.npy", "<f4", {64, 64}, Pattern(64 * 64 * 4, 1));
      SaveOptions so;
      so.src = tmp / "src";
      so.dest = tmp / "ckpt";
      so.layout.chunk_bytes = 4096;
      so.layout.zarr3 = zarr3;
      so.layout.zstd_checksum = mode != 1;
      so.layout.compress = mode != 2;
      REQUIRE(Save(so, {}).ok());
      VerifyOptions vo;
      vo.path = so.dest;
      auto r = Verify(vo, {});
      REQUIRE(r.ok());
      CHECK(r->ok());
      if (mode == 0) {
        CHECK(r->checksummed_chunks == 4);
        CHECK(r->no_checksum_chunks == 0);
        CHECK(r->no_checksum_leaves.empty());
      } else {
        CHECK(r->checksummed_chunks == 0);
        CHECK(r->no_checksum_chunks == 4);
        CHECK(r->no_checksum_leaves == std::vector<std::string>{"w"});
      }
    }
  }
}

TEST_CASE("verify: a data file cut short is reported for each value it cut, by key") {
  testing::TempDir tmp;
  const std::string ckpt = MakeCheckpoint(tmp);
  auto process = ocdbt::OcdbtKvStore::Open(ckpt + "/ocdbt.process_0").value();
  auto entries = process->ListEntries("").value();
  auto at = [&](const std::string& key) {
    for (const auto& e : entries) {
      if (e.key == key) return e;
    }
    FAIL("no key " << key);
    return ocdbt::EntryInfo{};
  };
  const ocdbt::EntryInfo cut = at("w/5.0");
  REQUIRE_FALSE(cut.is_inline);
  REQUIRE(at("w/0.3").offset < cut.offset);
  std::filesystem::resize_file(ckpt + "/ocdbt.process_0/" + cut.file, cut.offset + 10);
  VerifyOptions vo;
  vo.path = ckpt;
  auto r = Verify(vo, {});
  REQUIRE(r.ok());
  INFO(fmt::format("{}", fmt::join(r->problems, "\n")));
  CHECK_FALSE(r->ok());
  // Through the root database (the process database's own nodes were in
  // the cut part: it is reported as unreadable).
  CHECK(AnyContains(r->problems, fmt::format("OCDBT database {} generation 1: key w/5.0: ", ckpt)));
  CHECK(AnyContains(r->problems, "key w/7.7: "));
  CHECK_FALSE(AnyContains(r->problems, "key w/0.3: "));
  CHECK(AnyContains(r->problems, "leaf 'w'"));
}

TEST_CASE("verify: a missing data file is reported for its values, by key") {
  testing::TempDir tmp;
  const std::string ckpt = MakeCheckpoint(tmp);
  auto process = ocdbt::OcdbtKvStore::Open(ckpt + "/ocdbt.process_0").value();
  auto entry = process->ListEntries("w/0.0").value();
  REQUIRE(entry.size() == 1);
  REQUIRE_FALSE(entry[0].is_inline);
  REQUIRE(std::filesystem::remove(ckpt + "/ocdbt.process_0/" + entry[0].file));
  VerifyOptions vo;
  vo.path = ckpt;
  auto r = Verify(vo, {});
  REQUIRE(r.ok());
  INFO(fmt::format("{}", fmt::join(r->problems, "\n")));
  CHECK(AnyContains(r->problems, "key w/0.0: "));
  CHECK(AnyContains(r->problems, "is missing"));
}

}  // namespace
}  // namespace ockpt::orbax
