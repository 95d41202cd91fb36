// The checkpoint adapters of the staging ring: restore and save through
// device memory (a sink that tees every array into the device, sources
// staged through it, and DeviceRun, which the CLI and the library use to
// report GB/s). The ring itself is staging.cc.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "lib/staging/staging.h"

namespace ockpt::staging {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

// ---------------------------------------------------------------------------
// Restore and save through the device

namespace {

// Passes each piece to the host writer (if any), then to the device writer,
// timing the device side.
class TeeWriter final : public ArrayWriter {
 public:
  TeeWriter(ArrayWriter* host, DeviceArrayWriter* device, double* seconds)
      : host_(host), device_(device), seconds_(seconds) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    if (host_) OCKPT_RETURN_IF_ERROR(host_->WriteAt(offset, data));
    auto t0 = Clock::now();
    Status s = device_->WriteAt(offset, data);
    *seconds_ += Seconds(t0, Clock::now());
    return s;
  }

 private:
  ArrayWriter* host_;
  DeviceArrayWriter* device_;
  double* seconds_;
};

class DeviceSink final : public CheckpointSink {
 public:
  DeviceSink(std::unique_ptr<CheckpointSink> inner, DeviceContext* dev, DeviceSinkOptions opt,
             DeviceRunStats* stats)
      : inner_(std::move(inner)),
        dev_(dev),
        opt_(std::move(opt)),
        stats_(stats ? stats : &own_stats_) {}

  Status Begin(const std::vector<LeafRecord>& leaves) override {
    return inner_ ? inner_->Begin(leaves) : Status::Ok();
  }

  Status WriteArray(const LeafRecord& leaf,
                    const std::function<Status(ArrayWriter&)>& fill) override {
    Status s = Stage(leaf, fill);
    if (!s.ok())
      return std::move(s).WithContext(fmt::format("leaf '{}' on {}", leaf.name(), dev_->name()));
    return s;
  }

  Status WriteLeaf(const LeafRecord& leaf) override {
    return inner_ ? inner_->WriteLeaf(leaf) : Status::Ok();
  }
  bool KeepFormatMetadata(const Json& format_metadata) override {
    return inner_ && inner_->KeepFormatMetadata(format_metadata);
  }
  Status Finish(const Json& custom_metadata) override {
    return inner_ ? inner_->Finish(custom_metadata) : Status::Ok();
  }

 private:
  Status Stage(const LeafRecord& leaf, const std::function<Status(ArrayWriter&)>& fill) {
    uint64_t bytes = LeafBytes(leaf);
    OCKPT_ASSIGN_OR_RETURN(DeviceArray array, dev_->Allocate(bytes));
    PieceDigests digests;
    {
      std::unique_ptr<DeviceArrayWriter> w = dev_->OpenWriter(&array, opt_.verify);
      double seconds = 0;
      auto run = [&](ArrayWriter* host) {
        TeeWriter tee(host, w.get(), &seconds);
        return fill(tee);
      };
      Status s = inner_ ? inner_->WriteArray(leaf, [&](ArrayWriter& host) { return run(&host); })
                        : run(nullptr);
      auto t0 = Clock::now();
      if (s.ok()) s = w->Finish();
      seconds += Seconds(t0, Clock::now());
      stats_->stage_seconds += seconds;
      OCKPT_RETURN_IF_ERROR(s);
      digests = w->digests();
    }
    ++stats_->leaves;
    stats_->bytes += bytes;
    if (opt_.verify) {
      auto t0 = Clock::now();
      stats_->verified_pieces += digests.pieces().size();
      OCKPT_RETURN_IF_ERROR(dev_->Verify(array, std::move(digests)));
      stats_->verify_seconds += Seconds(t0, Clock::now());
      ++stats_->verified_leaves;
    }
    if (opt_.on_leaf) return opt_.on_leaf(leaf, std::move(array));
    return Status::Ok();
  }

