// Reading .npz archives through libzip.

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "formats/common/tree_check.h"
#include "formats/npy/npy.h"
#include "formats/npz/npz.h"
#include "lib/base/json.h"
#include "lib/base/file.h"

namespace ockpt::npz {
namespace {

constexpr char kTreeMember[] = "_tree.json";
constexpr uint64_t kMaxNpyHeader = 65536 + 12;
constexpr uint64_t kMaxTreeBytes = uint64_t{1} << 30;
constexpr uint64_t kMaxElements = uint64_t{1} << 50;
constexpr size_t kCopyBuffer = size_t{1} << 20;

// One open archive, shared by the source and its array sources. libzip is
// not safe for concurrent use of one zip_t, so every call holds mu.
struct Archive {
  ~Archive() {
    if (za) zip_discard(za);
  }
  std::string path;
  zip_t* za = nullptr;
  std::mutex mu;
};

std::string ZipMessage(zip_error_t* e) { return zip_error_strerror(e); }

class ZipFile {
 public:
  explicit ZipFile(zip_file_t* f) : f_(f) {}
  ZipFile(ZipFile&& o) noexcept : f_(o.f_) { o.f_ = nullptr; }
  ZipFile(const ZipFile&) = delete;
  ZipFile& operator=(const ZipFile&) = delete;
  ~ZipFile() {
    if (f_) zip_fclose(f_);
  }
  zip_file_t* get() const { return f_; }

 private:
  zip_file_t* f_;
};

struct Member {
  zip_uint64_t index;
  std::string name;
  uint64_t size;  // uncompressed
  bool stored;
};

// Caller holds archive.mu.
Result<ZipFile> OpenMember(Archive& a, const Member& m) {
  zip_file_t* f = zip_fopen_index(a.za, m.index, 0);
  if (f == nullptr) {
    return DataLossError("{}: cannot open member '{}': {}", a.path, m.name, zip_strerror(a.za));
  }
  return ZipFile(f);
}

// Reads up to n bytes from the member's current position. Caller holds mu.
Result<size_t> ReadSome(Archive& a, const Member& m, ZipFile& f, char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    zip_int64_t r = zip_fread(f.get(), dst + done, n - done);
    if (r < 0) {
      return DataLossError("{}: member '{}': {}", a.path, m.name, zip_file_strerror(f.get()));
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

// A stored member: seeks and reads in place.
class StoredArraySource final : public ArraySource {
 public:
  StoredArraySource(std::shared_ptr<Archive> a, Member m, ZipFile f, uint64_t data_offset,
                    uint64_t size)
      : a_(std::move(a)),
        m_(std::move(m)),
        f_(std::move(f)),
        data_offset_(data_offset),
        size_(size) {}
  ~StoredArraySource() override {
    std::lock_guard<std::mutex> lock(a_->mu);
    ZipFile drop(std::move(f_));
  }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return InternalError("{}: read of {} bytes at {} outside member '{}'", a_->path, n, offset,
                           m_.name);
    }
    std::lock_guard<std::mutex> lock(a_->mu);
    if (zip_fseek(f_.get(), static_cast<zip_int64_t>(data_offset_ + offset), SEEK_SET) != 0) {
      return DataLossError("{}: seeking in member '{}': {}", a_->path, m_.name,
                           zip_file_strerror(f_.get()));
    }
    OCKPT_ASSIGN_OR_RETURN(size_t got, ReadSome(*a_, m_, f_, dst, n));
    if (got != n) return DataLossError("{}: member '{}' is truncated", a_->path, m_.name);
    return Status::Ok();
  }

 private:
  std::shared_ptr<Archive> a_;
  Member m_;
  mutable ZipFile f_;
  uint64_t data_offset_;
  uint64_t size_;
};

// A compressed member inflated into an unnamed temporary file.
class InflatedArraySource final : public ArraySource {
 public:
  InflatedArraySource(int fd, uint64_t data_offset, uint64_t size, std::string what)
      : fd_(fd), data_offset_(data_offset), size_(size), what_(std::move(what)) {}
  ~InflatedArraySource() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return InternalError("{}: read of {} bytes at {} outside the array", what_, n, offset);
    }
    size_t done = 0;
    while (done < n) {
      ssize_t r =
          ::pread(fd_, dst + done, n - done, static_cast<off_t>(data_offset_ + offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return StatusFromErrno(errno, "read the inflated copy of", what_);
      }
      if (r == 0) return InternalError("{}: inflated copy ended early", what_);
      done += static_cast<size_t>(r);
    }
    return Status::Ok();
  }

