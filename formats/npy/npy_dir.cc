// .npy directory source.

#include "formats/npy/npy_dir.h"

#include <fmt/format.h>

#include "formats/npy/npy.h"
#include "lib/base/json.h"
#include "lib/base/file.h"

namespace ockpt::npy {
namespace {

class NpyFileSource final : public ArraySource {
 public:
  NpyFileSource(RandomAccessFile file, uint64_t data_offset, uint64_t size)
      : file_(std::move(file)), data_offset_(data_offset), size_(size) {}
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return InternalError("read of {} bytes at {} outside the {}-byte array in {}", n, offset, size_,
                           file_.path());
    }
    return file_.ReadInto(data_offset_ + offset, n, dst);
  }
  // pread.
  bool concurrent() const override { return true; }

 private:
  RandomAccessFile file_;
  uint64_t data_offset_;
  uint64_t size_;
};

class NpyDirSource final : public CheckpointSource {
 public:
  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_metadata_; }
  Json format_metadata() const override { return format_metadata_; }
  std::string Describe() const override { return dir_; }
  std::vector<std::string> warnings() const override { return warnings_; }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    if (i >= leaves_.size() || !leaves_[i].HasArrayData()) return InternalError("leaf {} has no array", i);
    DType d;
    Shape s;
    return OpenNpyFile(files_[i], &d, &s, leaves_[i].dtype);
  }

  std::string dir_;
  std::vector<LeafRecord> leaves_;
  std::vector<std::string> files_;  // parallel to leaves_
  Json custom_metadata_;
  Json format_metadata_;               // _tree.json's "format_metadata", or null
  std::vector<std::string> warnings_;  // what the directory walk skipped
};

std::string LeafFile(const std::string& dir, const KeyPath& kp) {
  std::string p = dir;
  for (const PathKey& k : kp) p = JoinPath(p, k.key);
  return p + ".npy";
}

bool SafeComponent(const std::string& k) {
  return !k.empty() && k != "." && k != ".." && k.find('/') == std::string::npos &&
         k.find('\0') == std::string::npos;
}

// Symlinked directories are followed except back into a directory on the
// current path (lib's WalkTree), so that `-> .` links cannot loop.
Status Walk(const std::string& dir, NpyDirSource* src) {
  return WalkTree(
      dir,
      [&](const std::vector<std::string>& components, const std::string&) -> Status {
        const std::string& n = components.back();
        if (n.size() <= 4 || n.substr(n.size() - 4) != ".npy") return Status::Ok();
        LeafRecord r;
        for (size_t k = 0; k + 1 < components.size(); ++k) {
          r.keypath.push_back({components[k], KeyType::kDict});
        }
        r.keypath.push_back({n.substr(0, n.size() - 4), KeyType::kDict});
        r.value_type = "np.ndarray";
        src->leaves_.push_back(std::move(r));
        return Status::Ok();
      },
      &src->warnings_);
}

class NpyDirSink final : public CheckpointSink {
 public:
  explicit NpyDirSink(std::string dir) : dir_(std::move(dir)) {}

  Status WriteArray(const LeafRecord& leaf, const std::function<Status(ArrayWriter&)>& fill) override {
    OCKPT_RETURN_IF_ERROR(WriteArrayData(leaf, fill));
    return RecordArray(leaf);
  }
  // Each array is a file of its own: several may be written at once.
  bool concurrent_arrays() const override { return true; }
  Status WriteArrayData(const LeafRecord& leaf,
                        const std::function<Status(ArrayWriter&)>& fill) override {
    std::string name = leaf.name();
    if (leaf.keypath.empty()) return UnimplementedError("a bare top-level array cannot be written as .npy");
    for (const PathKey& k : leaf.keypath) {
      if (!SafeComponent(k.key)) {
        return DataLossError("leaf '{}': key '{}' cannot be used as a file name", name, k.key);
      }
    }
    std::string path = LeafFile(dir_, leaf.keypath);
    OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(path)));
    NpyHeader header{std::string(Info(*leaf.dtype).npy_descr), false, *leaf.shape};
    uint64_t bytes = static_cast<uint64_t>(NumElements(*leaf.shape)) * SizeOf(*leaf.dtype);
    OCKPT_ASSIGN_OR_RETURN(NpyFileWriter file, NpyFileWriter::Create(path, header, bytes));
    OCKPT_RETURN_IF_ERROR(fill(file));
    return file.Close();
  }
  Status RecordArray(const LeafRecord& leaf) override {
    leaves_.push_back(leaf.ToJson());
    return Status::Ok();
  }
  Status WriteLeaf(const LeafRecord& leaf) override {
    leaves_.push_back(leaf.ToJson());
    return Status::Ok();
  }
  bool KeepFormatMetadata(const Json& format_metadata) override {
    format_metadata_ = format_metadata;
    return true;
  }
  Status Finish(const Json& custom_metadata) override {
    Json tree;
    tree["leaves"] = std::move(leaves_);
    tree["custom_metadata"] = custom_metadata;
    if (!format_metadata_.is_null()) tree["format_metadata"] = format_metadata_;
    return WriteFile(JoinPath(dir_, "_tree.json"), DumpJson(tree, 2) + "\n");
  }

 private:
  std::string dir_;
  Json leaves_ = Json::array();
  Json format_metadata_;
};

}  // namespace

