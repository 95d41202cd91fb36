// safetensors dtype names and the reader.

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "formats/common/tree_check.h"
#include "formats/safetensors/safetensors.h"
#include "lib/base/json.h"
#include "lib/base/file.h"

namespace ockpt::safetensors {
namespace {

struct NameEntry {
  std::string_view name;
  DType dtype;
};

constexpr NameEntry kNames[] = {
    {"BOOL", DType::kBool},
    {"U8", DType::kUInt8},
    {"I8", DType::kInt8},
    {"U16", DType::kUInt16},
    {"I16", DType::kInt16},
    {"F16", DType::kFloat16},
    {"BF16", DType::kBFloat16},
    {"U32", DType::kUInt32},
    {"I32", DType::kInt32},
    {"F32", DType::kFloat32},
    {"U64", DType::kUInt64},
    {"I64", DType::kInt64},
    {"F64", DType::kFloat64},
    {"F8_E4M3", DType::kFloat8E4M3FN},
    {"F8_E5M2", DType::kFloat8E5M2},
    {"F8_E8M0", DType::kFloat8E8M0FNU},
    {"C64", DType::kComplex64},
};

constexpr uint64_t kMaxElements = uint64_t{1} << 50;

class TensorSource final : public ArraySource {
 public:
  TensorSource(std::shared_ptr<RandomAccessFile> file, uint64_t begin, uint64_t size)
      : file_(std::move(file)), begin_(begin), size_(size) {}
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return InternalError("{}: read of {} bytes at {} outside a {}-byte tensor", file_->path(), n,
                           offset, size_);
    }
    return file_->ReadInto(begin_ + offset, n, dst);
  }
  // pread.
  bool concurrent() const override { return true; }

 private:
  std::shared_ptr<RandomAccessFile> file_;
  uint64_t begin_;
  uint64_t size_;
};

struct Tensor {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data buffer
  bool claimed = false;
};

Result<uint64_t> NonNegative(const Json& j, std::string_view what) {
  if (!j.is_number_integer() ||
      (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() < 0)) {
    return DataLossError("{} must be a non-negative integer", what);
  }
  return j.get<uint64_t>();
}

