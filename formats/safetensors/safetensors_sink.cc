// Writing .safetensors files.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "formats/common/tree_check.h"
#include "formats/safetensors/safetensors.h"
#include "lib/base/file.h"

namespace ockpt::safetensors {
namespace {

// Room left in the header for the custom metadata, which only arrives at
// Finish; when it does not fit the data is moved (once) to make room.
constexpr uint64_t kHeaderReserve = 4096;
constexpr size_t kMoveBlock = size_t{8} << 20;

Result<std::string> DumpJson(const Json& j, std::string_view what) {
  try {
    return j.dump();
  } catch (const nlohmann::json::exception&) {
    return DataLossError("{}: holds text that is not valid UTF-8", what);
  }
}

struct Slot {
  std::string name;
  DType dtype;              // the leaf's dtype
  std::string_view stored;  // safetensors dtype name
  Shape shape;
  uint64_t begin = 0, end = 0;
  bool written = false;
};

class TensorWriter final : public ArrayWriter {
 public:
  TensorWriter(WritableFile* file, uint64_t base, uint64_t size)
      : file_(file), base_(base), size_(size) {}
  Status WriteAt(uint64_t offset, ByteView data) override {
    if (offset > size_ || data.size() > size_ - offset) {
      return InternalError("{}: write of {} bytes at {} outside a {}-byte tensor", file_->path(),
                           data.size(), offset, size_);
    }
    written_ += data.size();
    return file_->WriteAt(base_ + offset, data);
  }
  // pwrite at distinct offsets of the file.
  bool concurrent() const override { return true; }
  Status CopyFromFile(uint64_t offset, const RandomAccessFile& src, uint64_t src_offset,
                      uint64_t n) override {
    if (offset > size_ || n > size_ - offset) {
      return InternalError("{}: copy of {} bytes at {} outside a {}-byte tensor", file_->path(), n,
                           offset, size_);
    }
    OCKPT_RETURN_IF_ERROR(file_->CopyFrom(base_ + offset, src, src_offset, n));
    written_ += n;
    return Status::Ok();
  }
  uint64_t written() const { return written_; }

 private:
  WritableFile* file_;
  uint64_t base_;
  uint64_t size_;
  std::atomic<uint64_t> written_{0};
};

class SafetensorsSink final : public CheckpointSink {
 public:
  SafetensorsSink(WritableFile file, std::string path)
      : file_(std::move(file)), path_(std::move(path)) {}

