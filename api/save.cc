// ockpt::Save (include/ockpt/ockpt.h): in-memory arrays as a
// CheckpointSource, written through orbax::Save, the path `ockpt save`
// takes (same layout, same atomic tmp-dir-then-rename commit).

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "api/guard.h"
#include "formats/common/tree_check.h"
#include "formats/orbax/save.h"
#include "formats/zarr/chunk_layout.h"
#include "lib/base/result.h"
#include "lib/checkpoint/source.h"
#include "ockpt/ockpt.h"

namespace ockpt {
namespace {

// Caller memory as an ArraySource (read-only, so concurrent reads are safe).
class SpanArraySource final : public ArraySource {
 public:
  explicit SpanArraySource(std::span<const std::byte> data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > data_.size() || n > data_.size() - offset) {
      return InternalError("read of {} bytes at {} outside a {}-byte array", n, offset, data_.size());
    }
    if (n != 0) std::memcpy(dst, data_.data() + offset, n);
    return Status::Ok();
  }
  bool concurrent() const override { return true; }

 private:
  std::span<const std::byte> data_;
};

// The arrays of one Save call, sorted by key path.
class MemorySource final : public CheckpointSource {
 public:
  static Result<std::unique_ptr<MemorySource>> Make(std::span<const ArrayView> arrays) {
    auto src = std::unique_ptr<MemorySource>(new MemorySource());
    std::map<std::string, std::span<const std::byte>> data;
    for (const ArrayView& a : arrays) {
      LeafRecord r;
      if (a.name.empty()) return InvalidArgumentError("an array has an empty name");
      size_t begin = 0;
      while (true) {
        size_t dot = a.name.find('.', begin);
        std::string key = a.name.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
        if (!formats::IsPlainComponent(key)) {
          return InvalidArgumentError("array name '{}': key '{}' is empty or not a plain name", a.name, key);
        }
        r.keypath.push_back(PathKey{std::move(key), KeyType::kDict});
        if (dot == std::string::npos) break;
        begin = dot + 1;
      }
      r.value_type = std::string(kNpArray);
      auto dtype = DTypeFromName(a.dtype);
      if (!dtype.ok()) {
        return InvalidArgumentError("array '{}': {}", a.name, dtype.status().message());
      }
      r.dtype = *dtype;
      for (int64_t d : a.shape) {
        if (d < 0) return InvalidArgumentError("array '{}': negative dimension in shape {}", a.name, ShapeString(a.shape));
      }
      r.shape = Shape(a.shape.begin(), a.shape.end());
      auto bytes = zarr::CheckedByteCount(*r.shape, SizeOf(*r.dtype), zarr::kMaxArrayBytes, a.name);
      if (!bytes.ok()) {
        return InvalidArgumentError("array '{}': shape {} is too large", a.name, ShapeString(a.shape));
      }
      if (*bytes != a.data.size()) {
        return InvalidArgumentError("array '{}' ({} {}) needs {} bytes of data, got {}", a.name, a.dtype,
                                    ShapeString(a.shape), *bytes, a.data.size());
      }
      if (!data.emplace(a.name, a.data).second) {
        return InvalidArgumentError("two arrays are named '{}'", a.name);
      }
      src->leaves_.push_back(std::move(r));
    }
    SortLeaves(&src->leaves_);
    Status shape = formats::CheckTreeShape(src->leaves_, "arrays to save");
    if (!shape.ok()) return Status(StatusCode::kInvalidArgument, shape.message());
    for (const LeafRecord& r : src->leaves_) src->data_.push_back(data.at(r.name()));
    return src;
  }

  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_metadata_; }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    if (i >= data_.size()) return InternalError("array index {} out of range", i);
    return std::unique_ptr<ArraySource>(new SpanArraySource(data_[i]));
  }
  std::string Describe() const override { return "arrays in memory"; }

 private:
  MemorySource() = default;
  std::vector<LeafRecord> leaves_;
  std::vector<std::span<const std::byte>> data_;  // parallel to leaves_
  Json custom_metadata_;
};

}  // namespace

Status Save(const std::string& dest, std::span<const ArrayView> arrays, const SaveOptions& options) {
  return api::GuardStatus([&]() -> Status {
    // Check the arrays before anything is written.
    OCKPT_RETURN_IF_ERROR(MemorySource::Make(arrays).status());
    orbax::SaveOptions s;
    s.src = "<memory>";
    s.dest = dest;
    s.step = options.step;
    s.layout.zarr3 = options.zarr3;
    s.layout.ocdbt = options.ocdbt;
    s.open_source = [arrays](const std::string&) -> Result<std::unique_ptr<CheckpointSource>> {
      OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<MemorySource> src, MemorySource::Make(arrays));
      return std::unique_ptr<CheckpointSource>(std::move(src));
    };
    Context ctx;
    ctx.threads = options.threads;
    return orbax::Save(s, ctx);
  });
}

}  // namespace ockpt