class SafetensorsSource final : public CheckpointSource {
 public:
  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_; }
  std::string Describe() const override { return file_->path(); }

  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    if (i >= leaves_.size() || !leaves_[i].HasArrayData() || !tensor_of_[i]) {
      return InternalError("leaf {} has no array", i);
    }
    const Tensor& t = tensors_[*tensor_of_[i]];
    return std::unique_ptr<ArraySource>(
        new TensorSource(file_, data_start_ + t.begin, t.end - t.begin));
  }

  Status Load(const std::string& path) {
    OCKPT_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(path));
    file_ = std::make_shared<RandomAccessFile>(std::move(f));
    uint64_t size = file_->size();
    if (size < 8)
      return DataLossError("{}: {} bytes is too short for a safetensors header", path, size);
    OCKPT_ASSIGN_OR_RETURN(Bytes len_bytes, file_->Read(0, 8));
    uint64_t n = LoadU64LE(len_bytes.data());
    if (n > kMaxHeaderBytes) {
      return DataLossError("{}: header length {} exceeds the {}-byte limit", path, n,
                           kMaxHeaderBytes);
    }
    if (n > size - 8) {
      return DataLossError("{}: header length {} runs past the end of the {}-byte file", path, n,
                           size);
    }
    if (n < 2) return DataLossError("{}: header length {} is too short for JSON", path, n);
    OCKPT_ASSIGN_OR_RETURN(Bytes text, file_->Read(8, n));
    if (text[0] != '{') return DataLossError("{}: header does not start with '{{'", path);
    OCKPT_ASSIGN_OR_RETURN(Json header, ParseJsonBounded(text, path + ": header"));
    if (!header.is_object())
      return DataLossError("{}: header is not a JSON object", path);
    data_start_ = 8 + n;
    const uint64_t buffer = size - data_start_;

    Json metadata;
    for (const auto& [name, info] : header.items()) {
      if (name == "__metadata__") {
        if (!info.is_object()) return DataLossError("{}: __metadata__ must be an object", path);
        for (const auto& [k, v] : info.items()) {
          if (!v.is_string())
            return DataLossError("{}: __metadata__[\"{}\"] must be a string", path, k);
        }
        metadata = info;
        continue;
      }
      std::string where = fmt::format("{}: tensor '{}'", path, name);
      if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
          !info.contains("data_offsets")) {
        return DataLossError("{}: expected {{\"dtype\", \"shape\", \"data_offsets\"}}", where);
      }
      Tensor t;
      t.name = name;
      if (!info["dtype"].is_string()) return DataLossError("{}: dtype must be a string", where);
      auto d = DTypeFromSafetensorsName(info["dtype"].get<std::string>());
      if (!d.ok()) return std::move(d).status().WithContext(where);
      t.dtype = *d;
      if (!info["shape"].is_array()) return DataLossError("{}: shape must be a list", where);
      uint64_t count = 1;
      for (const Json& dim : info["shape"]) {
        auto v = NonNegative(dim, "shape entries");
        if (!v.ok()) return std::move(v).status().WithContext(where);
        if (*v > 0 && count > kMaxElements / *v) return DataLossError("{}: shape too large", where);
        count *= *v;
        t.shape.push_back(static_cast<int64_t>(*v));
      }
      const Json& off = info["data_offsets"];
      if (!off.is_array() || off.size() != 2)
        return DataLossError("{}: data_offsets must be [begin, end]", where);
      auto b = NonNegative(off[0], "data_offsets");
      if (!b.ok()) return std::move(b).status().WithContext(where);
      auto e = NonNegative(off[1], "data_offsets");
      if (!e.ok()) return std::move(e).status().WithContext(where);
      t.begin = *b;
      t.end = *e;
      if (t.end < t.begin)
        return DataLossError("{}: data_offsets [{}, {}] end before they begin", where, t.begin,
                             t.end);
      if (t.end > buffer) {
        return DataLossError("{}: data_offsets end at {}, past the {} data bytes in the file",
                             where, t.end, buffer);
      }
      uint64_t bytes = count * SizeOf(t.dtype);
      if (t.end - t.begin != bytes) {
        return DataLossError("{}: {} {} needs {} bytes, data_offsets give {}", where,
                             info["dtype"].get<std::string>(), ShapeString(t.shape), bytes,
                             t.end - t.begin);
      }
      tensors_.push_back(std::move(t));
    }
    // Tensors must tile the data buffer exactly, in offset order.
    std::vector<const Tensor*> order;
    for (const Tensor& t : tensors_) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const Tensor* a, const Tensor* b) {
      return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
    });
    uint64_t expected = 0;
    for (const Tensor* t : order) {
      if (t->begin != expected) {
        return DataLossError(
            "{}: tensor '{}' starts at {}, expected {} (tensors must be contiguous, without "
            "overlap)",
            path, t->name, t->begin, expected);
      }
      expected = t->end;
    }
    if (expected != buffer) {
      return DataLossError("{}: tensors cover {} bytes but the file holds {} data bytes", path,
                           expected, buffer);
    }

    std::map<std::string, size_t> by_name;
    for (size_t i = 0; i < tensors_.size(); ++i) by_name[tensors_[i].name] = i;
    if (metadata.is_object() && metadata.contains(kTreeKey)) {
      OCKPT_RETURN_IF_ERROR(LoadTree(metadata[kTreeKey].get<std::string>(), by_name));
    } else {
      custom_ = metadata;  // null when absent
      for (const Tensor& t : tensors_) {
        LeafRecord r;
        size_t start = 0;
        while (true) {
          size_t dot = t.name.find('.', start);
          std::string k =
              t.name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
          if (k.empty()) {
            return DataLossError("{}: tensor name '{}' has an empty component between dots", path,
                                 t.name);
          }
          r.keypath.push_back({std::move(k), KeyType::kDict});
          if (dot == std::string::npos) break;
          start = dot + 1;
        }
        r.value_type = std::string(kNpArray);
        r.dtype = t.dtype;
        r.shape = t.shape;
        leaves_.push_back(std::move(r));
      }
      SortLeaves(&leaves_);
      for (const LeafRecord& r : leaves_) tensor_of_.push_back(by_name.at(r.name()));
    }
    if (leaves_.empty()) return NotFoundError("{} holds no tensors", path);
    return formats::CheckTreeShape(leaves_, path);
  }

 private:
  Status LoadTree(const std::string& text, const std::map<std::string, size_t>& by_name) {
    const std::string& path = file_->path();
    OCKPT_ASSIGN_OR_RETURN(
        Json tree, ParseJsonBounded(text, fmt::format("{}: __metadata__[\"{}\"]", path, kTreeKey)));
    if (!tree.is_object() || !tree.contains("leaves") ||
        !tree["leaves"].is_array()) {
      return DataLossError("{}: __metadata__[\"{}\"]: expected {{\"leaves\": [...], ...}}", path,
                           kTreeKey);
    }
    if (tree.contains("custom_metadata")) custom_ = tree["custom_metadata"];
    for (const Json& j : tree["leaves"]) {
      auto r = LeafRecord::FromJson(j);
      if (!r.ok())
        return DataLossError("{}: __metadata__[\"{}\"]: {}", path, kTreeKey, r.status().message());
      if (r->value_type.empty()) r->value_type = std::string(kNpArray);
      leaves_.push_back(std::move(r).value());
    }
    SortLeaves(&leaves_);
    for (LeafRecord& r : leaves_) {
      std::string name = r.name();
      if (IsEmptyNodeType(r.value_type) || r.value_type == kString) {
        if (r.value_type == kString && !r.string_value) {
          return DataLossError("{}: string leaf '{}' has no value in {}", path, name, kTreeKey);
        }
        tensor_of_.push_back(std::nullopt);
        continue;
      }
      auto it = by_name.find(name);
      if (it == by_name.end())
        return DataLossError("{}: leaf '{}' of {} has no tensor", path, name, kTreeKey);
      Tensor& t = tensors_[it->second];
      if (t.claimed) return DataLossError("{}: tensor '{}' belongs to two leaves", path, name);
      t.claimed = true;
      if (r.dtype && *r.dtype != t.dtype) {
        // Types safetensors lacks are stored as their unsigned bits.
        if (Info(*r.dtype).native_numpy || SizeOf(*r.dtype) != SizeOf(t.dtype) ||
            Info(t.dtype).kind != DTypeKind::kUInt) {
          return DataLossError("{}: tensor '{}' holds {} but {} says {}", path, name, Name(t.dtype),
                               kTreeKey, Name(*r.dtype));
        }
      } else {
        r.dtype = t.dtype;
      }
      if (r.shape && *r.shape != t.shape) {
        return DataLossError("{}: tensor '{}' has shape {} but {} says {}", path, name,
                             ShapeString(t.shape), kTreeKey, ShapeString(*r.shape));
      }
      r.shape = t.shape;
      tensor_of_.push_back(it->second);
    }
    for (const Tensor& t : tensors_) {
      if (!t.claimed)
        return DataLossError("{}: tensor '{}' is not a leaf of {}", path, t.name, kTreeKey);
    }
    return Status::Ok();
  }

  std::shared_ptr<RandomAccessFile> file_;
  uint64_t data_start_ = 0;
  std::vector<Tensor> tensors_;
  std::vector<LeafRecord> leaves_;
  std::vector<std::optional<size_t>> tensor_of_;  // parallel to leaves_
  Json custom_;
};

}  // namespace

