#include "formats/npz/npz.h"

#include <zip.h>

#include <catch2/catch.hpp>

#include "formats/npy/npy.h"
#include "formats/npz/zip_writer.h"
#include "lib/base/file.h"
#include "tests/formats/format_test_util.h"
#include "tests/support/temp_dir.h"

namespace ockpt::npz {
namespace {

using testing::TempDir;

// Reads a whole member with libzip (which checks its CRC-32).
Bytes LibzipRead(const std::string& path, const std::string& name) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  REQUIRE(za != nullptr);
  zip_stat_t st;
  REQUIRE(zip_stat(za, name.c_str(), 0, &st) == 0);
  zip_file_t* f = zip_fopen(za, name.c_str(), 0);
  REQUIRE(f != nullptr);
  Bytes out(st.size, '\0');
  zip_int64_t got = out.empty() ? 0 : zip_fread(f, out.data(), out.size());
  char extra;
  zip_int64_t eof = zip_fread(f, &extra, 1);  // EOF, CRC checked
  INFO(name << ": " << zip_file_strerror(f));
  CHECK(eof == 0);
  zip_fclose(f);
  zip_discard(za);
  CHECK(got == static_cast<zip_int64_t>(out.size()));
  return out;
}

TEST_CASE("ZipWriter: members written out of order read back with correct CRCs") {
  TempDir dir;
  std::string path = dir / "z.zip";
  Bytes big(100000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 13);
  {
    auto zip = ZipWriter::Create(path);
    REQUIRE(zip.ok());
    REQUIRE(zip->AddMember("empty", "").ok());
    auto m = zip->BeginMember("dir/big \xc3\xa9", big.size());
    REQUIRE(m.ok());
    // Pieces in reverse, middle, then the rest.
    REQUIRE(m->WriteAt(90000, ByteView(big).substr(90000)).ok());
    REQUIRE(m->WriteAt(0, ByteView(big).substr(0, 1000)).ok());
    REQUIRE(m->WriteAt(50000, ByteView(big).substr(50000, 40000)).ok());
    CHECK(m->Close().code() == StatusCode::kInternal);  // a gap is left
    REQUIRE(m->WriteAt(1000, ByteView(big).substr(1000, 49000)).ok());
    CHECK(m->WriteAt(10, "x").code() == StatusCode::kInternal);  // overlap
    REQUIRE(m->Close().ok());
    REQUIRE(zip->AddMember("small", "hello").ok());
    REQUIRE(zip->Finish().ok());
  }
  CHECK(LibzipRead(path, "dir/big \xc3\xa9") == big);
  CHECK(LibzipRead(path, "small") == "hello");
  CHECK(LibzipRead(path, "empty").empty());
  CHECK(LooksLikeZip(path));
}

TEST_CASE("npz sink and source round-trip a tree losslessly") {
  TempDir dir;
  testing::TestTree t = testing::SampleTree();
  std::string path = dir / "t.npz";
  {
    auto sink = CreateNpzSink(path);
    REQUIRE(sink.ok());
    Status s = testing::WriteTree(t, **sink);
    INFO(s.message());
    REQUIRE(s.ok());
  }
  auto src = OpenNpzFile(path);
  INFO(src.status().message());
  REQUIRE(src.ok());
  testing::CheckSameTree(t, **src);
  // Members are plain .npy files.
  Bytes member = LibzipRead(path, "params/dense/kernel.npy");
  size_t off = 0;
  auto h = npy::DecodeNpyHeader(member, &off);
  REQUIRE(h.ok());
  CHECK(h->descr == "<f4");
  CHECK(member.substr(off) == t.data.at("params.dense.kernel"));
  CHECK(CreateNpzSink(path).status().code() == StatusCode::kAlreadyExists);
}

// Builds an archive with libzip (stored or deflated members).
void MakeZip(const std::string& path, const std::vector<std::pair<std::string, Bytes>>& members,
             bool deflate) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  REQUIRE(za != nullptr);
  std::vector<Bytes> keep;
  keep.reserve(members.size());
  for (const auto& [name, data] : members) {
    keep.push_back(data);
    zip_source_t* s = zip_source_buffer(za, keep.back().data(), keep.back().size(), 0);
    REQUIRE(s != nullptr);
    zip_int64_t idx = zip_file_add(za, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    REQUIRE(idx >= 0);
    REQUIRE(zip_set_file_compression(za, static_cast<zip_uint64_t>(idx),
                                     deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) == 0);
  }
  REQUIRE(zip_close(za) == 0);
}

Bytes Npy(const std::string& descr, Shape shape, const Bytes& data) {
  return npy::EncodeNpyHeader({descr, false, shape}) + data;
}

TEST_CASE("npz without _tree.json: members are dict key paths; stored and deflated") {
  TempDir dir;
  Bytes w(24, '\0');
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<char>(i);
  Bytes big(3 << 20, '\0');  // several MiB, so inflating streams
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31) >> 3);
  for (bool deflate : {false, true}) {
    std::string path = dir / (deflate ? "d.npz" : "s.npz");
    MakeZip(path,
            {{"params/w.npy", Npy("<f4", {2, 3}, w)},
             {"arr_0.npy", Npy("<u1", {static_cast<int64_t>(big.size())}, big)},
             {"notes.txt", "ignored"}},
            deflate);
    auto src = OpenNpzFile(path);
    INFO(src.status().message());
    REQUIRE(src.ok());
    const auto& leaves = (*src)->leaves();
    REQUIRE(leaves.size() == 2);
    CHECK(leaves[0].name() == "arr_0");
    CHECK(leaves[1].name() == "params.w");
    CHECK(leaves[1].keypath[0].type == KeyType::kDict);
    CHECK(leaves[1].value_type == "np.ndarray");
    CHECK(leaves[1].shape == Shape{2, 3});
    CHECK(testing::ReadPieces(**src, 1) == w);
    CHECK(testing::ReadWhole(**src, 0) == big);
    CHECK((*src)->custom_metadata().is_null());
  }
}