  Status Begin(const std::vector<LeafRecord>& leaves) override {
    if (begun_) return InternalError("{}: Begin called twice", path_);
    begun_ = true;
    std::vector<LeafRecord> sorted = leaves;
    SortLeaves(&sorted);
    OCKPT_RETURN_IF_ERROR(formats::CheckTreeShape(sorted, path_));
    tree_leaves_ = Json::array();
    for (const LeafRecord& leaf : sorted) {
      LeafRecord r = leaf;
      r.compressor.reset();
      r.stored_bytes.reset();
      tree_leaves_.push_back(r.ToJson());
      if (!leaf.HasArrayData()) {
        if (!IsEmptyNodeType(leaf.value_type) && leaf.value_type != kString) {
          return InvalidArgumentError("{}: leaf '{}' ({}) has no array data", path_, leaf.name(),
                                      leaf.value_type);
        }
        continue;
      }
      Slot s;
      s.name = leaf.name();
      if (s.name == "__metadata__")
        return UnimplementedError("{}: a leaf cannot be named __metadata__", path_);
      s.dtype = *leaf.dtype;
      s.shape = *leaf.shape;
      if (auto n = SafetensorsDTypeName(s.dtype)) {
        s.stored = *n;
      } else if (Info(s.dtype).kind == DTypeKind::kComplex) {
        return UnimplementedError("{}: leaf '{}' is {}, which safetensors has no dtype for", path_,
                                  s.name, Name(s.dtype));
      } else if (SizeOf(s.dtype) == 1) {
        s.stored = "U8";  // raw bits; the real dtype is in ockpt.tree
      } else {
        return UnimplementedError("{}: leaf '{}' is {}, which safetensors has no dtype for", path_,
                                  s.name, Name(s.dtype));
      }
      if (!slot_of_.emplace(s.name, slots_.size()).second) {
        return InvalidArgumentError("{}: two leaves share the tensor name '{}'", path_, s.name);
      }
      slots_.push_back(std::move(s));
    }
    // Lay tensors out by element size (largest first), then name, so each
    // starts aligned to its element size, as the safetensors library does.
    std::vector<Slot*> order;
    for (Slot& s : slots_) order.push_back(&s);
    std::stable_sort(order.begin(), order.end(), [](const Slot* a, const Slot* b) {
      if (SizeOf(a->dtype) != SizeOf(b->dtype)) return SizeOf(a->dtype) > SizeOf(b->dtype);
      return a->name < b->name;
    });
    uint64_t at = 0;
    for (Slot* s : order) {
      s->begin = at;
      s->end = at + static_cast<uint64_t>(NumElements(s->shape)) * SizeOf(s->dtype);
      at = s->end;
      layout_.push_back(s);
    }
    data_bytes_ = at;
    OCKPT_ASSIGN_OR_RETURN(std::string header, Header(nullptr));
    header_bytes_ = RoundUp8(header.size() + kHeaderReserve);
    if (header_bytes_ > kMaxHeaderBytes) {
      return UnimplementedError("{}: the header would be {} bytes, over the format's {}-byte limit",
                                path_, header_bytes_, kMaxHeaderBytes);
    }
    OCKPT_RETURN_IF_ERROR(WriteHeader(header));
    return file_.Truncate(8 + header_bytes_ + data_bytes_);
  }

  Status WriteArray(const LeafRecord& leaf,
                    const std::function<Status(ArrayWriter&)>& fill) override {
    OCKPT_RETURN_IF_ERROR(WriteArrayData(leaf, fill));
    return RecordArray(leaf);
  }

  // Every tensor has its place in the file from Begin on: several may be
  // written at once (pwrite); only RecordArray, on the calling thread,
  // changes the sink's state.
  bool concurrent_arrays() const override { return begun_; }
  Status WriteArrayData(const LeafRecord& leaf,
                        const std::function<Status(ArrayWriter&)>& fill) override {
    if (!begun_)
      return InternalError("{}: the safetensors sink needs Begin() with every leaf first", path_);
    std::string name = leaf.name();
    auto it = slot_of_.find(name);
    if (it == slot_of_.end())
      return InternalError("{}: leaf '{}' was not announced in Begin()", path_, name);
    Slot& s = slots_[it->second];
    if (s.written || !leaf.HasArrayData() || *leaf.dtype != s.dtype || *leaf.shape != s.shape) {
      return InternalError("{}: leaf '{}' differs from what Begin() announced, or came twice",
                           path_, name);
    }
    TensorWriter w(&file_, 8 + header_bytes_ + s.begin, s.end - s.begin);
    OCKPT_RETURN_IF_ERROR(fill(w));
    if (w.written() != s.end - s.begin) {
      return InternalError("{}: leaf '{}': {} of {} bytes written", path_, name, w.written(),
                           s.end - s.begin);
    }
    return Status::Ok();
  }
  Status RecordArray(const LeafRecord& leaf) override {
    auto it = slot_of_.find(leaf.name());
    if (it == slot_of_.end())
      return InternalError("{}: leaf '{}' was not announced in Begin()", path_, leaf.name());
    slots_[it->second].written = true;
    return Status::Ok();
  }

  Status WriteLeaf(const LeafRecord& leaf) override {
    if (!begun_)
      return InternalError("{}: the safetensors sink needs Begin() with every leaf first", path_);
    return Status::Ok();  // recorded in ockpt.tree at Begin
  }

