// The public C++ API (include/ockpt/ockpt.h) against the golden checkpoints
// (values compared bit-exact with tests/data/golden/_expected), ReadSlice
// against NumPy-style slicing of whole reads, error codes, and Save round
// trips in every layout.

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "formats/orbax/save.h"
#include "lib/base/sha256.h"
#include "ockpt/ockpt.h"

namespace fs = std::filesystem;

namespace {

const std::string kGolden = std::string(OCKPT_TESTDATA_DIR) + "/golden";

nlohmann::json Expected(const std::string& sample) {
  std::ifstream in(kGolden + "/_expected/" + sample + ".json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

std::string Sha(std::span<const std::byte> b) {
  return ockpt::Sha256Hex(ockpt::ByteView(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::vector<std::byte> ReadAll(const ockpt::Checkpoint& ckpt, const std::string& name) {
  const ockpt::Leaf* leaf = ckpt.FindLeaf(name);
  REQUIRE(leaf != nullptr);
  std::vector<std::byte> out(leaf->nbytes);
  ockpt::Status s = ckpt.Read(name, out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

ockpt::Checkpoint OpenOk(const std::string& path, const ockpt::OpenOptions& options = {}) {
  auto r = ockpt::Checkpoint::Open(path, options);
  INFO(path << ": " << r.status().ToString());
  REQUIRE(r.ok());
  return std::move(r).value();
}

// Every leaf's name and SHA-256 equal the expected arrays' (exactly those).
void CheckAgainstExpected(const ockpt::Checkpoint& ckpt, const nlohmann::json& arrays,
                          const std::string& prefix = "") {
  std::map<std::string, std::string> want, got;
  for (const auto& [name, a] : arrays.items()) {
    want[prefix + name] = a["values"]["sha256_le_c_order"].get<std::string>();
  }
  for (const ockpt::Leaf& leaf : ckpt.leaves()) got[leaf.name] = Sha(ReadAll(ckpt, leaf.name));
  CHECK(got == want);
}

// A scratch directory removed at the end of the test case.
struct TempDir {
  TempDir() {
    path = fs::temp_directory_path() /
           ("ockpt_api_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  fs::path path;
  static inline int counter = 0;
};

template <typename T>
std::span<const std::byte> AsBytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "," : "") + std::to_string(s[i]);
  return t + "]";
}

// NumPy's a[start:start+shape] of a C-order array, by element index.
std::vector<std::byte> Slice(const std::vector<std::byte>& whole, const std::vector<int64_t>& dims,
                             size_t elem, const std::vector<int64_t>& start,
                             const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  std::vector<std::byte> out(static_cast<size_t>(count) * elem);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t rem = n, src = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    for (size_t d = 0; d < shape.size(); ++d) src = src * dims[d] + start[d] + idx[d];
    std::memcpy(out.data() + n * elem, whole.data() + src * elem, elem);
  }
  return out;
}

// Every box of every leaf (all starts and extents, up to `limit` per leaf)
// read with ReadSlice equals the slice of the whole value.
void CheckAllSlices(const ockpt::Checkpoint& ckpt) {
  for (const ockpt::Leaf& leaf : ckpt.leaves()) {
    std::vector<std::byte> whole = ReadAll(ckpt, leaf.name);
    const size_t rank = leaf.shape.size();
    int64_t total = 1;
    for (int64_t d : leaf.shape) total *= d;
    const size_t elem = total == 0 ? 1 : leaf.nbytes / static_cast<uint64_t>(total);
    // Enumerate (start, extent) per dimension with an odometer.
    std::vector<std::vector<std::pair<int64_t, int64_t>>> choices(rank);
    for (size_t d = 0; d < rank; ++d) {
      for (int64_t s = 0; s <= leaf.shape[d]; ++s) {
        for (int64_t e = 0; s + e <= leaf.shape[d]; ++e) choices[d].push_back({s, e});
      }
    }
    std::vector<size_t> pick(rank, 0);
    int checked = 0;
    while (true) {
      std::vector<int64_t> start(rank), shape(rank);
      for (size_t d = 0; d < rank; ++d) std::tie(start[d], shape[d]) = choices[d][pick[d]];
      std::vector<std::byte> want = Slice(whole, leaf.shape, elem, start, shape);
      std::vector<std::byte> got(want.size());
      ockpt::Status s = ckpt.ReadSlice(leaf.name, start, shape, got);
      INFO(leaf.name << " start " << ShapeStr(start) << " shape " << ShapeStr(shape)
                     << ": " << s.ToString());
      REQUIRE(s.ok());
      REQUIRE(got == want);
      ++checked;
      bool done = true;
      for (size_t d = rank; d-- > 0;) {
        if (++pick[d] < choices[d].size()) {
          done = false;
          break;
        }
        pick[d] = 0;
      }
      if (done || checked > 20000) break;
    }
  }
}

}  // namespace

TEST_CASE("Open and Read: a StandardCheckpointer directory (OCDBT, zarr2)") {
  auto expected = Expected("orbax_compat")["databases"];
  const std::string rel = "v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata";
  ockpt::Checkpoint ckpt = OpenOk(kGolden + "/orbax_compat/" + rel);
  CHECK_FALSE(ckpt.step().has_value());
  REQUIRE(ckpt.leaves().size() == 2);
  CHECK(ckpt.leaves()[0].name == "a");
  CHECK(ckpt.leaves()[0].dtype == "int32");
  CHECK(ckpt.leaves()[0].shape == std::vector<int64_t>{8});
  CHECK(ckpt.leaves()[0].nbytes == 32);
  CHECK(ckpt.leaves()[1].name == "b.c");
  CheckAgainstExpected(ckpt, expected[rel]["arrays"]);
  CheckAllSlices(ckpt);
}

TEST_CASE("Open and Read: every readable orbax_compat and orbax_managed item") {
  for (const std::string sample : {"orbax_compat", "orbax_managed"}) {
    for (const auto& [rel, db] : Expected(sample)["databases"].items()) {
      if (!db.contains("arrays") || rel.find("ocdbt.process_") != std::string::npos) continue;
      INFO(sample << "/" << rel);
      CheckAgainstExpected(OpenOk(kGolden + "/" + sample + "/" + rel), db["arrays"]);
    }
  }
}

TEST_CASE("Open: a composite checkpoint with one PyTree item names leaves as metadata does") {
  auto expected = Expected("orbax_compat")["databases"];
  const std::string rel = "v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata";
  ockpt::Checkpoint ckpt = OpenOk(kGolden + "/orbax_compat/" + rel);
  CheckAgainstExpected(ckpt, expected[rel + "/state"]["arrays"]);
  ockpt::OpenOptions o;
  o.item = "state";
  CheckAgainstExpected(OpenOk(kGolden + "/orbax_compat/" + rel, o), expected[rel + "/state"]["arrays"]);
  o.item = "nope";
  auto missing = ockpt::Checkpoint::Open(kGolden + "/orbax_compat/" + rel, o);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ockpt::StatusCode::kNotFound);
  CheckAllSlices(ckpt);  // zarr3 sharding_indexed
}

TEST_CASE("Open: a manager root opens its latest committed step, or options.step") {
  auto expected = Expected("orbax_managed")["databases"];
  for (const std::string v : {"v0_managed", "v1_managed"}) {
    const std::string root = kGolden + "/orbax_managed/" + v + "/has_metrics/has_custom_metadata";
    ockpt::Checkpoint ckpt = OpenOk(root);
    REQUIRE(ckpt.step().has_value());
    CHECK(*ckpt.step() == 0);
    CheckAgainstExpected(ckpt, expected[v + "/has_metrics/has_custom_metadata/0/state"]["arrays"]);
    ockpt::OpenOptions o;
    o.step = 0;
    CHECK(OpenOk(root, o).step() == std::optional<int64_t>(0));
    o.step = 7;
    auto r = ockpt::Checkpoint::Open(root, o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == ockpt::StatusCode::kNotFound);
  }
}

TEST_CASE("Open and ReadSlice: multi-chunk arrays (tunix, 2x2 mesh)") {
  auto expected = Expected("tunix_sft_sharded")["databases"];
  ockpt::Checkpoint ckpt = OpenOk(kGolden + "/tunix_sft_sharded/checkpoints/1/model_params");
  CheckAgainstExpected(ckpt, expected["checkpoints/1/model_params"]["arrays"]);
  CheckAllSlices(ckpt);
  // The checkpoint directory (its only item) gives the same leaves.
  ockpt::Checkpoint dir = OpenOk(kGolden + "/tunix_sft_sharded/checkpoints/1");
  CheckAgainstExpected(dir, expected["checkpoints/1/model_params"]["arrays"]);
}

TEST_CASE("Open and Read: legacy msgpack checkpoints (inline and zarr leaves)") {
  auto loose = Expected("orbax_legacy_aggregate")["loose_zarr"]["aggregate_some.checkpoint"];
  for (const std::string dir : {"aggregate_all.checkpoint", "aggregate_some.checkpoint"}) {
    INFO(dir);
    ockpt::Checkpoint ckpt = OpenOk(kGolden + "/orbax_legacy_aggregate/" + dir);
    std::map<std::string, std::vector<int64_t>> want = {
        {"a", {}}, {"b", {}}, {"c.a", {}}, {"c.e", {}}};
    for (int64_t i = 0; i < 8; ++i) want["a"].push_back(i);
    for (int64_t i = 0; i < 16; ++i) want["b"].push_back(2 * i);
    for (int64_t i = 0; i < 8; ++i) want["c.a"].push_back(3 * i);
    for (int64_t i = 0; i < 16; ++i) want["c.e"].push_back(4 * i);
    REQUIRE(ckpt.leaves().size() == 4);
    for (const ockpt::Leaf& leaf : ckpt.leaves()) {
      INFO(leaf.name);
      CHECK(leaf.dtype == "int64");
      CHECK(ReadAll(ckpt, leaf.name) == std::vector<std::byte>(
                                             reinterpret_cast<const std::byte*>(want[leaf.name].data()),
                                             reinterpret_cast<const std::byte*>(want[leaf.name].data()) +
                                                 want[leaf.name].size() * 8));
    }
    CHECK(Sha(ReadAll(ckpt, "a")) == loose["a"]["values"]["sha256_le_c_order"]);
    CheckAllSlices(ckpt);
  }
}

TEST_CASE("Errors: unknown leaf, wrong buffer size, boxes out of range, bad paths") {
  ockpt::Checkpoint ckpt = OpenOk(kGolden + "/tunix_sft_sharded/checkpoints/1/model_params");
  std::vector<std::byte> buf(32);
  CHECK(ckpt.Read("nope", buf).code() == ockpt::StatusCode::kNotFound);
  CHECK(ckpt.ReadSlice("nope", {}, {}, buf).code() == ockpt::StatusCode::kNotFound);
  CHECK(ckpt.FindLeaf("nope") == nullptr);
  // w1.kernel.value: float32 [2, 4] = 32 bytes.
  std::vector<std::byte> small(31), big(33), exact(32);
  CHECK(ckpt.Read("w1.kernel.value", small).code() == ockpt::StatusCode::kInvalidArgument);
  CHECK(ckpt.Read("w1.kernel.value", big).code() == ockpt::StatusCode::kInvalidArgument);
  CHECK(ckpt.Read("w1.kernel.value", exact).ok());
  using V = std::vector<int64_t>;
  auto slice = [&](V start, V shape, size_t n) {
    std::vector<std::byte> out(n);
    return ckpt.ReadSlice("w1.kernel.value", start, shape, out).code();
  };
  CHECK(slice({0, 0}, {2, 4}, 32) == ockpt::StatusCode::kOk);
  CHECK(slice({1, 1}, {1, 3}, 12) == ockpt::StatusCode::kOk);
  CHECK(slice({1, 1}, {1, 3}, 16) == ockpt::StatusCode::kInvalidArgument);  // wrong size
  CHECK(slice({0, 0}, {3, 4}, 48) == ockpt::StatusCode::kInvalidArgument);  // past the end
  CHECK(slice({2, 0}, {1, 4}, 16) == ockpt::StatusCode::kInvalidArgument);
  CHECK(slice({0, 4}, {1, 1}, 4) == ockpt::StatusCode::kInvalidArgument);
  CHECK(slice({-1, 0}, {1, 1}, 4) == ockpt::StatusCode::kInvalidArgument);  // negative
  CHECK(slice({0, 0}, {-1, 1}, 0) == ockpt::StatusCode::kInvalidArgument);
  CHECK(slice({0}, {2}, 32) == ockpt::StatusCode::kInvalidArgument);        // wrong rank
  CHECK(slice({0, 0, 0}, {1, 1, 1}, 4) == ockpt::StatusCode::kInvalidArgument);
  CHECK(slice({0, INT64_MAX}, {1, INT64_MAX}, 4) == ockpt::StatusCode::kInvalidArgument);
  CHECK(slice({2, 4}, {0, 0}, 0) == ockpt::StatusCode::kOk);  // empty box at the corner

  auto missing = ockpt::Checkpoint::Open(kGolden + "/does/not/exist");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ockpt::StatusCode::kNotFound);
  CHECK_FALSE(missing.status().message().empty());
  // Damaged: the top-level database's d/ is gone.
  auto damaged = ockpt::Checkpoint::Open(
      kGolden + "/orbax_compat/v0_checkpoints/direct_checkpoint/critical_metadata_alterations/missing_pytree_data_dir_d");
  if (damaged.ok()) {
    std::vector<std::byte> a(32);
    ockpt::Status s = (*damaged).Read("a", a);
    CHECK_FALSE(s.ok());
  } else {
    CHECK((damaged.status().code() == ockpt::StatusCode::kDataLoss ||
           damaged.status().code() == ockpt::StatusCode::kNotFound));
  }
}

TEST_CASE("Checkpoint is movable") {
  ockpt::Checkpoint a = OpenOk(kGolden + "/tunix_sft_sharded/checkpoints/1/model_params");
  ockpt::Checkpoint b = std::move(a);
  CHECK(b.leaves().size() == 4);
  ockpt::Checkpoint c = OpenOk(kGolden + "/orbax_legacy_aggregate/aggregate_all.checkpoint");
  c = std::move(b);
  CHECK(c.leaves().size() == 4);
  CHECK(ReadAll(c, "w2.bias.value").size() == 8);
  static_assert(!std::is_copy_constructible_v<ockpt::Checkpoint>);
  static_assert(std::is_nothrow_move_constructible_v<ockpt::Checkpoint>);
}

namespace {

struct Arrays {
  std::vector<float> w;
  std::vector<uint16_t> bf16;
  std::vector<uint8_t> i4, flags;
  std::vector<int64_t> scalar = {-7};
  std::vector<double> cube;
  std::vector<ockpt::ArrayView> views;
  Arrays() {
    for (int i = 0; i < 12; ++i) w.push_back(0.25f * static_cast<float>(i) - 1.0f);
    for (int i = 0; i < 5; ++i) bf16.push_back(static_cast<uint16_t>(0x3f80 + i));
    for (int i = 0; i < 6; ++i) i4.push_back(static_cast<uint8_t>(i % 2 ? 0xf9 + i : i));
    flags = {1, 0, 1};
    for (int i = 0; i < 4 * 5 * 6; ++i) cube.push_back(i * 1.5);
    views = {
        {"params.w", "float32", {3, 4}, AsBytes(w)},
        {"params.bf", "bfloat16", {5}, AsBytes(bf16)},
        {"q.int4", "int4", {2, 3}, AsBytes(i4)},
        {"flags", "bool", {3}, AsBytes(flags)},
        {"step", "int64", {}, AsBytes(scalar)},
        {"cube", "float64", {4, 5, 6}, AsBytes(cube)},
    };
  }
};

void CheckRoundTrip(const ockpt::Checkpoint& ckpt, const Arrays& arrays) {
  REQUIRE(ckpt.leaves().size() == arrays.views.size());
  for (const ockpt::ArrayView& v : arrays.views) {
    INFO(v.name);
    const ockpt::Leaf* leaf = ckpt.FindLeaf(v.name);
    REQUIRE(leaf != nullptr);
    CHECK(leaf->dtype == v.dtype);
    CHECK(leaf->shape == v.shape);
    std::vector<std::byte> got = ReadAll(ckpt, v.name);
    CHECK(got == std::vector<std::byte>(v.data.begin(), v.data.end()));
  }
}

}  // namespace

TEST_CASE("Save: round trip in every layout, then ReadSlice of what was saved") {
  Arrays arrays;
  TempDir tmp;
  struct Layout {
    const char* name;
    bool zarr3, ocdbt;
  };
  for (Layout l : {Layout{"zarr2", false, true}, Layout{"zarr3", true, true},
                   Layout{"flat2", false, false}, Layout{"flat3", true, false}}) {
    INFO(l.name);
    ockpt::SaveOptions o;
    o.zarr3 = l.zarr3;
    o.ocdbt = l.ocdbt;
    const std::string dest = tmp / l.name;
    ockpt::Status s = ockpt::Save(dest, arrays.views, o);
    INFO(s.ToString());
    REQUIRE(s.ok());
    CHECK(fs::exists(dest + "/_CHECKPOINT_METADATA"));
    CHECK(fs::exists(dest + "/commit_success.txt"));
    CHECK_FALSE(fs::exists(dest + ".orbax-checkpoint-tmp"));
    ockpt::Checkpoint ckpt = OpenOk(dest);
    CheckRoundTrip(ckpt, arrays);
    CheckAllSlices(ckpt);
    // Never overwrites.
    CHECK(ockpt::Save(dest, arrays.views, o).code() == ockpt::StatusCode::kAlreadyExists);
  }
}

TEST_CASE("Save: steps of a manager root") {
  Arrays arrays;
  TempDir tmp;
  const std::string root = tmp / "root";
  ockpt::SaveOptions o;
  o.step = 3;
  REQUIRE(ockpt::Save(root, arrays.views, o).ok());
  CHECK(fs::exists(root + "/3/default"));
  o.step = 10;
  REQUIRE(ockpt::Save(root, arrays.views, o).ok());
  CHECK(ockpt::Save(root, arrays.views, o).code() == ockpt::StatusCode::kAlreadyExists);
  ockpt::Checkpoint latest = OpenOk(root);
  CHECK(latest.step() == std::optional<int64_t>(10));
  CheckRoundTrip(latest, arrays);
  ockpt::OpenOptions open;
  open.step = 3;
  CHECK(OpenOk(root, open).step() == std::optional<int64_t>(3));
}

TEST_CASE("Save: bad arrays are refused before anything is written") {
  Arrays arrays;
  TempDir tmp;
  const std::string dest = tmp / "x";
  auto refused = [&](std::vector<ockpt::ArrayView> views) {
    ockpt::Status s = ockpt::Save(dest, views);
    INFO(s.ToString());
    CHECK(s.code() == ockpt::StatusCode::kInvalidArgument);
    CHECK_FALSE(fs::exists(dest));
  };
  std::vector<float> four(4);
  auto b = AsBytes(four);
  refused({{"a", "float32", {5}, b}});             // too little data
  refused({{"a", "float32", {3}, b}});             // too much
  refused({{"a", "float33", {4}, b}});             // unknown dtype
  refused({{"a", "float32", {-4}, b}});            // negative dimension
  refused({{"a", "float32", {4}, b}, {"a", "float32", {4}, b}});  // twice
  refused({{"a", "float32", {4}, b}, {"a.b", "float32", {4}, b}});  // leaf and node
  refused({{"", "float32", {4}, b}});
  refused({{"a..b", "float32", {4}, b}});
  refused({{"a/b", "float32", {4}, b}});
}

TEST_CASE("ReadSlice decodes only the chunks that overlap the box") {
  Arrays arrays;
  TempDir tmp;
  std::vector<ockpt::ArrayView> one = {arrays.views[5]};  // cube: float64 [4, 5, 6]
  REQUIRE(ockpt::Save(tmp / "src", one).ok());
  // Re-layout without OCDBT in [2, 5, 3] chunks: cube/0.0.0, 0.0.1, 1.0.0, 1.0.1.
  ockpt::orbax::SaveOptions s;
  s.src = tmp / "src";
  s.dest = tmp / "chunked";
  s.layout.ocdbt = false;
  s.layout.chunk_shape = ockpt::Shape{2, 5, 3};
  ockpt::Context ctx;
  REQUIRE(ockpt::orbax::Save(s, ctx).ok());
  ockpt::Checkpoint ckpt = OpenOk(tmp / "chunked");
  std::vector<std::byte> whole = ReadAll(ckpt, "cube");
  CheckAllSlices(ckpt);
  // Remove the chunk [1, 0, 1] (rows 2-3, columns 3-5).
  bool removed = false;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path / "chunked")) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && (name == "1.0.1" || (name == "1" && e.path().parent_path().filename() == "0" &&
                                                    e.path().parent_path().parent_path().filename() == "1"))) {
      fs::remove(e.path());
      removed = true;
      break;
    }
  }
  REQUIRE(removed);
  ockpt::Checkpoint damaged = OpenOk(tmp / "chunked");
  std::vector<std::byte> all(whole.size());
  CHECK_FALSE(damaged.Read("cube", all).ok());
  // Boxes that stay off that chunk still read (and match).
  std::vector<int64_t> dims = {4, 5, 6};
  for (auto [start, shape] : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{0, 0, 0}, {2, 5, 6}}, {{0, 1, 2}, {4, 3, 1}}, {{2, 0, 0}, {2, 5, 3}}}) {
    std::vector<std::byte> got(static_cast<size_t>(shape[0] * shape[1] * shape[2]) * 8);
    ockpt::Status st = damaged.ReadSlice("cube", start, shape, got);
    INFO(st.ToString());
    REQUIRE(st.ok());
    CHECK(got == Slice(whole, dims, 8, start, shape));
  }
  std::vector<std::byte> touching(8);
  CHECK(damaged.ReadSlice("cube", std::vector<int64_t>{3, 4, 5}, std::vector<int64_t>{1, 1, 1}, touching).code() ==
        ockpt::StatusCode::kDataLoss);
}

