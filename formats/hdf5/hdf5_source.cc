// Reading an HDF5 file as a tree.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "formats/common/tree_check.h"
#include "formats/hdf5/h5_calls.h"
#include "formats/hdf5/hdf5.h"
#include "lib/base/json.h"
#include "lib/base/file.h"

namespace ockpt::hdf5 {
namespace {

using h5::Check;
using h5::Handle;

constexpr StatusCode kBad = StatusCode::kDataLoss;
constexpr int kMaxDepth = 64;
constexpr size_t kMaxObjects = size_t{1} << 20;
constexpr uint64_t kMaxElements = uint64_t{1} << 50;
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;

std::string ObjectPath(const KeyPath& kp) {
  std::string p;
  for (const PathKey& k : kp) p += "/" + k.key;
  return p.empty() ? "/" : p;
}

// Random access to one dataset through hyperslab reads.
class DatasetSource final : public ArraySource {
 public:
  DatasetSource(Handle dataset, Handle memtype, Shape shape, size_t elem, std::string where)
      : dataset_(std::move(dataset)),
        memtype_(std::move(memtype)),
        shape_(std::move(shape)),
        elem_(elem),
        where_(std::move(where)) {
    size_ = static_cast<uint64_t>(NumElements(shape_)) * elem_;
  }
  ~DatasetSource() override {
    h5::Session session;
    dataset_.Close().IgnoreError();
    memtype_.Close().IgnoreError();
  }

  uint64_t size() const override { return size_; }

  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return InternalError("{}: read of {} bytes at {} outside the {}-byte array", where_, n,
                           offset, size_);
    }
    if (n == 0) return Status::Ok();
    uint64_t first = offset / elem_;
    uint64_t last = (offset + n + elem_ - 1) / elem_;
    if (offset % elem_ == 0 && n % elem_ == 0) return ReadElements(first, last, dst);
    // Bytes that split elements: read the covering elements aside.
    Bytes buf((last - first) * elem_, '\0');
    OCKPT_RETURN_IF_ERROR(ReadElements(first, last, buf.data()));
    std::memcpy(dst, buf.data() + (offset - first * elem_), n);
    return Status::Ok();
  }

 private:
  Status ReadElements(uint64_t begin, uint64_t end, char* dst) const {
    h5::Session session;
    if (shape_.empty()) {
      return Check(H5Dread(dataset_.get(), memtype_.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, dst),
                   kBad, fmt::format("reading {}", where_));
    }
    OCKPT_ASSIGN_OR_RETURN(Handle filespace,
                           Check(H5Dget_space(dataset_.get()), kBad, "H5Dget_space"));
    for (const h5::Block& b : h5::SplitRange(shape_, begin, end)) {
      OCKPT_RETURN_IF_ERROR(
          Check(H5Sselect_hyperslab(filespace.get(), H5S_SELECT_SET, b.start.data(), nullptr,
                                    b.count.data(), nullptr),
                StatusCode::kInternal, "H5Sselect_hyperslab"));
      // Same shape as the file selection (see DatasetWriter::WriteAt).
      OCKPT_ASSIGN_OR_RETURN(
          Handle memspace,
          Check(H5Screate_simple(static_cast<int>(b.count.size()), b.count.data(), nullptr),
                StatusCode::kInternal, "H5Screate_simple"));
      OCKPT_RETURN_IF_ERROR(Check(H5Dread(dataset_.get(), memtype_.get(), memspace.get(),
                                          filespace.get(), H5P_DEFAULT, dst),
                                  kBad, fmt::format("reading {}", where_)));
      dst += b.elements * elem_;
    }
    return Status::Ok();
  }

  Handle dataset_;
  Handle memtype_;
  Shape shape_;
  size_t elem_;
  uint64_t size_ = 0;
  std::string where_;
};

struct Stored {
  DType file_dtype;      // what the dataset's HDF5 type reads as
  bool filtered = false;  // chunks pass through filters (compression, shuffle, ...)
};