std::optional<std::string_view> SafetensorsDTypeName(DType dtype) {
  for (const NameEntry& e : kNames) {
    if (e.dtype == dtype) return e.name;
  }
  return std::nullopt;
}

Result<DType> DTypeFromSafetensorsName(std::string_view name) {
  for (const NameEntry& e : kNames) {
    if (e.name == name) return e.dtype;
  }
  if (name == "F4" || name.substr(0, 3) == "F6_") {
    return UnimplementedError("safetensors dtype {} (packed sub-byte floats) is not supported",
                              name);
  }
  return DataLossError("unknown safetensors dtype '{}'", name);
}

bool LooksLikeSafetensors(const std::string& path) {
  auto f = RandomAccessFile::Open(path);
  if (!f.ok() || f->size() < 10) return false;
  auto b = f->Read(0, 9);
  if (!b.ok()) return false;
  uint64_t n = LoadU64LE(b->data());
  return n >= 2 && n <= kMaxHeaderBytes && n <= f->size() - 8 && (*b)[8] == '{';
}

Result<std::unique_ptr<CheckpointSource>> OpenSafetensorsFile(const std::string& path) {
  if (!PathExists(path)) return NotFoundError("{} does not exist", path);
  if (!IsRegularFile(path)) return DataLossError("{} is not a file", path);
  auto src = std::make_unique<SafetensorsSource>();
  OCKPT_RETURN_IF_ERROR(src->Load(path));
  return std::unique_ptr<CheckpointSource>(std::move(src));
}

}  // namespace ockpt::safetensors