TEST_CASE("npz hostile inputs fail cleanly") {
  TempDir dir;
  CHECK(OpenNpzFile(dir / "missing.npz").status().code() == StatusCode::kNotFound);
  REQUIRE(WriteFile(dir / "junk.npz", Bytes(1000, 'j')).ok());
  auto junk = OpenNpzFile(dir / "junk.npz");
  CHECK(junk.status().code() == StatusCode::kDataLoss);
  CHECK(junk.status().message().find("junk.npz") != std::string::npos);

  // A valid archive cut short loses its central directory.
  MakeZip(dir / "ok.npz", {{"a.npy", Npy("<f8", {100}, Bytes(800, '\1'))}}, false);
  auto whole = ReadFile(dir / "ok.npz");
  REQUIRE(whole.ok());
  REQUIRE(WriteFile(dir / "cut.npz", whole->substr(0, whole->size() - 30)).ok());
  CHECK(OpenNpzFile(dir / "cut.npz").status().code() == StatusCode::kDataLoss);

  // Corrupt deflated data: the CRC or inflate fails when the array is read.
  MakeZip(dir / "crc.npz", {{"a.npy", Npy("<f8", {1000}, Bytes(8000, '\7'))}}, true);
  auto bytes = ReadFile(dir / "crc.npz");
  REQUIRE(bytes.ok());
  Bytes bad = *bytes;
  size_t data_at = bad.find("a.npy") + 5;
  for (size_t i = data_at + 20; i < data_at + 40; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  REQUIRE(WriteFile(dir / "crc.npz", bad).ok());
  auto crc = OpenNpzFile(dir / "crc.npz");
  if (crc.ok()) {
    auto arr = (*crc)->OpenArray(0);
    CHECK_FALSE(arr.ok());
    if (!arr.ok()) CHECK(arr.status().code() == StatusCode::kDataLoss);
  } else {
    CHECK(crc.status().code() == StatusCode::kDataLoss);
  }

  // Member names that are not key paths, and a leaf that is also a node.
  MakeZip(dir / "dots.npz", {{"../evil.npy", Npy("<f4", {1}, Bytes(4, '\0'))}}, false);
  CHECK(OpenNpzFile(dir / "dots.npz").status().code() == StatusCode::kDataLoss);
  MakeZip(
      dir / "clash.npz",
      {{"a.npy", Npy("<f4", {1}, Bytes(4, '\0'))}, {"a/b.npy", Npy("<f4", {1}, Bytes(4, '\0'))}},
      false);
  CHECK(OpenNpzFile(dir / "clash.npz").status().code() == StatusCode::kDataLoss);
  // A member whose data is shorter than its header says.
  MakeZip(dir / "short.npz", {{"a.npy", Npy("<f4", {10}, Bytes(8, '\0'))}}, false);
  CHECK(OpenNpzFile(dir / "short.npz").status().code() == StatusCode::kDataLoss);
  // _tree.json naming a missing member.
  MakeZip(
      dir / "tree.npz",
      {{"a.npy", Npy("<f4", {1}, Bytes(4, '\0'))},
       {"_tree.json",
        R"({"leaves": [{"keypath": [{"key": "b", "type": "dict"}], "value_type": "np.ndarray"}]})"}},
      false);
  CHECK(OpenNpzFile(dir / "tree.npz").status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace ockpt::npz
