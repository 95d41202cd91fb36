#include "formats/npy/npy.h"

#include <catch2/catch.hpp>

#include "lib/base/file.h"
#include "tests/support/temp_dir.h"

namespace ockpt::npy {
namespace {

TEST_CASE("npy header round trip and alignment") {
  for (const NpyHeader& h : {NpyHeader{"<f4", false, {2, 3}}, NpyHeader{"|b1", false, {}},
                             NpyHeader{"<c16", false, {7}}, NpyHeader{"<u2", true, {1, 2, 3, 4, 5}}}) {
    Bytes b = EncodeNpyHeader(h);
    CHECK(b.size() % 64 == 0);
    CHECK(b.back() == '\n');
    size_t off = 0;
    auto d = DecodeNpyHeader(b, &off);
    REQUIRE(d.ok());
    CHECK(*d == h);
    CHECK(off == b.size());
  }
  CHECK(EncodeNpyHeader({"<i4", false, {3}}).find("'shape': (3,)") != std::string::npos);
}

TEST_CASE("npy header corruption") {
  Bytes b = EncodeNpyHeader({"<f4", false, {2, 3}});
  size_t off;
  for (size_t n = 0; n < b.size(); ++n) CHECK_FALSE(DecodeNpyHeader(b.substr(0, n), &off).ok());
  Bytes bad = b;
  bad[0] = 'x';
  CHECK_FALSE(DecodeNpyHeader(bad, &off).ok());
}

// Headers that parse must mean one thing (found by fuzz_npy_header: a
// repeated 'shape' appended its dimensions, a quoted descr with quotes in
// it did not survive re-encoding).
TEST_CASE("npy header: repeated keys and descr that is not a simple dtype") {
  auto header = [](std::string dict) {
    Bytes b("\x93NUMPY\x01\x00", 8);
    b.push_back(static_cast<char>(dict.size() & 0xff));
    b.push_back(static_cast<char>(dict.size() >> 8));
    return b + dict;
  };
  size_t off;
  CHECK(DecodeNpyHeader(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"), &off).ok());
  auto twice = DecodeNpyHeader(
      header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (3,), }"), &off);
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().code() == StatusCode::kDataLoss);
  CHECK(twice.status().message().find("twice") != std::string::npos);
  CHECK_FALSE(DecodeNpyHeader(header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }"), &off).ok());
  auto quoted = DecodeNpyHeader(
      header("{'descr':\"'>i8'\", 'fortran_order': False, 'shape': (), }"), &off);
  REQUIRE_FALSE(quoted.ok());
  CHECK(quoted.status().code() == StatusCode::kDataLoss);
  CHECK(DecodeNpyHeader(header("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (), }"), &off).ok());
}

TEST_CASE("NpyFileWriter writes pieces at offsets") {
  testing::TempDir dir;
  std::string path = dir / "a.npy";
  auto w = NpyFileWriter::Create(path, {"<u1", false, {4}}, 4);
  REQUIRE(w.ok());
  REQUIRE(w->WriteAt(2, "cd").ok());
  REQUIRE(w->WriteAt(0, "ab").ok());
  CHECK_FALSE(w->WriteAt(3, "xy").ok());
  REQUIRE(w->Close().ok());
  auto data = ReadFile(path);
  REQUIRE(data.ok());
  size_t header = EncodeNpyHeader({"<u1", false, {4}}).size();
  CHECK(data->size() == header + 4);
  CHECK(data->substr(header) == "abcd");
}

}  // namespace
}  // namespace ockpt::npy