TEST_CASE("Status and Result basics") {
  ockpt::Status ok;
  CHECK(ok.ok());
  CHECK(ok.ToString() == "OK");
  ockpt::Status bad(ockpt::StatusCode::kNotFound, "x missing");
  CHECK(bad.WithContext("opening y").message() == "opening y: x missing");
  CHECK(bad.ToString() == "NOT_FOUND: x missing");
  ockpt::Result<int> r = 3;
  CHECK(*r == 3);
  ockpt::Result<int> e = bad;
  CHECK(e.status().code() == ockpt::StatusCode::kNotFound);
  CHECK(!ockpt::Version().empty());
}

TEST_CASE("Open: several PyTree items are prefixed by item; a damaged one is left out") {
  auto expected = Expected("orbax_compat")["databases"];
  const std::string rel = "v1_checkpoints/composite_checkpoint/critical_general_alterations/dummy_checkpointable_added";
  // "state" reads; "dummy" has a _METADATA but no data.
  ockpt::Checkpoint all = OpenOk(kGolden + "/orbax_compat/" + rel);
  CheckAgainstExpected(all, expected[rel + "/state"]["arrays"], "state.");
  ockpt::OpenOptions o;
  o.item = "state";
  CheckAgainstExpected(OpenOk(kGolden + "/orbax_compat/" + rel, o), expected[rel + "/state"]["arrays"]);
  o.item = "dummy";
  auto dummy = ockpt::Checkpoint::Open(kGolden + "/orbax_compat/" + rel, o);
  if (dummy.ok()) {
    CHECK((*dummy).leaves().empty());
  } else {
    CHECK(dummy.status().code() != ockpt::StatusCode::kOk);
    CHECK_THAT(dummy.status().message(), Catch::Contains("dummy"));
  }
}

