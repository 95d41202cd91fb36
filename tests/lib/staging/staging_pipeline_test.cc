// Restore and save through "device" memory (the host backend) run the same
// pipeline as the host path and give the same bytes, for every dtype an
// Orbax checkpoint can hold, multi-chunk and partial-edge layouts, zarr v2
// and v3. The GPU test binary compiles this file again with
// OCKPT_STAGING_TEST_DEVICE="cuda:0".

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/restore.h"
#include "formats/orbax/save.h"
#include "formats/zarr/zarr_writer.h"
#include "lib/dtype/narrow_int.h"
#include "lib/staging/staging.h"
#include "tests/lib/staging/staging_test_util.h"
#include "tests/support/pattern.h"
#include "tests/support/temp_dir.h"

namespace ockpt::staging {
namespace {

using testing::Download;
using testing::OpenTestDevice;
using testing::Pattern;

// Bytes that are valid values of d (bool: 0/1; sub-byte types: low bits,
// narrow integers in TensorStore's padded form, lib/dtype/narrow_int.h).
Bytes Values(DType d, size_t n, uint32_t seed) {
  Bytes b = Pattern(n, seed);
  std::string_view name = Name(d);
  for (char& c : b) {
    if (d == DType::kBool) c = static_cast<char>(c & 1);
    if (name == "float4_e2m1fn") c = static_cast<char>(c & 0x0f);
  }
  NormalizeNarrowInts(d, b.data(), b.size());
  return b;
}

class MemorySource final : public CheckpointSource {
 public:
  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_; }
  std::string Describe() const override { return "memory"; }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    return std::unique_ptr<ArraySource>(std::make_unique<MemoryArraySource>(data_[i]));
  }
  void Add(LeafRecord r, Bytes data) {
    leaves_.push_back(std::move(r));
    data_.push_back(std::move(data));
  }
  std::vector<LeafRecord> leaves_;
  std::vector<Bytes> data_;
  Json custom_ = nullptr;
};

// Every dtype TensorStore's zarr drivers store, in a few shapes.
std::shared_ptr<MemorySource> AllDTypes() {
  auto src = std::make_shared<MemorySource>();
  uint32_t seed = 1;
  for (int k = 0; k <= static_cast<int>(DType::kUInt2); ++k) {
    DType d = static_cast<DType>(k);
    zarr::WriteSpec spec;
    spec.dtype = d;
    spec.shape = {4};
    spec.chunk_shape = {4};
    if (!zarr::ValidateWriteSpec(spec).ok()) continue;
    const std::pair<const char*, Shape> shapes[] = {
        {"a", Shape{24, 40}}, {"b", Shape{7, 3}}, {"c", Shape{}}};
    for (const auto& [suffix, shape] : shapes) {
      LeafRecord r;
      std::string name = std::string(Name(d)) + "_" + suffix;
      r.keypath = {{"p", KeyType::kDict}, {name, KeyType::kDict}};
      r.value_type = std::string(kNpArray);
      r.dtype = d;
      r.shape = shape;
      src->Add(r, Values(d, LeafBytes(r), seed++));
    }
  }
  // Sources list leaves sorted by key path.
  std::vector<size_t> order(src->leaves_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return src->leaves_[a].keypath[1].key < src->leaves_[b].keypath[1].key;
  });
  auto sorted = std::make_shared<MemorySource>();
  for (size_t i : order) sorted->Add(src->leaves_[i], src->data_[i]);
  return sorted;
}

// Keeps the host path's bytes of each leaf.
class RecordingSink final : public CheckpointSink {
 public:
  explicit RecordingSink(std::map<std::string, Bytes>* out) : out_(out) {}
  Status WriteArray(const LeafRecord& leaf,
                    const std::function<Status(ArrayWriter&)>& fill) override {
    MemoryArrayWriter w(LeafBytes(leaf));
    OCKPT_RETURN_IF_ERROR(fill(w));
    (*out_)[leaf.name()] = w.data();
    return Status::Ok();
  }
  Status WriteLeaf(const LeafRecord& leaf) override { return Status::Ok(); }
  Status Finish(const Json& custom_metadata) override { return Status::Ok(); }

 private:
  std::map<std::string, Bytes>* out_;
};

std::unique_ptr<DeviceContext> SmallRing() {
  StagingOptions opt;
  opt.buffer_bytes = 333;  // many buffers per leaf, pieces straddling them
  opt.buffers = 3;
  return OpenTestDevice(opt);
}

std::string SaveCheckpoint(
    const testing::TempDir& tmp, const std::string& name, std::shared_ptr<MemorySource> src,
    orbax::ArrayLayout layout,
    std::function<std::unique_ptr<CheckpointSource>(std::unique_ptr<CheckpointSource>)> wrap =
        nullptr) {
  orbax::SaveOptions so;
  so.src = "memory";
  so.dest = tmp / name;
  so.layout = layout;
  so.open_source = [src, wrap](const std::string&) -> Result<std::unique_ptr<CheckpointSource>> {
    auto copy = std::make_unique<MemorySource>(*src);
    if (wrap) return wrap(std::move(copy));
    return std::unique_ptr<CheckpointSource>(std::move(copy));
  };
  Status s = orbax::Save(so, Context{});
  INFO(s.ToString());
  REQUIRE(s.ok());
  return so.dest;
}