  Status Finish(const Json& custom_metadata) override {
    if (!begun_)
      return InternalError("{}: the safetensors sink needs Begin() with every leaf first", path_);
    for (const Slot& s : slots_) {
      if (!s.written) return InternalError("{}: leaf '{}' was never written", path_, s.name);
    }
    OCKPT_ASSIGN_OR_RETURN(std::string header, Header(custom_metadata));
    if (header.size() > header_bytes_) {
      uint64_t grown = RoundUp8(header.size());
      if (grown > kMaxHeaderBytes) {
        return UnimplementedError(
            "{}: the header would be {} bytes, over the format's {}-byte limit", path_, grown,
            kMaxHeaderBytes);
      }
      OCKPT_RETURN_IF_ERROR(MoveData(grown - header_bytes_));
      header_bytes_ = grown;
    }
    OCKPT_RETURN_IF_ERROR(WriteHeader(header));
    return file_.Close();
  }

 private:
  static uint64_t RoundUp8(uint64_t n) { return (n + 7) / 8 * 8; }

  Result<std::string> Header(const Json& custom) {
    Json tree = Json::object();
    tree["leaves"] = tree_leaves_;
    tree["custom_metadata"] = custom;
    Json meta = Json::object();
    // String-valued custom metadata also goes straight into __metadata__
    // (e.g. {"format": "pt"}, which some readers look for).
    if (custom.is_object()) {
      for (const auto& [k, v] : custom.items()) {
        if (v.is_string() && k != kTreeKey) meta[k] = v;
      }
    }
    OCKPT_ASSIGN_OR_RETURN(meta[kTreeKey], DumpJson(tree, path_));
    Json h = Json::object();
    h["__metadata__"] = std::move(meta);
    for (const Slot* s : layout_) {
      Json t = Json::object();
      t["dtype"] = std::string(s->stored);
      t["shape"] = s->shape;
      t["data_offsets"] = Json::array({s->begin, s->end});
      h[s->name] = std::move(t);
    }
    return DumpJson(h, path_);
  }

  Status WriteHeader(const std::string& header) {
    Bytes b;
    PutU64LE(&b, header_bytes_);
    b += header;
    b.append(header_bytes_ - header.size(), ' ');
    return file_.WriteAt(0, b);
  }

  // Moves the data buffer `delta` bytes towards the end, last block first.
  Status MoveData(uint64_t delta) {
    OCKPT_ASSIGN_OR_RETURN(RandomAccessFile in, RandomAccessFile::Open(path_));
    uint64_t start = 8 + header_bytes_;
    uint64_t pos = data_bytes_;
    while (pos > 0) {
      uint64_t n = std::min<uint64_t>(pos, kMoveBlock);
      pos -= n;
      OCKPT_ASSIGN_OR_RETURN(Bytes block, in.Read(start + pos, n));
      OCKPT_RETURN_IF_ERROR(file_.WriteAt(start + delta + pos, block));
    }
    return Status::Ok();
  }

  WritableFile file_;
  std::string path_;
  bool begun_ = false;
  Json tree_leaves_;
  std::vector<Slot> slots_;
  std::vector<Slot*> layout_;  // slots in data order
  std::map<std::string, size_t> slot_of_;
  uint64_t data_bytes_ = 0;
  uint64_t header_bytes_ = 0;  // N: the JSON plus padding
};

}  // namespace

Result<std::unique_ptr<CheckpointSink>> CreateSafetensorsSink(const std::string& path) {
  if (PathExists(path)) return AlreadyExistsError("{} already exists", path);
  OCKPT_ASSIGN_OR_RETURN(WritableFile f, WritableFile::Create(path));
  return std::unique_ptr<CheckpointSink>(new SafetensorsSink(std::move(f), path));
}

}  // namespace ockpt::safetensors