  std::unique_ptr<CheckpointSink> inner_;
  DeviceContext* dev_;
  DeviceSinkOptions opt_;
  DeviceRunStats own_stats_;
  DeviceRunStats* stats_;
};

class DeviceStagedSource final : public CheckpointSource {
 public:
  DeviceStagedSource(std::unique_ptr<CheckpointSource> inner, DeviceContext* dev, bool verify,
                     DeviceRunStats* stats)
      : inner_(std::move(inner)), dev_(dev), verify_(verify), stats_(stats ? stats : &own_stats_) {}
  const std::vector<LeafRecord>& leaves() const override { return inner_->leaves(); }
  const Json& custom_metadata() const override { return inner_->custom_metadata(); }
  Json format_metadata() const override { return inner_->format_metadata(); }
  std::string Describe() const override { return inner_->Describe(); }
  std::vector<std::string> warnings() const override { return inner_->warnings(); }

  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> src, inner_->OpenArray(i));
    std::string where = fmt::format("leaf '{}' to {}", inner_->leaves()[i].name(), dev_->name());
    PieceDigests digests;
    auto t0 = Clock::now();
    auto up = dev_->Upload(*src, verify_ ? &digests : nullptr);
    stats_->stage_seconds += Seconds(t0, Clock::now());
    if (!up.ok()) return std::move(up).status().WithContext(where);
    ++stats_->leaves;
    stats_->bytes += up->size();
    if (verify_) {
      auto t1 = Clock::now();
      stats_->verified_pieces += digests.pieces().size();
      Status s = dev_->Verify(*up, std::move(digests));
      if (!s.ok()) return std::move(s).WithContext(where);
      stats_->verify_seconds += Seconds(t1, Clock::now());
      ++stats_->verified_leaves;
    }
    return dev_->OpenSource(std::make_shared<const DeviceArray>(std::move(up).value()));
  }

 private:
  std::unique_ptr<CheckpointSource> inner_;
  DeviceContext* dev_;
  bool verify_;
  mutable DeviceRunStats own_stats_;
  DeviceRunStats* stats_;
};

bool KeyPathLess(const KeyPath& a, const KeyPath& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i].key != b[i].key) return a[i].key < b[i].key;
  }
  return a.size() < b.size();
}

class DeviceLeafSource final : public CheckpointSource {
 public:
  DeviceLeafSource(DeviceContext* dev, std::vector<DeviceLeaf> leaves, Json custom,
                   std::string description)
      : dev_(dev), custom_(std::move(custom)), description_(std::move(description)) {
    std::stable_sort(leaves.begin(), leaves.end(), [](const DeviceLeaf& a, const DeviceLeaf& b) {
      return KeyPathLess(a.record.keypath, b.record.keypath);
    });
    for (DeviceLeaf& l : leaves) {
      records_.push_back(l.record);
      arrays_.push_back(std::move(l.array));
    }
  }
  const std::vector<LeafRecord>& leaves() const override { return records_; }
  const Json& custom_metadata() const override { return custom_; }
  std::string Describe() const override { return description_; }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    if (i >= arrays_.size() || !arrays_[i]) {
      return InternalError("{}: leaf {} has no device array", description_, i);
    }
    return dev_->OpenSource(arrays_[i]);
  }
  Status Check() const {
    for (size_t i = 0; i < records_.size(); ++i) {
      const LeafRecord& r = records_[i];
      if (!r.HasArrayData()) continue;
      if (!arrays_[i])
        return InvalidArgumentError("{}: leaf '{}' has no device array", description_, r.name());
      if (arrays_[i]->size() != LeafBytes(r)) {
        return InvalidArgumentError("{}: leaf '{}' ({} {}) needs {} bytes, its device array has {}",
                                    description_, r.name(), Name(*r.dtype), ShapeString(*r.shape),
                                    LeafBytes(r), arrays_[i]->size());
      }
    }
    return Status::Ok();
  }

 private:
  DeviceContext* dev_;
  std::vector<LeafRecord> records_;
  std::vector<std::shared_ptr<const DeviceArray>> arrays_;
  Json custom_;
  std::string description_;
};

}  // namespace