Result<std::unique_ptr<CheckpointSink>> CreateNpyDirectorySink(const std::string& dir) {
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));
  return std::unique_ptr<CheckpointSink>(new NpyDirSink(dir));
}

Result<std::unique_ptr<ArraySource>> OpenNpyFile(const std::string& path, DType* dtype, Shape* shape,
                                                 std::optional<DType> expected) {
  OCKPT_ASSIGN_OR_RETURN(RandomAccessFile f, RandomAccessFile::Open(path));
  OCKPT_ASSIGN_OR_RETURN(Bytes head, f.Read(0, std::min<uint64_t>(f.size(), 65536 + 12)));
  size_t off = 0;
  auto header = DecodeNpyHeader(head, &off);
  if (!header.ok()) return std::move(header).status().WithContext(path);
  if (header->fortran_order) {
    return UnimplementedError("{}: Fortran-order .npy files are not supported", path);
  }
  auto d = DTypeFromNpyDescr(header->descr);
  if (!d.ok()) return std::move(d).status().WithContext(path);
  DType stored = *d;
  if (expected && *expected != stored) {
    // Raw-bit types: the file holds their bits as an unsigned int of the same size.
    if (Info(*expected).native_numpy || SizeOf(*expected) != SizeOf(stored)) {
      return DataLossError("{} holds {} but _tree.json says {}", path, Name(stored), Name(*expected));
    }
    stored = *expected;
  }
  uint64_t count = 1;
  for (int64_t dim : header->shape) {
    if (dim < 0 || (dim > 0 && count > (uint64_t{1} << 50) / static_cast<uint64_t>(dim))) {
      return DataLossError("{}: shape too large", path);
    }
    count *= static_cast<uint64_t>(dim);
  }
  uint64_t bytes = count * SizeOf(stored);
  if (f.size() < off || f.size() - off != bytes) {
    return DataLossError("{}: expected {} data bytes for shape {} {}, found {}", path, bytes,
                         ShapeString(header->shape), Name(stored), f.size() - std::min<uint64_t>(off, f.size()));
  }
  *dtype = stored;
  *shape = header->shape;
  return std::unique_ptr<ArraySource>(new NpyFileSource(std::move(f), off, bytes));
}

Result<std::unique_ptr<CheckpointSource>> OpenNpyDirectory(const std::string& dir) {
  if (!IsDirectory(dir)) return NotFoundError("{} is not a directory", dir);
  auto src = std::make_unique<NpyDirSource>();
  src->dir_ = dir;
  std::string tree_path = JoinPath(dir, "_tree.json");
  if (IsRegularFile(tree_path)) {
    OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(tree_path, uint64_t{1} << 30));
    OCKPT_ASSIGN_OR_RETURN(Json tree, ParseJsonBounded(text, tree_path));
    if (!tree.is_object() || !tree.contains("leaves") || !tree["leaves"].is_array()) {
      return DataLossError("{}: expected {{\"leaves\": [...], \"custom_metadata\": ...}}", tree_path);
    }
    if (tree.contains("custom_metadata")) src->custom_metadata_ = tree["custom_metadata"];
    if (tree.contains("format_metadata")) {
      if (!tree["format_metadata"].is_object() && !tree["format_metadata"].is_null()) {
        return DataLossError("{}: \"format_metadata\" must be an object", tree_path);
      }
      src->format_metadata_ = tree["format_metadata"];
    }
    for (const Json& j : tree["leaves"]) {
      auto r = LeafRecord::FromJson(j);
      if (!r.ok()) return Status(StatusCode::kDataLoss, r.status().message()).WithContext(tree_path);
      if (r->value_type.empty()) r->value_type = "np.ndarray";
      src->leaves_.push_back(std::move(r).value());
    }
  } else {
    OCKPT_RETURN_IF_ERROR(Walk(dir, src.get()));
  }
  SortLeaves(&src->leaves_);
  if (src->leaves_.empty()) return NotFoundError("{} holds no .npy files and no _tree.json leaves", dir);
  for (LeafRecord& r : src->leaves_) {
    std::string file;
    bool has_data = !IsEmptyNodeType(r.value_type) && r.value_type != kString;
    if (has_data) {
      for (const PathKey& k : r.keypath) {
        if (!SafeComponent(k.key)) {
          return DataLossError("{}: leaf key '{}' cannot be a file name", tree_path, k.key);
        }
      }
      if (r.keypath.empty()) return UnimplementedError("{}: a bare top-level array is not supported", dir);
      file = LeafFile(dir, r.keypath);
      if (!IsRegularFile(file)) {
        return NotFoundError("{}: leaf '{}' is listed in _tree.json but {} is missing", dir, r.name(), file);
      }
      DType d;
      Shape s;
      OCKPT_ASSIGN_OR_RETURN(auto arr, OpenNpyFile(file, &d, &s, r.dtype));
      if (r.shape && *r.shape != s) {
        return DataLossError("{}: _tree.json says shape {} for '{}', the file holds {}", dir,
                             ShapeString(*r.shape), r.name(), ShapeString(s));
      }
      r.dtype = d;
      r.shape = s;
    } else if (r.value_type == kString && !r.string_value) {
      return DataLossError("{}: string leaf '{}' has no \"value\" in _tree.json", dir, r.name());
    }
    src->files_.push_back(std::move(file));
  }
  return std::unique_ptr<CheckpointSource>(std::move(src));
}

}  // namespace ockpt::npy