// Reads every array leaf of a saved checkpoint on the plain host path.
std::map<std::string, Bytes> ReadAll(const std::string& path) {
  auto item = orbax::PyTreeItem::Open(path);
  INFO(item.status().ToString());
  REQUIRE(item.ok());
  std::map<std::string, Bytes> out;
  for (size_t i = 0; i < (*item)->leaves().size(); ++i) {
    const LeafRecord& r = (*item)->leaves()[i];
    if (!r.HasArrayData()) continue;
    MemoryArrayWriter w(LeafBytes(r));
    REQUIRE((*item)->ReadLeaf(i, w).ok());
    out[r.name()] = w.data();
  }
  return out;
}

std::map<std::string, Bytes> Expected(const MemorySource& src) {
  std::map<std::string, Bytes> m;
  for (size_t i = 0; i < src.leaves_.size(); ++i) m[src.leaves_[i].name()] = src.data_[i];
  return m;
}

TEST_CASE("restore into device memory equals the host path, every dtype and layout") {
  auto src = AllDTypes();
  REQUIRE(src->leaves_.size() >= 3 * 20);
  struct Case {
    const char* name;
    orbax::ArrayLayout layout;
  };
  std::vector<Case> cases;
  cases.push_back({"zarr2 multi-chunk", {}});
  cases.back().layout.chunk_bytes = 256;
  cases.push_back({"zarr3 multi-chunk", {}});
  cases.back().layout.zarr3 = true;
  cases.back().layout.chunk_bytes = 256;
  cases.push_back({"partial edge chunks, per-leaf dirs", {}});
  cases.back().layout.ocdbt = false;
  cases.back().layout.chunk_shape = Shape{5, 7};
  for (const Case& c : cases) {
    INFO(c.name);
    testing::TempDir tmp;
    std::string ckpt = SaveCheckpoint(tmp, "ckpt", src, c.layout);
    auto dev = SmallRing();
    std::map<std::string, Bytes> host;
    std::map<std::string, DeviceArray> device;
    DeviceRunStats stats;
    orbax::RestoreOptions ro;
    ro.path = ckpt;
    ro.out = tmp / "out";
    ro.sink_factory = [&](const std::string&) -> Result<std::unique_ptr<CheckpointSink>> {
      DeviceSinkOptions opt;
      opt.on_leaf = [&](const LeafRecord& leaf, DeviceArray a) {
        device[leaf.name()] = std::move(a);
        return Status::Ok();
      };
      return MakeDeviceSink(std::make_unique<RecordingSink>(&host), dev.get(), opt, &stats);
    };
    Status s = orbax::Restore(ro, Context{});
    INFO(s.ToString());
    REQUIRE(s.ok());
    auto want = Expected(*src);
    CHECK(host == want);
    REQUIRE(device.size() == want.size());
    for (auto& [name, a] : device) {
      INFO(name);
      CHECK(Download(*dev, a) == want[name]);
    }
    CHECK(stats.leaves == want.size());
    CHECK(stats.verified_leaves == want.size());
    CHECK(stats.verified_pieces >= want.size());
    CHECK(dev->stats().max_buffers_in_flight <= 3);
  }
}

TEST_CASE("a cast restore lands the cast bytes in device memory") {
  auto src = AllDTypes();
  testing::TempDir tmp;
  std::string ckpt = SaveCheckpoint(tmp, "ckpt", src, {});
  auto dev = SmallRing();
  std::map<std::string, Bytes> host;
  DeviceRunStats stats;
  orbax::RestoreOptions ro;
  ro.path = ckpt;
  ro.out = tmp / "out";
  ro.select = {"p.int16_a", "p.float32_b"};
  ro.dtype = DType::kFloat64;
  ro.sink_factory = [&](const std::string&) -> Result<std::unique_ptr<CheckpointSink>> {
    return MakeDeviceSink(std::make_unique<RecordingSink>(&host), dev.get(), {}, &stats);
  };
  Status s = orbax::Restore(ro, Context{});
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(host.size() == 2);
  CHECK(host["p.int16_a"].size() == 24 * 40 * 8);
  CHECK(stats.verified_leaves == 2);
  CHECK(stats.bytes == (24 * 40 + 7 * 3) * 8);
}

