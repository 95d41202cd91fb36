// Helpers for the file-format tests: a tree of leaves with known bytes,
// written into any CheckpointSink in scrambled pieces, and compared with
// what any CheckpointSource reads back.

#ifndef OCKPT_TESTS_FORMATS_FORMAT_TEST_UTIL_H_
#define OCKPT_TESTS_FORMATS_FORMAT_TEST_UTIL_H_

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"

namespace ockpt::testing {

struct TestTree {
  std::vector<LeafRecord> leaves;     // sorted
  std::map<std::string, Bytes> data;  // dotted name -> C-order bytes
  Json custom_metadata;
};

inline KeyPath Keys(std::initializer_list<std::pair<const char*, KeyType>> keys) {
  KeyPath kp;
  for (const auto& [k, t] : keys) kp.push_back({k, t});
  return kp;
}

inline LeafRecord ArrayLeaf(KeyPath kp, DType dtype, Shape shape,
                            std::string value_type = "np.ndarray") {
  LeafRecord r;
  r.keypath = std::move(kp);
  r.value_type = std::move(value_type);
  r.dtype = dtype;
  r.shape = std::move(shape);
  return r;
}

// Deterministic pseudo-random bytes; bool leaves get 0/1.
inline Bytes PatternBytes(const LeafRecord& r, uint32_t seed) {
  uint64_t n = static_cast<uint64_t>(NumElements(*r.shape)) * SizeOf(*r.dtype);
  std::mt19937 rng(seed);
  Bytes b(n, '\0');
  for (auto& c : b) c = static_cast<char>(rng() & 0xff);
  if (*r.dtype == DType::kBool) {
    for (auto& c : b) c = static_cast<char>(c & 1);
  }
  return b;
}

// A tree exercising dict and sequence keys, several dtypes, a scalar, a
// string, an empty node and custom metadata.
inline TestTree SampleTree() {
  TestTree t;
  constexpr KeyType D = KeyType::kDict;
  constexpr KeyType S = KeyType::kSequence;
  auto add = [&](LeafRecord r) {
    if (r.HasArrayData())
      t.data[r.name()] = PatternBytes(r, static_cast<uint32_t>(t.data.size() + 1));
    t.leaves.push_back(std::move(r));
  };
  LeafRecord w = ArrayLeaf(Keys({{"params", D}, {"dense", D}, {"kernel", D}}), DType::kFloat32,
                           {4, 3, 5}, "jax.Array");
  w.write_shape = Shape{4, 3, 5};
  w.chunk_shape = Shape{2, 3, 5};
  w.sharding = Json::object({{"sharding_type", "SingleDeviceSharding"}, {"device_str", "cpu:0"}});
  add(w);
  add(ArrayLeaf(Keys({{"params", D}, {"dense", D}, {"bias", D}}), DType::kBFloat16, {5},
                "jax.Array"));
  add(ArrayLeaf(Keys({{"opt", D}, {"0", S}, {"mu", D}}), DType::kFloat16, {7, 2}));
  add(ArrayLeaf(Keys({{"opt", D}, {"1", S}, {"count", D}}), DType::kInt64, {}, "scalar"));
  add(ArrayLeaf(Keys({{"opt", D}, {"10", S}, {"mask", D}}), DType::kBool, {9}));
  add(ArrayLeaf(Keys({{"opt", D}, {"2", S}, {"z", D}}), DType::kComplex64, {3}));
  add(ArrayLeaf(Keys({{"fp8", D}}), DType::kFloat8E4M3FN, {2, 2}));
  LeafRecord step = ArrayLeaf(Keys({{"step", D}}), DType::kInt32, {}, "jax.Array");
  step.write_shape = Shape{};
  add(step);
  add(ArrayLeaf(Keys({{"u32", D}}), DType::kUInt32, {0, 3}));
  LeafRecord s;
  s.keypath = Keys({{"name", D}});
  s.value_type = "string";
  s.string_value = "run \xc3\xa9t\xc3\xa9 1";
  add(s);
  LeafRecord e;
  e.keypath = Keys({{"extra", D}});
  e.value_type = "None";
  add(e);
  LeafRecord l;
  l.keypath = Keys({{"opt", D}, {"3", S}});
  l.value_type = "List";
  add(l);
  SortLeaves(&t.leaves);
  t.custom_metadata = Json::parse(R"({"run": "x", "lr": 0.5, "nested": {"a": [1, 2]}})");
  return t;
}

// Writes tree into sink, each array in pieces of `piece_elems` elements
// handed over in a shuffled order.
inline Status WriteTree(const TestTree& t, CheckpointSink& sink, size_t piece_elems = 3,
                        uint32_t seed = 7) {
  OCKPT_RETURN_IF_ERROR(sink.Begin(t.leaves));
  std::mt19937 rng(seed);
  for (const LeafRecord& r : t.leaves) {
    if (!r.HasArrayData()) {
      OCKPT_RETURN_IF_ERROR(sink.WriteLeaf(r));
      continue;
    }
    const Bytes& b = t.data.at(r.name());
    size_t piece = piece_elems * SizeOf(*r.dtype);
    OCKPT_RETURN_IF_ERROR(sink.WriteArray(r, [&](ArrayWriter& w) -> Status {
      std::vector<size_t> starts;
      for (size_t at = 0; at < b.size(); at += piece) starts.push_back(at);
      std::shuffle(starts.begin(), starts.end(), rng);
      for (size_t at : starts) {
        OCKPT_RETURN_IF_ERROR(w.WriteAt(at, ByteView(b).substr(at, piece)));
      }
      return Status::Ok();
    }));
  }
  return sink.Finish(t.custom_metadata);
}

inline Bytes ReadWhole(const CheckpointSource& src, size_t i) {
  auto arr = src.OpenArray(i);
  REQUIRE(arr.ok());
  Bytes out((*arr)->size(), '\0');
  if (!out.empty()) {
    Status s = (*arr)->ReadAt(0, out.size(), out.data());
    INFO(s.message());
    REQUIRE(s.ok());
  }
  return out;
}

// Reads leaf i in odd-sized, unaligned pieces.
inline Bytes ReadPieces(const CheckpointSource& src, size_t i, size_t piece = 5) {
  auto arr = src.OpenArray(i);
  REQUIRE(arr.ok());
  Bytes out((*arr)->size(), '\0');
  for (size_t at = 0; at < out.size(); at += piece) {
    size_t n = std::min(piece, out.size() - at);
    Status s = (*arr)->ReadAt(at, n, out.data() + at);
    INFO(s.message());
    REQUIRE(s.ok());
  }
  return out;
}

// Checks that src holds exactly the tree t (key paths and types, value
// types, dtypes, shapes, strings, values, custom metadata). With
// `extras`, also write shapes and sharding.
inline void CheckSameTree(const TestTree& t, const CheckpointSource& src, bool extras = true) {
  const auto& got = src.leaves();
  REQUIRE(got.size() == t.leaves.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const LeafRecord& a = t.leaves[i];
    const LeafRecord& b = got[i];
    INFO("leaf " << a.name());
    CHECK(b.keypath == a.keypath);
    CHECK(b.value_type == a.value_type);
    CHECK(b.dtype == a.dtype);
    CHECK(b.shape == a.shape);
    CHECK(b.string_value == a.string_value);
    if (extras) {
      CHECK(b.write_shape == a.write_shape);
      CHECK(b.sharding == a.sharding);
    }
    if (a.HasArrayData()) {
      CHECK(ReadWhole(src, i) == t.data.at(a.name()));
      CHECK(ReadPieces(src, i) == t.data.at(a.name()));
    }
  }
  CHECK(src.custom_metadata() == t.custom_metadata);
}

}  // namespace ockpt::testing

#endif  // OCKPT_TESTS_FORMATS_FORMAT_TEST_UTIL_H_
