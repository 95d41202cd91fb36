// DiffTrees: integers compared exactly (no detour through double), bool and
// raw-bit types exactly, tolerances on floating types only, stop_at_first.

#include "lib/checkpoint/diff.h"

#include <cmath>
#include <cstring>

#include <catch2/catch.hpp>

namespace ockpt {
namespace {

// A one-leaf source holding `bytes` as leaf "x".
class OneLeafSource final : public CheckpointSource {
 public:
  OneLeafSource(DType dtype, Shape shape, Bytes bytes) : bytes_(std::move(bytes)) {
    LeafRecord r;
    r.keypath = {PathKey{"x", KeyType::kDict}};
    r.value_type = std::string(kNpArray);
    r.dtype = dtype;
    r.shape = shape;
    leaves_.push_back(r);
  }
  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_; }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t) const override {
    return std::unique_ptr<ArraySource>(new MemoryArraySource(bytes_));
  }
  std::string Describe() const override { return "memory"; }

 private:
  std::vector<LeafRecord> leaves_;
  Json custom_;
  Bytes bytes_;
};

template <typename T>
Bytes Raw(std::initializer_list<T> values) {
  Bytes b(values.size() * sizeof(T), '\0');
  size_t i = 0;
  for (T v : values) std::memcpy(b.data() + sizeof(T) * i++, &v, sizeof(T));
  return b;
}

DiffResult Diff(DType dt, Bytes a, Bytes b, DiffOptions opt = {}) {
  int64_t n = static_cast<int64_t>(a.size() / SizeOf(dt));
  OneLeafSource sa(dt, {n}, std::move(a)), sb(dt, {n}, std::move(b));
  auto r = DiffTrees(sa, sb, opt);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("int64 values that differ by 1 above 2^53 differ") {
  int64_t big = int64_t{1} << 53;
  DiffResult r = Diff(DType::kInt64, Raw<int64_t>({big + 1, 7}), Raw<int64_t>({big + 2, 7}));
  REQUIRE(r.differences.size() == 1);
  CHECK(r.differences[0].differing_elements == 1);
  CHECK(r.differences[0].max_abs_diff == 1);
  CHECK(r.differences[0].comparison == "exact");
}

TEST_CASE("uint64 near 2^64 and tolerances do not apply to integers") {
  DiffOptions opt;
  opt.atol = 1000;
  opt.rtol = 1;
  DiffResult r = Diff(DType::kUInt64, Raw<uint64_t>({~uint64_t{0}}), Raw<uint64_t>({~uint64_t{0} - 1}), opt);
  REQUIRE(r.differences.size() == 1);
  CHECK(r.differences[0].differing_elements == 1);
}

TEST_CASE("int8 difference is computed with signs") {
  DiffResult r = Diff(DType::kInt8, Raw<int8_t>({-128}), Raw<int8_t>({127}));
  REQUIRE(r.differences.size() == 1);
  CHECK(r.differences[0].max_abs_diff == 255);
}

TEST_CASE("int4 ignores the unused high bits, compares the value") {
  CHECK(Diff(DType::kInt4, Raw<uint8_t>({0x0f}), Raw<uint8_t>({0xff})).identical());  // both -1
  CHECK(!Diff(DType::kInt4, Raw<uint8_t>({0x07}), Raw<uint8_t>({0x08})).identical());
}

TEST_CASE("bool compares truth values") {
  CHECK(Diff(DType::kBool, Raw<uint8_t>({1, 0}), Raw<uint8_t>({1, 0})).identical());
  DiffOptions opt;
  opt.atol = 5;
  CHECK(!Diff(DType::kBool, Raw<uint8_t>({1, 0}), Raw<uint8_t>({1, 1}), opt).identical());
}

TEST_CASE("float8 compares bit for bit whatever the tolerance") {
  DiffOptions opt;
  opt.atol = 1e9;
  DiffResult r = Diff(DType::kFloat8E4M3FN, Raw<uint8_t>({0x38}), Raw<uint8_t>({0x39}), opt);
  REQUIRE(r.differences.size() == 1);
  CHECK(r.differences[0].comparison == "bits");
}

TEST_CASE("floats: tolerance applies, NaN equals NaN, -0 equals 0") {
  DiffOptions opt;
  opt.atol = 0.5;
  CHECK(Diff(DType::kFloat32, Raw<float>({1.0f}), Raw<float>({1.25f}), opt).identical());
  CHECK(!Diff(DType::kFloat32, Raw<float>({1.0f}), Raw<float>({1.25f})).identical());
  CHECK(Diff(DType::kFloat32, Raw<float>({NAN, -0.0f}), Raw<float>({NAN, 0.0f})).identical());
}

TEST_CASE("stop_at_first stops counting") {
  DiffOptions opt;
  opt.stop_at_first = true;
  DiffResult r = Diff(DType::kInt32, Raw<int32_t>({1, 2, 3}), Raw<int32_t>({0, 0, 0}), opt);
  REQUIRE(r.differences.size() == 1);
  CHECK(r.differences[0].differing_elements == 1);
}

TEST_CASE("progress reports every byte of A") {
  DiffOptions opt;
  uint64_t seen = 0;
  opt.progress = [&](uint64_t n) { seen += n; };
  Diff(DType::kInt32, Raw<int32_t>({1, 2, 3}), Raw<int32_t>({1, 2, 3}), opt);
  CHECK(seen == 12);
}

}  // namespace
}  // namespace ockpt