 private:
  int fd_;
  uint64_t data_offset_;
  uint64_t size_;
  std::string what_;
};

class NpzSource final : public CheckpointSource {
 public:
  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_; }
  std::string Describe() const override { return archive_->path; }

  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    if (i >= leaves_.size() || !leaves_[i].HasArrayData())
      return InternalError("leaf {} has no array", i);
    const Member& m = members_.at(member_of_[i]);
    const uint64_t data_offset = data_offset_[i];
    const uint64_t bytes =
        static_cast<uint64_t>(NumElements(*leaves_[i].shape)) * SizeOf(*leaves_[i].dtype);
    std::string what = fmt::format("{}: member '{}'", archive_->path, m.name);
    std::unique_lock<std::mutex> lock(archive_->mu);
    OCKPT_ASSIGN_OR_RETURN(ZipFile f, OpenMember(*archive_, m));
    if (m.stored) {
      lock.unlock();
      return std::unique_ptr<ArraySource>(
          new StoredArraySource(archive_, m, std::move(f), data_offset, bytes));
    }
    // Inflate the whole member once into an unnamed temporary file.
    std::string dir = std::filesystem::temp_directory_path().string();
    std::string tmpl = dir + "/ockpt-npz-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return StatusFromErrno(errno, "create a temporary file in", dir);
    ::unlink(tmpl.c_str());
    auto fail = [fd](Status s) {
      ::close(fd);
      return s;
    };
    Bytes buf(kCopyBuffer, '\0');
    uint64_t total = 0;
    while (true) {
      auto got = ReadSome(*archive_, m, f, buf.data(), buf.size());
      if (!got.ok()) return fail(got.status());
      if (*got == 0) break;
      if (*got > m.size - std::min(total, m.size)) {
        return fail(DataLossError("{} inflates to more than its recorded {} bytes", what, m.size));
      }
      size_t done = 0;
      while (done < *got) {
        ssize_t w = ::pwrite(fd, buf.data() + done, *got - done, static_cast<off_t>(total + done));
        if (w < 0) {
          if (errno == EINTR) continue;
          return fail(StatusFromErrno(errno, "write a temporary file in", dir));
        }
        done += static_cast<size_t>(w);
      }
      total += *got;
    }
    if (total != m.size)
      return fail(DataLossError("{} inflates to {} bytes, expected {}", what, total, m.size));
    return std::unique_ptr<ArraySource>(new InflatedArraySource(fd, data_offset, bytes, what));
  }

  Status Load(const std::string& path) {
    archive_ = std::make_shared<Archive>();
    archive_->path = path;
    OCKPT_RETURN_IF_ERROR(CheckRegularFile(path));
    int err = 0;
    archive_->za = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (archive_->za == nullptr) {
      zip_error_t e;
      zip_error_init_with_code(&e, err);
      std::string msg = ZipMessage(&e);
      zip_error_fini(&e);
      if (err == ZIP_ER_NOENT) return NotFoundError("{} does not exist", path);
      if (err == ZIP_ER_OPEN || err == ZIP_ER_READ) return IoError("{}: {}", path, msg);
      return DataLossError("{} is not a readable .npz (ZIP) archive: {}", path, msg);
    }
    zip_int64_t n = zip_get_num_entries(archive_->za, 0);
    if (n < 0) return DataLossError("{}: cannot count members", path);
    std::map<std::string, size_t> npy_members;  // member name -> index in members_
    std::optional<size_t> tree_member;
    for (zip_int64_t i = 0; i < n; ++i) {
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat_index(archive_->za, static_cast<zip_uint64_t>(i), 0, &st) != 0) {
        return DataLossError("{}: member {}: {}", path, i, zip_strerror(archive_->za));
      }
      const zip_uint64_t need = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_METHOD;
      if ((st.valid & need) != need || st.name == nullptr)
        return DataLossError("{}: member {} lacks a name or size", path, i);
      std::string name = st.name;
      if (name.empty() || name.back() == '/') continue;  // directories
      bool is_tree = name == kTreeMember;
      bool is_npy = name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0;
      if (!is_tree && !is_npy) continue;
      if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        return UnimplementedError("{}: member '{}' is encrypted", path, name);
      }
      bool stored = st.comp_method == ZIP_CM_STORE;
      if (!stored && !zip_compression_method_supported(st.comp_method, 0)) {
        return UnimplementedError(
            "{}: member '{}' uses compression method {}, which this libzip cannot read", path, name,
            st.comp_method);
      }
      members_.push_back({static_cast<zip_uint64_t>(i), name, st.size, stored});
      if (is_tree) {
        tree_member = members_.size() - 1;
      } else if (!npy_members.emplace(name, members_.size() - 1).second) {
        return DataLossError("{}: member '{}' appears twice", path, name);
      }
    }
    if (tree_member) {
      OCKPT_RETURN_IF_ERROR(LoadTree(members_[*tree_member], npy_members));
    } else {
      for (const auto& [name, index] : npy_members) {
        LeafRecord r;
        std::string_view stem(name.data(), name.size() - 4);
        size_t start = 0;
        while (true) {
          size_t slash = stem.find('/', start);
          std::string_view k = stem.substr(
              start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
          if (!formats::IsPlainComponent(k)) {
            return DataLossError(
                "{}: member '{}' cannot be mapped to a key path ('{}' is not a valid key)", path,
                name, k);
          }
          r.keypath.push_back({std::string(k), KeyType::kDict});
          if (slash == std::string_view::npos) break;
          start = slash + 1;
        }
        r.value_type = std::string(kNpArray);
        leaves_.push_back(std::move(r));
      }
    }
    SortLeaves(&leaves_);
    if (leaves_.empty()) return NotFoundError("{} holds no .npy members", path);
    OCKPT_RETURN_IF_ERROR(formats::CheckTreeShape(leaves_, path));
    // Read every array member's .npy header.
    for (size_t i = 0; i < leaves_.size(); ++i) {
      LeafRecord& r = leaves_[i];
      member_of_.push_back(0);
      data_offset_.push_back(0);
      if (IsEmptyNodeType(r.value_type) || r.value_type == kString) continue;
      std::string name;
      for (const PathKey& k : r.keypath) {
        if (!formats::IsPlainComponent(k.key)) {
          return DataLossError("{}: leaf key '{}' cannot be part of a member name", path, k.key);
        }
        name += (name.empty() ? "" : "/") + k.key;
      }
      name += ".npy";
      auto it = npy_members.find(name);
      if (it == npy_members.end()) {
        return NotFoundError("{}: leaf '{}' is listed in _tree.json but member '{}' is missing",
                             path, r.name(), name);
      }
      member_of_.back() = it->second;
      OCKPT_RETURN_IF_ERROR(ReadHeader(members_[it->second], &r, &data_offset_.back()));
    }
    return Status::Ok();
  }

 private:
  Status LoadTree(const Member& m, const std::map<std::string, size_t>& npy_members) {
    const std::string& path = archive_->path;
    if (m.size > kMaxTreeBytes) return DataLossError("{}: _tree.json is {} bytes", path, m.size);
    Bytes text(m.size, '\0');
    {
      std::lock_guard<std::mutex> lock(archive_->mu);
      OCKPT_ASSIGN_OR_RETURN(ZipFile f, OpenMember(*archive_, m));
      OCKPT_ASSIGN_OR_RETURN(size_t got, ReadSome(*archive_, m, f, text.data(), text.size()));
      if (got != m.size) return DataLossError("{}: _tree.json is truncated", path);
    }
    OCKPT_ASSIGN_OR_RETURN(Json tree, ParseJsonBounded(text, path + ": _tree.json"));
    if (!tree.is_object() || !tree.contains("leaves") ||
        !tree["leaves"].is_array()) {
      return DataLossError(
          "{}: _tree.json: expected {{\"leaves\": [...], \"custom_metadata\": ...}}", path);
    }
    if (tree.contains("custom_metadata")) custom_ = tree["custom_metadata"];
    for (const Json& j : tree["leaves"]) {
      auto r = LeafRecord::FromJson(j);
      if (!r.ok()) return DataLossError("{}: _tree.json: {}", path, r.status().message());
      if (r->value_type.empty()) r->value_type = std::string(kNpArray);
      if (r->value_type == kString && !r->string_value) {
        return DataLossError("{}: _tree.json: string leaf '{}' has no \"value\"", path, r->name());
      }
      leaves_.push_back(std::move(r).value());
    }
    return Status::Ok();
  }

  // Parses the .npy header of member m into r's dtype and shape.
  Status ReadHeader(const Member& m, LeafRecord* r, uint64_t* data_offset) {
    const std::string& path = archive_->path;
    Bytes head(std::min<uint64_t>(m.size, kMaxNpyHeader), '\0');
    {
      std::lock_guard<std::mutex> lock(archive_->mu);
      OCKPT_ASSIGN_OR_RETURN(ZipFile f, OpenMember(*archive_, m));
      OCKPT_ASSIGN_OR_RETURN(size_t got, ReadSome(*archive_, m, f, head.data(), head.size()));
      head.resize(got);
    }
    std::string what = fmt::format("{}: member '{}'", path, m.name);
    size_t off = 0;
    auto header = npy::DecodeNpyHeader(head, &off);
    if (!header.ok()) return std::move(header).status().WithContext(what);
    if (header->fortran_order)
      return UnimplementedError("{}: Fortran-order arrays are not supported", what);
    auto d = DTypeFromNpyDescr(header->descr);
    if (!d.ok()) return std::move(d).status().WithContext(what);
    DType stored = *d;
    if (r->dtype && *r->dtype != stored) {
      // Raw-bit types: the member holds their bits as an unsigned int of the same size.
      if (Info(*r->dtype).native_numpy || SizeOf(*r->dtype) != SizeOf(stored)) {
        return DataLossError("{} holds {} but _tree.json says {}", what, Name(stored),
                             Name(*r->dtype));
      }
      stored = *r->dtype;
    }
    uint64_t count = 1;
    for (int64_t dim : header->shape) {
      if (dim < 0 || (dim > 0 && count > kMaxElements / static_cast<uint64_t>(dim))) {
        return DataLossError("{}: shape too large", what);
      }
      count *= static_cast<uint64_t>(dim);
    }
    uint64_t bytes = count * SizeOf(stored);
    if (m.size < off || m.size - off != bytes) {
      return DataLossError("{}: expected {} data bytes for shape {} {}, found {}", what, bytes,
                           ShapeString(header->shape), Name(stored),
                           m.size - std::min<uint64_t>(off, m.size));
    }
    if (r->shape && *r->shape != header->shape) {
      return DataLossError("{}: _tree.json says shape {}, the member holds {}", what,
                           ShapeString(*r->shape), ShapeString(header->shape));
    }
    r->dtype = stored;
    r->shape = header->shape;
    *data_offset = off;
    return Status::Ok();
  }

  std::shared_ptr<Archive> archive_;
  std::vector<Member> members_;
  std::vector<LeafRecord> leaves_;
  std::vector<size_t> member_of_;      // parallel to leaves_
  std::vector<uint64_t> data_offset_;  // parallel to leaves_: where the array starts in the member
  Json custom_;
};

}  // namespace

bool LooksLikeZip(const std::string& path) {
  auto f = RandomAccessFile::Open(path);
  if (!f.ok() || f->size() < 4) return false;
  auto b = f->Read(0, 4);
  return b.ok() && (*b == ByteView("PK\3\4", 4) || *b == ByteView("PK\5\6", 4));
}

Result<std::unique_ptr<CheckpointSource>> OpenNpzFile(const std::string& path) {
  if (!PathExists(path)) return NotFoundError("{} does not exist", path);
  if (!IsRegularFile(path)) return DataLossError("{} is not a file", path);
  auto src = std::make_unique<NpzSource>();
  OCKPT_RETURN_IF_ERROR(src->Load(path));
  return std::unique_ptr<CheckpointSource>(std::move(src));
}

}  // namespace ockpt::npz