TEST_CASE("Read and ReadSlice may run from several threads on one Checkpoint") {
  ockpt::Checkpoint ckpt = OpenOk(kGolden + "/tunix_sft_sharded/checkpoints/1/model_params");
  std::map<std::string, std::vector<std::byte>> whole;
  for (const ockpt::Leaf& leaf : ckpt.leaves()) whole[leaf.name] = ReadAll(ckpt, leaf.name);
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (const ockpt::Leaf& leaf : ckpt.leaves()) {
          std::vector<std::byte> all(leaf.nbytes);
          if (!ckpt.Read(leaf.name, all).ok() || all != whole[leaf.name]) ++failures[t];
          std::vector<int64_t> start(leaf.shape.size(), 0), shape = leaf.shape;
          if (!shape.empty()) {
            start[0] = shape[0] / 2;
            shape[0] -= start[0];
          }
          int64_t n = 1;
          for (int64_t d : shape) n *= d;
          std::vector<std::byte> part(static_cast<size_t>(n) * 4);
          if (!ckpt.ReadSlice(leaf.name, start, shape, part).ok() ||
              part != Slice(whole[leaf.name], leaf.shape, 4, start, shape)) {
            ++failures[t];
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == std::vector<int>(4, 0));
}

TEST_CASE("ReadToDevice: the host staging path lands the same bytes; CUDA needs a GPU") {
  ockpt::Checkpoint ckpt = OpenOk(kGolden + "/tunix_sft_sharded/checkpoints/1/model_params");
  for (const ockpt::Leaf& leaf : ckpt.leaves()) {
    auto buf = ckpt.ReadToDevice(leaf.name, "host");
    INFO(leaf.name << ": " << buf.status().ToString());
    REQUIRE(buf.ok());
    CHECK(buf->device() == "host");
    REQUIRE(buf->size() == leaf.nbytes);
    std::vector<std::byte> got(static_cast<const std::byte*>(buf->data()),
                               static_cast<const std::byte*>(buf->data()) + buf->size());
    CHECK(got == ReadAll(ckpt, leaf.name));
    ockpt::DeviceBuffer moved = std::move(buf).value();
    CHECK(moved.size() == leaf.nbytes);
  }
  CHECK(ckpt.ReadToDevice("nope", "host").status().code() == ockpt::StatusCode::kNotFound);
  CHECK(ckpt.ReadToDevice("w1.bias.value", "tpu").status().code() == ockpt::StatusCode::kInvalidArgument);
  auto cuda = ckpt.ReadToDevice("w1.kernel.value", "cuda");
  if (cuda.ok()) {
    CHECK(cuda->size() == 32);
    CHECK(cuda->device().substr(0, 4) == "cuda");
  } else {
    INFO(cuda.status().ToString());
    CHECK(cuda.status().code() == ockpt::StatusCode::kFailedPrecondition);
  }
}
