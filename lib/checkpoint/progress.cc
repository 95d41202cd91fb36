// Progress wrappers.

#include "lib/checkpoint/progress.h"

namespace ockpt {
namespace {

class ProgressArraySource final : public ArraySource {
 public:
  ProgressArraySource(std::unique_ptr<ArraySource> inner, ProgressSink* sink)
      : inner_(std::move(inner)), sink_(sink) {}
  uint64_t size() const override { return inner_->size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    Status s = inner_->ReadAt(offset, n, dst);
    if (s.ok()) sink_->AddDone(n);
    return s;
  }
  bool concurrent() const override { return inner_->concurrent(); }

 private:
  std::unique_ptr<ArraySource> inner_;
  ProgressSink* sink_;
};

class ProgressSource final : public CheckpointSource {
 public:
  ProgressSource(std::unique_ptr<CheckpointSource> inner, ProgressSink* sink)
      : inner_(std::move(inner)), sink_(sink) {
    uint64_t total = 0;
    for (const LeafRecord& leaf : inner_->leaves()) total += LeafBytes(leaf);
    sink_->AddTotal(total);
  }
  const std::vector<LeafRecord>& leaves() const override { return inner_->leaves(); }
  const Json& custom_metadata() const override { return inner_->custom_metadata(); }
  Json format_metadata() const override { return inner_->format_metadata(); }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> a, inner_->OpenArray(i));
    return std::unique_ptr<ArraySource>(new ProgressArraySource(std::move(a), sink_));
  }
  std::string Describe() const override { return inner_->Describe(); }
  std::vector<std::string> warnings() const override { return inner_->warnings(); }

 private:
  std::unique_ptr<CheckpointSource> inner_;
  ProgressSink* sink_;
};

}  // namespace

uint64_t LeafBytes(const LeafRecord& leaf) {
  if (!leaf.HasArrayData()) return 0;
  return static_cast<uint64_t>(NumElements(*leaf.shape)) * SizeOf(*leaf.dtype);
}

std::unique_ptr<CheckpointSource> WithProgress(std::unique_ptr<CheckpointSource> source,
                                               const Context& ctx) {
  if (source == nullptr || ctx.progress_sink == nullptr) return source;
  return std::make_unique<ProgressSource>(std::move(source), ctx.progress_sink);
}

}  // namespace ockpt