// Chunk cache bounds. Filtered chunks are decoded whole, so the cache holds
// one (up to 1 GiB) lest each read decode it again; unfiltered chunks are
// read straight from the file when larger than the cache, so it stays small.
constexpr uint64_t kMinChunkCache = uint64_t{1} << 20;
constexpr uint64_t kMaxUnfilteredChunkCache = uint64_t{64} << 20;
constexpr uint64_t kMaxFilteredChunkCache = uint64_t{1} << 30;

class Hdf5Source final : public CheckpointSource {
 public:
  explicit Hdf5Source(std::string path) : path_(std::move(path)) {}
  ~Hdf5Source() override {
    h5::Session session;
    file_.Close().IgnoreError();
  }

  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_; }
  std::string Describe() const override { return path_; }

  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    if (i >= leaves_.size() || !leaves_[i].HasArrayData())
      return InternalError("leaf {} has no array", i);
    const LeafRecord& r = leaves_[i];
    std::string obj = ObjectPath(r.keypath);
    std::string where = fmt::format("{}: dataset {}", path_, obj);
    h5::Session session;
    auto it = stored_.find(obj);
    if (it == stored_.end()) return InternalError("{} was not listed", where);
    OCKPT_ASSIGN_OR_RETURN(
        Handle dapl, Check(H5Pcreate(H5P_DATASET_ACCESS), StatusCode::kInternal, "H5Pcreate"));
    if (r.chunk_shape) {
      // Room for one whole chunk, so reading it row by row decodes it once.
      uint64_t chunk_bytes =
          static_cast<uint64_t>(NumElements(*r.chunk_shape)) * SizeOf(it->second.file_dtype);
      size_t cache = static_cast<size_t>(std::clamp<uint64_t>(
          chunk_bytes, kMinChunkCache,
          it->second.filtered ? kMaxFilteredChunkCache : kMaxUnfilteredChunkCache));
      OCKPT_RETURN_IF_ERROR(Check(H5Pset_chunk_cache(dapl.get(), 521, cache, 1.0),
                                  StatusCode::kInternal, "H5Pset_chunk_cache"));
    }
    OCKPT_ASSIGN_OR_RETURN(Handle ds, Check(H5Dopen2(file_.get(), obj.c_str(), dapl.get()), kBad,
                                            fmt::format("opening {}", where)));
    OCKPT_ASSIGN_OR_RETURN(Handle memtype, h5::ReadTypeFor(it->second.file_dtype));
    return std::unique_ptr<ArraySource>(new DatasetSource(
        std::move(ds), std::move(memtype), *r.shape, SizeOf(*r.dtype), std::move(where)));
  }

  Status Load() {
    OCKPT_RETURN_IF_ERROR(CheckRegularFile(path_));
    OCKPT_ASSIGN_OR_RETURN(file_size_, FileSize(path_));
    h5::Session session;
    OCKPT_ASSIGN_OR_RETURN(bool is_h5, h5::CheckTri(H5Fis_hdf5(path_.c_str()), kBad,
                                                    fmt::format("{} is not an HDF5 file", path_)));
    if (!is_h5) return DataLossError("{} is not an HDF5 file (no HDF5 signature)", path_);
    OCKPT_ASSIGN_OR_RETURN(file_, Check(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), kBad,
                                        fmt::format("opening {}", path_)));
    OCKPT_ASSIGN_OR_RETURN(Handle root, Check(H5Gopen2(file_.get(), "/", H5P_DEFAULT), kBad,
                                              fmt::format("{}: opening the root group", path_)));
    auto custom = h5::ReadStringAttribute(root.get(), kAttrCustomMetadata);
    if (!custom.ok()) return std::move(custom).status().WithContext(path_);
    if (*custom) {
      OCKPT_ASSIGN_OR_RETURN(custom_,
                             ParseJsonBounded(**custom, fmt::format("{}: attribute {}", path_, kAttrCustomMetadata)));
    }
    KeyPath kp;
    OCKPT_RETURN_IF_ERROR(Walk(root.get(), kp, 0));
    SortLeaves(&leaves_);
    if (leaves_.empty()) return NotFoundError("{} holds no datasets", path_);
    return formats::CheckTreeShape(leaves_, path_);
  }

 private:
  static herr_t CollectLink(hid_t, const char* name, const H5L_info_t* info, void* data) {
    auto* out = static_cast<std::vector<std::pair<std::string, H5L_type_t>>*>(data);
    out->emplace_back(name, info->type);
    return 0;
  }

  Status Walk(hid_t group, KeyPath& kp, int depth) {
    std::string gpath = ObjectPath(kp);
    if (depth > kMaxDepth)
      return DataLossError("{}: groups nested too deeply at {} (a link cycle?)", path_, gpath);
    auto kt = h5::ReadStringAttribute(group, kAttrKeyType);
    if (!kt.ok()) return std::move(kt).status().WithContext(fmt::format("{}: {}", path_, gpath));
    KeyType child_type = (*kt && **kt == "sequence") ? KeyType::kSequence : KeyType::kDict;
    std::vector<std::pair<std::string, H5L_type_t>> links;
    hsize_t idx = 0;
    OCKPT_RETURN_IF_ERROR(
        Check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, CollectLink, &links), kBad,
              fmt::format("{}: listing {}", path_, gpath)));
    for (const auto& [name, type] : links) {
      if (type != H5L_TYPE_HARD) continue;  // soft and external links are not followed
      if (++objects_ > kMaxObjects)
        return DataLossError("{}: more than {} objects", path_, kMaxObjects);
      kp.push_back({name, child_type});
      std::string opath = ObjectPath(kp);
      OCKPT_ASSIGN_OR_RETURN(Handle obj, Check(H5Oopen(group, name.c_str(), H5P_DEFAULT), kBad,
                                               fmt::format("{}: opening {}", path_, opath)));
      switch (H5Iget_type(obj.get())) {
        case H5I_GROUP: {
          H5G_info_t info;
          OCKPT_RETURN_IF_ERROR(
              Check(H5Gget_info(obj.get(), &info), kBad, fmt::format("{}: {}", path_, opath)));
          if (info.nlinks > 0) {
            OCKPT_RETURN_IF_ERROR(Walk(obj.get(), kp, depth + 1));
          } else {
            // An empty group: an empty node ("Dict" unless ockpt said otherwise).
            auto vt = h5::ReadStringAttribute(obj.get(), kAttrValueType);
            if (!vt.ok())
              return std::move(vt).status().WithContext(fmt::format("{}: {}", path_, opath));
            LeafRecord r;
            r.keypath = kp;
            r.value_type = (*vt && IsEmptyNodeType(**vt)) ? **vt : "Dict";
            leaves_.push_back(std::move(r));
          }
          break;
        }
        case H5I_DATASET: {
          Status s = AddDataset(obj.get(), kp);
          if (!s.ok()) return std::move(s).WithContext(fmt::format("{}: dataset {}", path_, opath));
          break;
        }
        default:
          break;  // committed datatypes
      }
      kp.pop_back();
    }
    return Status::Ok();
  }

  Status AddDataset(hid_t ds, const KeyPath& kp) {
    LeafRecord r;
    r.keypath = kp;
    OCKPT_ASSIGN_OR_RETURN(Handle type, Check(H5Dget_type(ds), kBad, "H5Dget_type"));
    OCKPT_ASSIGN_OR_RETURN(Handle space, Check(H5Dget_space(ds), kBad, "H5Dget_space"));
    H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
    if (sclass == H5S_NULL)
      return UnimplementedError("datasets with a null dataspace are not supported");
    if (sclass != H5S_SCALAR && sclass != H5S_SIMPLE) return DataLossError("unreadable dataspace");
    Shape shape;
    if (sclass == H5S_SIMPLE) {
      int rank = H5Sget_simple_extent_ndims(space.get());
      if (rank < 0 || rank > H5S_MAX_RANK) return DataLossError("bad rank {}", rank);
      std::vector<hsize_t> dims(static_cast<size_t>(rank));
      if (H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
        return DataLossError("unreadable dataspace: {}", h5::TakeErrorStack());
      }
      uint64_t count = 1;
      for (hsize_t d : dims) {
        if (d > 0 && count > kMaxElements / d) return DataLossError("shape too large");
        count *= d;
        shape.push_back(static_cast<int64_t>(d));
      }
    }
    auto vt = h5::ReadStringAttribute(ds, kAttrValueType);
    if (!vt.ok()) return vt.status();
    if (H5Tget_class(type.get()) == H5T_STRING) {
      if (!shape.empty() && NumElements(shape) != 1) {
        return UnimplementedError(
            "string arrays of shape {} are not supported (only single strings)",
            ShapeString(shape));
      }
      OCKPT_ASSIGN_OR_RETURN(std::string value, ReadString(ds, type.get(), space.get()));
      r.value_type = std::string(kString);
      r.string_value = std::move(value);
      leaves_.push_back(std::move(r));
      return Status::Ok();
    }
    OCKPT_ASSIGN_OR_RETURN(DType file_dtype, h5::DTypeOf(type.get()));
    DType dtype = file_dtype;
    auto real = h5::ReadStringAttribute(ds, kAttrDType);
    if (!real.ok()) return real.status();
    if (*real) {
      auto d = DTypeFromName(**real);
      if (!d.ok()) return DataLossError("attribute {}: unknown dtype '{}'", kAttrDType, **real);
      if (*d != file_dtype) {
        if (Info(*d).native_numpy || SizeOf(*d) != SizeOf(file_dtype) ||
            Info(file_dtype).kind != DTypeKind::kUInt) {
          return DataLossError("attribute {} says {} but the dataset holds {}", kAttrDType,
                               Name(*d), Name(file_dtype));
        }
        dtype = *d;
      }
    }
    r.value_type =
        (*vt && !IsEmptyNodeType(**vt) && **vt != kString) ? **vt : std::string(kNpArray);
    r.dtype = dtype;
    r.shape = shape;
    OCKPT_ASSIGN_OR_RETURN(Handle dcpl,
                           Check(H5Dget_create_plist(ds), kBad, "H5Dget_create_plist"));
    const bool filtered = H5Pget_nfilters(dcpl.get()) > 0;
    if (H5Dget_storage_size(ds) > file_size_) {
      return DataLossError("{} bytes of storage claimed in a file of {} bytes",
                           H5Dget_storage_size(ds), file_size_);
    }
    if (!shape.empty() && H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
      std::vector<hsize_t> chunk(shape.size());
      if (H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) ==
          static_cast<int>(chunk.size())) {
        // HDF5 allocates a whole chunk to read any part of it: a chunk far
        // larger than the file could hold (compressed at deflate's best,
        // ~1:1032) is a hostile header, refused before any read.
        uint64_t chunk_bytes = SizeOf(file_dtype);
        for (hsize_t c : chunk) {
          if (c == 0 || chunk_bytes > (uint64_t{1} << 40) / c) {
            return DataLossError("chunk shape [{}] is invalid or too large", fmt::join(chunk, ","));
          }
          chunk_bytes *= c;
        }
        const uint64_t ratio = filtered ? 1100 : 1;
        const uint64_t limit = std::max<uint64_t>(uint64_t{64} << 20, file_size_ * ratio);
        if (chunk_bytes > limit) {
          return DataLossError("chunks of {} bytes cannot come from a file of {} bytes",
                               chunk_bytes, file_size_);
        }
        r.chunk_shape = Shape(chunk.begin(), chunk.end());
      }
      H5Eclear2(H5E_DEFAULT);
    }
    auto ws = h5::ReadInt64Attribute(ds, kAttrWriteShape);
    if (!ws.ok()) return ws.status();
    if (*ws) r.write_shape = Shape((*ws)->begin(), (*ws)->end());
    auto sh = h5::ReadStringAttribute(ds, kAttrSharding);
    if (!sh.ok()) return sh.status();
    if (*sh) {
      OCKPT_ASSIGN_OR_RETURN(r.sharding, ParseJsonBounded(**sh, fmt::format("attribute {}", kAttrSharding)));
    }
    auto ext = h5::ReadStringAttribute(ds, kAttrExtMetadata);
    if (!ext.ok()) return ext.status();
    if (*ext) {
      OCKPT_ASSIGN_OR_RETURN(r.ext_metadata,
                             ParseJsonBounded(**ext, fmt::format("attribute {}", kAttrExtMetadata)));
    }
    stored_[ObjectPath(kp)] = Stored{file_dtype, filtered};
    leaves_.push_back(std::move(r));
    return Status::Ok();
  }

  static Result<std::string> ReadString(hid_t ds, hid_t type, hid_t space) {
    OCKPT_ASSIGN_OR_RETURN(bool is_var,
                           h5::CheckTri(H5Tis_variable_str(type), kBad, "H5Tis_variable_str"));
    if (is_var) {
      OCKPT_ASSIGN_OR_RETURN(Handle mem, h5::VarStringType());
      H5Tset_cset(mem.get(), H5Tget_cset(type));
      hid_t m = mem.get();
      return h5::ReadVlenStringIsolated(
          [ds, m](char** p) { return H5Dread(ds, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, p); },
          "string dataset");
    }
    size_t size = H5Tget_size(type);
    if (size == 0 || size > kMaxStringBytes) return DataLossError("bad string size {}", size);
    if (size > H5Dget_storage_size(ds) && H5Dget_storage_size(ds) > 0) {
      return DataLossError("string of {} bytes, but {} bytes are stored", size,
                           H5Dget_storage_size(ds));
    }
    OCKPT_ASSIGN_OR_RETURN(Handle mem, Check(H5Tcopy(type), kBad, "H5Tcopy"));
    std::string buf(size, '\0');
    OCKPT_RETURN_IF_ERROR(Check(H5Dread(ds, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()),
                                kBad, "reading string"));
    H5T_str_t pad = H5Tget_strpad(type);
    if (pad == H5T_STR_NULLTERM) {
      size_t end = buf.find('\0');
      if (end != std::string::npos) buf.resize(end);
    } else if (pad == H5T_STR_NULLPAD) {
      while (!buf.empty() && buf.back() == '\0') buf.pop_back();
    } else {
      while (!buf.empty() && buf.back() == ' ') buf.pop_back();
    }
    return buf;
  }

  std::string path_;
  uint64_t file_size_ = 0;
  Handle file_;
  std::vector<LeafRecord> leaves_;
  std::map<std::string, Stored> stored_;  // object path -> how it is stored
  Json custom_;
  size_t objects_ = 0;
};

}  // namespace

bool LooksLikeHdf5(const std::string& path) {
  auto f = RandomAccessFile::Open(path);
  if (!f.ok()) return false;
  static constexpr char kSig[] = "\x89HDF\r\n\x1a\n";
  for (uint64_t at = 0; at + 8 <= f->size() && at <= (uint64_t{1} << 30); at = at ? at * 2 : 512) {
    auto b = f->Read(at, 8);
    if (b.ok() && std::memcmp(b->data(), kSig, 8) == 0) return true;
  }
  return false;
}

Result<std::unique_ptr<CheckpointSource>> OpenHdf5File(const std::string& path) {
  if (!PathExists(path)) return NotFoundError("{} does not exist", path);
  if (!IsRegularFile(path)) return DataLossError("{} is not a file", path);
  auto src = std::make_unique<Hdf5Source>(path);
  OCKPT_RETURN_IF_ERROR(src->Load());
  return std::unique_ptr<CheckpointSource>(std::move(src));
}

}  // namespace ockpt::hdf5
