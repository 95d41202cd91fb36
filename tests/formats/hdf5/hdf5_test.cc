#include "formats/hdf5/hdf5.h"

#include <catch2/catch.hpp>

#include "formats/hdf5/h5_calls.h"
#include "lib/base/file.h"
#include "tests/formats/format_test_util.h"
#include "tests/support/temp_dir.h"

namespace ockpt::hdf5 {
namespace {

using testing::TempDir;

TEST_CASE("SplitRange covers a linear range with few rectangular blocks") {
  const Shape shape{3, 4, 5};
  const uint64_t total = 60;
  for (uint64_t begin = 0; begin <= total; ++begin) {
    for (uint64_t end = begin; end <= total; ++end) {
      auto blocks = h5::SplitRange(shape, begin, end);
      REQUIRE(blocks.size() <= 5);
      // Enumerating each block in C order must give begin, begin+1, ...
      uint64_t next = begin;
      for (const auto& b : blocks) {
        uint64_t count = 0;
        for (hsize_t i = 0; i < b.count[0]; ++i)
          for (hsize_t j = 0; j < b.count[1]; ++j)
            for (hsize_t k = 0; k < b.count[2]; ++k) {
              uint64_t lin = (b.start[0] + i) * 20 + (b.start[1] + j) * 5 + (b.start[2] + k);
              REQUIRE(lin == next);
              ++next;
              ++count;
            }
        REQUIRE(count == b.elements);
      }
      REQUIRE(next == end);
    }
  }
}

TEST_CASE("HDF5 sink and source round-trip a tree losslessly") {
  TempDir dir;
  testing::TestTree t = testing::SampleTree();
  std::string path = dir / "t.h5";
  {
    auto sink = CreateHdf5Sink(path);
    REQUIRE(sink.ok());
    Status s = testing::WriteTree(t, **sink);
    INFO(s.message());
    REQUIRE(s.ok());
  }
  CHECK(LooksLikeHdf5(path));
  auto src = OpenHdf5File(path);
  INFO(src.status().message());
  REQUIRE(src.ok());
  testing::CheckSameTree(t, **src);
  // The chunk shape given for the kernel is kept.
  for (const LeafRecord& r : (*src)->leaves()) {
    if (r.name() == "params.dense.kernel") CHECK(r.chunk_shape == Shape{2, 3, 5});
  }
}

TEST_CASE("HDF5 sink: a chunk holding the whole array gives a contiguous dataset") {
  TempDir dir;
  testing::TestTree t;
  LeafRecord w = testing::ArrayLeaf(testing::Keys({{"w", KeyType::kDict}}), DType::kFloat32,
                                    {6, 4}, "jax.Array");
  w.chunk_shape = Shape{6, 4};  // Orbax's default: one chunk
  t.data[w.name()] = testing::PatternBytes(w, 1);
  t.leaves.push_back(w);
  LeafRecord v = testing::ArrayLeaf(testing::Keys({{"v", KeyType::kDict}}), DType::kFloat32,
                                    {6, 4}, "jax.Array");
  v.chunk_shape = Shape{3, 4};
  t.data[v.name()] = testing::PatternBytes(v, 2);
  t.leaves.push_back(v);
  SortLeaves(&t.leaves);
  const std::string path = dir / "c.h5";
  {
    auto sink = CreateHdf5Sink(path);
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink).ok());
  }
  auto src = OpenHdf5File(path);
  REQUIRE(src.ok());
  testing::CheckSameTree(t, **src);
  for (const LeafRecord& r : (*src)->leaves()) {
    INFO(r.name());
    if (r.name() == "w") CHECK_FALSE(r.chunk_shape.has_value());
    if (r.name() == "v") CHECK(r.chunk_shape == Shape{3, 4});
  }
}

TEST_CASE("HDF5 output is deterministic") {
  TempDir dir;
  testing::TestTree t = testing::SampleTree();
  for (const char* name : {"a.h5", "b.h5"}) {
    auto sink = CreateHdf5Sink(dir / name);
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink).ok());
  }
  auto a = ReadFile(dir / "a.h5");
  auto b = ReadFile(dir / "b.h5");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == *b);
}

TEST_CASE("HDF5 sink refusals") {
  TempDir dir;
  REQUIRE(WriteFile(dir / "exists.h5", "x").ok());
  CHECK(CreateHdf5Sink(dir / "exists.h5").status().code() == StatusCode::kAlreadyExists);

  auto sink = CreateHdf5Sink(dir / "k.h5");
  REQUIRE(sink.ok());
  LeafRecord r = testing::ArrayLeaf(testing::Keys({{"a/b", KeyType::kDict}}), DType::kFloat32, {1});
  Status s = (*sink)->WriteArray(r, [](ArrayWriter& w) { return w.WriteAt(0, Bytes(4, '\0')); });
  CHECK(s.code() == StatusCode::kUnimplemented);
  CHECK(s.message().find("a/b") != std::string::npos);
}

TEST_CASE("HDF5 source errors") {
  TempDir dir;
  CHECK(OpenHdf5File(dir / "missing.h5").status().code() == StatusCode::kNotFound);
  REQUIRE(WriteFile(dir / "junk.h5", Bytes(4096, 'x')).ok());
  auto junk = OpenHdf5File(dir / "junk.h5");
  CHECK(junk.status().code() == StatusCode::kDataLoss);
  CHECK(junk.status().message().find("junk.h5") != std::string::npos);
  CHECK_FALSE(LooksLikeHdf5(dir / "junk.h5"));

  // A truncated file: a valid one cut short.
  testing::TestTree t = testing::SampleTree();
  {
    auto sink = CreateHdf5Sink(dir / "whole.h5");
    REQUIRE(sink.ok());
    REQUIRE(testing::WriteTree(t, **sink).ok());
  }
  auto whole = ReadFile(dir / "whole.h5");
  REQUIRE(whole.ok());
  REQUIRE(WriteFile(dir / "cut.h5", whole->substr(0, whole->size() / 3)).ok());
  auto cut = OpenHdf5File(dir / "cut.h5");
  CHECK_FALSE(cut.ok());
  CHECK(cut.status().message().find("cut.h5") != std::string::npos);

  // An empty file with only the root group.
  {
    auto sink = CreateHdf5Sink(dir / "empty.h5");
    REQUIRE(sink.ok());
    REQUIRE((*sink)->Finish(nullptr).ok());
  }
  CHECK(OpenHdf5File(dir / "empty.h5").status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace ockpt::hdf5