TEST_CASE("save from device memory writes the same checkpoint values") {
  auto src = AllDTypes();
  auto want = Expected(*src);
  orbax::ArrayLayout layout;
  layout.chunk_bytes = 256;
  SECTION("each leaf goes up to the device, then is saved from there") {
    testing::TempDir tmp;
    auto dev = SmallRing();
    DeviceRunStats stats;
    std::string ckpt =
        SaveCheckpoint(tmp, "ckpt", src, layout, [&](std::unique_ptr<CheckpointSource> inner) {
          return MakeDeviceStagedSource(std::move(inner), dev.get(), /*verify=*/true, &stats);
        });
    CHECK(ReadAll(ckpt) == want);
    CHECK(stats.leaves == want.size());
    CHECK(stats.verified_leaves == want.size());
    StagingStats st = dev->stats();
    CHECK(st.bytes_to_host >= st.bytes_to_device);  // verification and the save each read it back
    CHECK(st.device_bytes == 0);                    // each leaf freed after it was written
    CHECK(st.peak_device_bytes >= 24 * 40 * 16);    // the largest leaf (complex128)
  }
  SECTION("a program's device arrays, saved through MakeDeviceSource") {
    testing::TempDir tmp;
    auto dev = SmallRing();
    std::vector<DeviceLeaf> leaves;
    for (size_t i = src->leaves_.size(); i-- > 0;) {  // any order: the source sorts
      MemoryArraySource mem(src->data_[i]);
      auto a = dev->Upload(mem);
      REQUIRE(a.ok());
      leaves.push_back(
          {src->leaves_[i], std::make_shared<const DeviceArray>(std::move(a).value())});
    }
    auto dsrc = MakeDeviceSource(dev.get(), std::move(leaves));
    REQUIRE(dsrc.ok());
    REQUIRE((*dsrc)->leaves().size() == src->leaves_.size());
    for (size_t i = 0; i < src->leaves_.size(); ++i)
      CHECK((*dsrc)->leaves()[i].name() == src->leaves_[i].name());
    std::shared_ptr<CheckpointSource> shared = std::move(dsrc).value();
    orbax::SaveOptions so;
    so.src = "device";
    so.dest = tmp / "ckpt";
    so.layout = layout;
    so.layout.zarr3 = true;
    so.open_source = [shared](const std::string&) -> Result<std::unique_ptr<CheckpointSource>> {
      // A non-owning view: the program keeps its arrays.
      struct View final : CheckpointSource {
        std::shared_ptr<CheckpointSource> s;
        const std::vector<LeafRecord>& leaves() const override { return s->leaves(); }
        const Json& custom_metadata() const override { return s->custom_metadata(); }
        std::string Describe() const override { return s->Describe(); }
        Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
          return s->OpenArray(i);
        }
      };
      auto v = std::make_unique<View>();
      v->s = shared;
      return std::unique_ptr<CheckpointSource>(std::move(v));
    };
    Status s = orbax::Save(so, Context{});
    INFO(s.ToString());
    REQUIRE(s.ok());
    CHECK(ReadAll(so.dest) == want);
  }
  SECTION("a device array of the wrong size is refused") {
    auto dev = SmallRing();
    auto a = dev->Allocate(3);
    REQUIRE(a.ok());
    std::vector<DeviceLeaf> leaves = {
        {src->leaves_[0], std::make_shared<const DeviceArray>(std::move(a).value())}};
    CHECK(MakeDeviceSource(dev.get(), std::move(leaves)).status().code() ==
          StatusCode::kInvalidArgument);
  }
}

TEST_CASE("restore one leaf straight into device memory (library API)") {
  auto src = AllDTypes();
  testing::TempDir tmp;
  orbax::ArrayLayout layout;
  layout.chunk_shape = Shape{5, 7};
  std::string ckpt = SaveCheckpoint(tmp, "ckpt", src, layout);
  auto item = orbax::PyTreeItem::Open(ckpt);
  REQUIRE(item.ok());
  auto dev = SmallRing();
  auto want = Expected(*src);
  for (size_t i = 0; i < (*item)->leaves().size(); ++i) {
    const LeafRecord& leaf = (*item)->leaves()[i];
    INFO(leaf.name());
    PieceDigests digests;
    auto a = dev->Stage(
        LeafBytes(leaf), [&](ArrayWriter& w) { return (*item)->ReadLeaf(i, w); }, &digests);
    REQUIRE(a.ok());
    CHECK(dev->Verify(*a, digests).ok());
    CHECK(Download(*dev, *a) == want[leaf.name()]);
  }
}

TEST_CASE("a failing leaf read stops a device restore with its error") {
  auto src = AllDTypes();
  testing::TempDir tmp;
  std::string ckpt = SaveCheckpoint(tmp, "ckpt", src, {});
  HostBackendOptions host;
  host.memory_limit = 100;  // the first 24x40 leaf does not fit
  auto dev = DeviceContext::OpenHost({}, host);
  REQUIRE(dev.ok());
  orbax::RestoreOptions ro;
  ro.path = ckpt;
  ro.out = tmp / "out";
  std::map<std::string, Bytes> sink;
  ro.sink_factory = [&](const std::string&) -> Result<std::unique_ptr<CheckpointSink>> {
    return MakeDeviceSink(std::make_unique<RecordingSink>(&sink), dev->get(), {}, nullptr);
  };
  Status s = orbax::Restore(ro, Context{});
  CHECK(s.code() == StatusCode::kIoError);
  CHECK(s.message().find("on host") != std::string::npos);
  CHECK(s.message().find("out of memory") != std::string::npos);
}

}  // namespace
}  // namespace ockpt::staging