std::unique_ptr<CheckpointSink> MakeDeviceSink(std::unique_ptr<CheckpointSink> inner,
                                               DeviceContext* dev, DeviceSinkOptions options,
                                               DeviceRunStats* stats) {
  return std::make_unique<DeviceSink>(std::move(inner), dev, std::move(options), stats);
}

std::unique_ptr<CheckpointSource> MakeDeviceStagedSource(std::unique_ptr<CheckpointSource> inner,
                                                         DeviceContext* dev, bool verify,
                                                         DeviceRunStats* stats) {
  return std::make_unique<DeviceStagedSource>(std::move(inner), dev, verify, stats);
}

Result<std::unique_ptr<CheckpointSource>> MakeDeviceSource(DeviceContext* dev,
                                                           std::vector<DeviceLeaf> leaves,
                                                           Json custom_metadata,
                                                           std::string description) {
  auto src = std::make_unique<DeviceLeafSource>(dev, std::move(leaves), std::move(custom_metadata),
                                                std::move(description));
  OCKPT_RETURN_IF_ERROR(src->Check());
  return std::unique_ptr<CheckpointSource>(std::move(src));
}

// ---------------------------------------------------------------------------
// DeviceRun

Result<std::shared_ptr<DeviceRun>> DeviceRun::Open(std::string_view device,
                                                   const StagingOptions& options) {
  if (device == "cpu") return std::shared_ptr<DeviceRun>();
  if (device != "host" && device.rfind("cuda", 0) != 0) {
    return InvalidArgumentError("device must be cpu, host or cuda[:N], not '{}'", device);
  }
  auto run = std::make_shared<DeviceRun>();
  auto dev = DeviceContext::Open(device, options);
  if (!dev.ok()) {
    if (dev.status().code() == StatusCode::kInvalidArgument) {
      return InvalidArgumentError("device must be cpu, host or cuda[:N], not '{}'", device);
    }
    return std::move(dev).status().WithContext(fmt::format("device {}", device));
  }
  run->dev_ = std::move(dev).value();
  run->start_ = Clock::now();
  return run;
}

std::unique_ptr<CheckpointSink> DeviceRun::WrapSink(std::unique_ptr<CheckpointSink> inner) {
  return MakeDeviceSink(std::move(inner), dev_.get(), DeviceSinkOptions{}, &stats_);
}

std::unique_ptr<CheckpointSource> DeviceRun::WrapSource(std::unique_ptr<CheckpointSource> inner) {
  return MakeDeviceStagedSource(std::move(inner), dev_.get(), /*verify=*/true, &stats_);
}

std::string DeviceRun::Report(std::string_view what) const {
  double wall = Seconds(start_, Clock::now());
  const DeviceRunStats& s = stats_;
  StagingStats st = dev_->stats();
  auto gbs = [](uint64_t bytes, double secs) {
    return secs > 0 ? static_cast<double>(bytes) / secs / 1e9 : 0.0;
  };
  std::string out = fmt::format(
      "ockpt: {} via {}: {} leaves, {:.3f} GB to device memory in {:.2f} s: {:.2f} GB/s end to "
      "end, "
      "{:.2f} GB/s staging ({:.2f} s in the ring, {} buffers of {} MiB, up to {} copies in "
      "flight)\n",
      what, dev_->Describe(), s.leaves, static_cast<double>(s.bytes) / 1e9, wall,
      gbs(s.bytes, wall), gbs(s.bytes, s.stage_seconds), s.stage_seconds, dev_->options().buffers,
      dev_->options().buffer_bytes >> 20, st.max_buffers_in_flight);
  if (s.verified_leaves) {
    out += fmt::format(
        "ockpt: device copies match the host bytes: {} leaves, {} pieces (CRC-32C), read back at "
        "{:.2f} GB/s\n",
        s.verified_leaves, s.verified_pieces, gbs(s.bytes, s.verify_seconds));
  }
  return out;
}

}  // namespace ockpt::staging

