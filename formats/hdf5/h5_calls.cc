// HDF5 C API wrappers: every libhdf5 call ockpt makes, each turned into a
// Status naming the file, and the checks that keep untrusted files from
// crashing libhdf5 (a forked, limited child for variable-length strings).
// Kept together (~600 lines) so no other file includes hdf5.h.

#include "formats/hdf5/h5_calls.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ockpt::h5 {

std::recursive_mutex& Lock() {
  // Before the library's first call: no H5_term_library at exit. After a
  // failed H5Fclose (EFBIG, ENOSPC) libhdf5 keeps a half-closed file id, and
  // its exit handler crashed closing it again (SIGSEGV in H5F__close_cb).
  // Every file ockpt writes is closed (and checked) explicitly, and outputs
  // that failed are removed, so nothing is lost by skipping it.
  static std::recursive_mutex* mu = [] {
    H5dont_atexit();
    return new std::recursive_mutex;
  }();
  return *mu;
}

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_); }

namespace {

herr_t CollectError(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  std::string desc = err->desc ? err->desc : "";
  if (desc.empty()) {
    char buf[256] = {0};
    if (H5Eget_msg(err->min_num, nullptr, buf, sizeof(buf)) > 0) desc = buf;
  }
  out->push_back(fmt::format("{}: {}", err->func_name ? err->func_name : "?", desc));
  return 0;
}

}  // namespace

std::string TakeErrorStack() {
  std::vector<std::string> entries;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, CollectError, &entries);
  H5Eclear2(H5E_DEFAULT);
  if (entries.empty()) return "HDF5 reported an error without details";
  // The outermost call and the innermost causes are the useful ends.
  if (entries.size() > 6) {
    size_t dropped = entries.size() - 6;
    entries.erase(entries.begin() + 3, entries.begin() + 3 + static_cast<ptrdiff_t>(dropped));
  }
  std::string s;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) s += "; ";
    s += entries[i];
  }
  return s;
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    Close().IgnoreError();
    id_ = o.id_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

Status Handle::Close() {
  if (id_ < 0) return Status::Ok();
  Session session;
  hid_t id = id_;
  id_ = H5I_INVALID_HID;
  herr_t rc;
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      rc = H5Fclose(id);
      break;
    case H5I_GROUP:
      rc = H5Gclose(id);
      break;
    case H5I_DATATYPE:
      rc = H5Tclose(id);
      break;
    case H5I_DATASPACE:
      rc = H5Sclose(id);
      break;
    case H5I_DATASET:
      rc = H5Dclose(id);
      break;
    case H5I_ATTR:
      rc = H5Aclose(id);
      break;
    case H5I_GENPROP_LST:
      rc = H5Pclose(id);
      break;
    default:
      rc = H5Idec_ref(id) < 0 ? -1 : 0;
      break;
  }
  if (rc < 0) return IoError("closing an HDF5 object: {}", TakeErrorStack());
  return Status::Ok();
}

Result<Handle> Check(hid_t id, StatusCode code, std::string_view what) {
  if (id < 0) return Status(code, fmt::format("{}: {}", what, TakeErrorStack()));
  return Handle(id);
}

Status Check(herr_t rc, StatusCode code, std::string_view what) {
  if (rc < 0) return Status(code, fmt::format("{}: {}", what, TakeErrorStack()));
  return Status::Ok();
}

Result<bool> CheckTri(htri_t rc, StatusCode code, std::string_view what) {
  if (rc < 0) return Status(code, fmt::format("{}: {}", what, TakeErrorStack()));
  return rc > 0;
}

// ---- Types ----

namespace {

constexpr StatusCode kTypeErr = StatusCode::kInternal;

Result<Handle> CopyType(hid_t t) { return Check(H5Tcopy(t), kTypeErr, "H5Tcopy"); }

Result<Handle> SmallFloatType(size_t spos, size_t epos, size_t esize, size_t mpos, size_t msize,
                              size_t ebias) {
  OCKPT_ASSIGN_OR_RETURN(Handle t, CopyType(H5T_IEEE_F32LE));
  OCKPT_RETURN_IF_ERROR(
      Check(H5Tset_fields(t.get(), spos, epos, esize, mpos, msize), kTypeErr, "H5Tset_fields"));
  OCKPT_RETURN_IF_ERROR(Check(H5Tset_size(t.get(), 2), kTypeErr, "H5Tset_size"));
  OCKPT_RETURN_IF_ERROR(Check(H5Tset_ebias(t.get(), ebias), kTypeErr, "H5Tset_ebias"));
  return t;
}

hid_t UIntType(size_t size) {
  switch (size) {
    case 1:
      return H5T_STD_U8LE;
    case 2:
      return H5T_STD_U16LE;
    case 4:
      return H5T_STD_U32LE;
    default:
      return H5T_STD_U64LE;
  }
}

Result<Handle> ComplexType(hid_t part, size_t part_size) {
  OCKPT_ASSIGN_OR_RETURN(
      Handle t, Check(H5Tcreate(H5T_COMPOUND, 2 * part_size), kTypeErr, "H5Tcreate(H5T_COMPOUND)"));
  OCKPT_RETURN_IF_ERROR(Check(H5Tinsert(t.get(), "r", 0, part), kTypeErr, "H5Tinsert(r)"));
  OCKPT_RETURN_IF_ERROR(Check(H5Tinsert(t.get(), "i", part_size, part), kTypeErr, "H5Tinsert(i)"));
  return t;
}

std::string_view ClassName(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "float";
    case H5T_TIME:
      return "time";
    case H5T_STRING:
      return "string";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_COMPOUND:
      return "compound";
    case H5T_REFERENCE:
      return "reference";
    case H5T_ENUM:
      return "enum";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_ARRAY:
      return "array";
    default:
      return "unknown";
  }
}

}  // namespace

bool StoredAsRawBits(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kFloat16:
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kComplex64:
    case DType::kComplex128:
      return false;
    default:
      return true;
  }
}

Result<Handle> TypeFor(DType dtype) {
  switch (dtype) {
    case DType::kBool: {
      OCKPT_ASSIGN_OR_RETURN(Handle t,
                             Check(H5Tenum_create(H5T_STD_I8LE), kTypeErr, "H5Tenum_create"));
      int8_t v = 0;
      OCKPT_RETURN_IF_ERROR(
          Check(H5Tenum_insert(t.get(), "FALSE", &v), kTypeErr, "H5Tenum_insert"));
      v = 1;
      OCKPT_RETURN_IF_ERROR(Check(H5Tenum_insert(t.get(), "TRUE", &v), kTypeErr, "H5Tenum_insert"));
      return t;
    }
    case DType::kInt8:
      return CopyType(H5T_STD_I8LE);
    case DType::kInt16:
      return CopyType(H5T_STD_I16LE);
    case DType::kInt32:
      return CopyType(H5T_STD_I32LE);
    case DType::kInt64:
      return CopyType(H5T_STD_I64LE);
    case DType::kUInt8:
      return CopyType(H5T_STD_U8LE);
    case DType::kUInt16:
      return CopyType(H5T_STD_U16LE);
    case DType::kUInt32:
      return CopyType(H5T_STD_U32LE);
    case DType::kUInt64:
      return CopyType(H5T_STD_U64LE);
    case DType::kFloat16:
      return SmallFloatType(15, 10, 5, 0, 10, 15);
    case DType::kFloat32:
      return CopyType(H5T_IEEE_F32LE);
    case DType::kFloat64:
      return CopyType(H5T_IEEE_F64LE);
    case DType::kComplex64:
      return ComplexType(H5T_IEEE_F32LE, 4);
    case DType::kComplex128:
      return ComplexType(H5T_IEEE_F64LE, 8);
    default: {
      size_t size = SizeOf(dtype);
      if (size != 1 && size != 2 && size != 4 && size != 8) {
        return UnimplementedError("{} has no HDF5 type", Name(dtype));
      }
      return CopyType(UIntType(size));
    }
  }
}

Result<Handle> ReadTypeFor(DType dtype) {
  // A dataset stored as an IEEE-style 16-bit float with an 8-bit exponent.
  if (dtype == DType::kBFloat16) return SmallFloatType(15, 7, 8, 0, 7, 127);
  return TypeFor(dtype);
}

Result<Handle> VarStringType() {
  OCKPT_ASSIGN_OR_RETURN(Handle t, CopyType(H5T_C_S1));
  OCKPT_RETURN_IF_ERROR(Check(H5Tset_size(t.get(), H5T_VARIABLE), kTypeErr, "H5Tset_size"));
  OCKPT_RETURN_IF_ERROR(Check(H5Tset_cset(t.get(), H5T_CSET_UTF8), kTypeErr, "H5Tset_cset"));
  return t;
}

Result<DType> DTypeOf(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER: {
      bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      switch (size) {
        case 1:
          return is_signed ? DType::kInt8 : DType::kUInt8;
        case 2:
          return is_signed ? DType::kInt16 : DType::kUInt16;
        case 4:
          return is_signed ? DType::kInt32 : DType::kUInt32;
        case 8:
          return is_signed ? DType::kInt64 : DType::kUInt64;
        default:
          return UnimplementedError("{}-byte integers are not supported", size);
      }
    }
    case H5T_FLOAT: {
      if (size == 4) return DType::kFloat32;
      if (size == 8) return DType::kFloat64;
      if (size == 2) {
        size_t spos, epos, esize, mpos, msize;
        if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) {
          return DataLossError("unreadable float type: {}", TakeErrorStack());
        }
        if (spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10)
          return DType::kFloat16;
        if (spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7)
          return DType::kBFloat16;
      }
      return UnimplementedError("{}-byte floats of this layout are not supported", size);
    }
    case H5T_ENUM: {
      int n = H5Tget_nmembers(type);
      Handle base(H5Tget_super(type));
      if (n == 2 && base.valid() && H5Tget_class(base.get()) == H5T_INTEGER &&
          H5Tget_size(base.get()) <= 8) {
        bool ok = true;
        for (int i = 0; i < 2 && ok; ++i) {
          char* name = H5Tget_member_name(type, static_cast<unsigned>(i));
          alignas(8) unsigned char value[16] = {0};
          if (name == nullptr || H5Tget_member_value(type, static_cast<unsigned>(i), value) < 0 ||
              H5Tconvert(base.get(), H5T_NATIVE_LLONG, 1, value, nullptr, H5P_DEFAULT) < 0) {
            ok = false;
          } else {
            long long v;
            std::memcpy(&v, value, sizeof(v));
            std::string s = name;
            ok = (s == "FALSE" && v == 0) || (s == "TRUE" && v == 1);
          }
          if (name) H5free_memory(name);
        }
        H5Eclear2(H5E_DEFAULT);
        if (ok) return DType::kBool;
      }
      return UnimplementedError(
          "enum types other than h5py's bool {{FALSE: 0, TRUE: 1}} are not supported");
    }
    case H5T_COMPOUND: {
      if (H5Tget_nmembers(type) == 2) {
        char* n0 = H5Tget_member_name(type, 0);
        char* n1 = H5Tget_member_name(type, 1);
        bool names = n0 && n1 && std::string(n0) == "r" && std::string(n1) == "i";
        if (n0) H5free_memory(n0);
        if (n1) H5free_memory(n1);
        Handle t0(H5Tget_member_type(type, 0));
        Handle t1(H5Tget_member_type(type, 1));
        if (names && t0.valid() && t1.valid() && H5Tget_class(t0.get()) == H5T_FLOAT &&
            H5Tget_class(t1.get()) == H5T_FLOAT) {
          size_t s0 = H5Tget_size(t0.get()), s1 = H5Tget_size(t1.get());
          if (s0 == 4 && s1 == 4) return DType::kComplex64;
          if (s0 == 8 && s1 == 8) return DType::kComplex128;
        }
        H5Eclear2(H5E_DEFAULT);
      }
      return UnimplementedError(
          "compound types other than h5py's complex {{r, i}} are not supported");
    }
    default:
      return UnimplementedError("HDF5 {} types are not supported", ClassName(cls));
  }
}

// ---- Attributes ----

namespace {

constexpr uint64_t kMaxAttributeBytes = uint64_t{1} << 30;

Status DeleteIfExists(hid_t obj, const std::string& name) {
  OCKPT_ASSIGN_OR_RETURN(bool exists, CheckTri(H5Aexists(obj, name.c_str()), StatusCode::kIoError,
                                               fmt::format("H5Aexists({})", name)));
  if (exists) {
    OCKPT_RETURN_IF_ERROR(Check(H5Adelete(obj, name.c_str()), StatusCode::kIoError,
                                fmt::format("H5Adelete({})", name)));
  }
  return Status::Ok();
}

}  // namespace

Status WriteStringAttribute(hid_t obj, const std::string& name, std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    return UnimplementedError("attribute {}: text with NUL characters cannot be stored", name);
  }
  OCKPT_RETURN_IF_ERROR(DeleteIfExists(obj, name));
  OCKPT_ASSIGN_OR_RETURN(Handle type, VarStringType());
  OCKPT_ASSIGN_OR_RETURN(Handle space,
                         Check(H5Screate(H5S_SCALAR), StatusCode::kInternal, "H5Screate"));
  OCKPT_ASSIGN_OR_RETURN(
      Handle attr,
      Check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
            StatusCode::kIoError, fmt::format("creating attribute {}", name)));
  std::string copy(value);
  const char* p = copy.c_str();
  OCKPT_RETURN_IF_ERROR(Check(H5Awrite(attr.get(), type.get(), &p), StatusCode::kIoError,
                              fmt::format("writing attribute {}", name)));
  return attr.Close();
}

Status WriteInt64Attribute(hid_t obj, const std::string& name, const std::vector<int64_t>& values) {
  OCKPT_RETURN_IF_ERROR(DeleteIfExists(obj, name));
  hsize_t n = values.size();
  OCKPT_ASSIGN_OR_RETURN(Handle space, Check(H5Screate_simple(1, &n, nullptr),
                                             StatusCode::kInternal, "H5Screate_simple"));
  OCKPT_ASSIGN_OR_RETURN(
      Handle attr,
      Check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
            StatusCode::kIoError, fmt::format("creating attribute {}", name)));
  if (n > 0) {
    OCKPT_RETURN_IF_ERROR(Check(H5Awrite(attr.get(), H5T_NATIVE_INT64, values.data()),
                                StatusCode::kIoError, fmt::format("writing attribute {}", name)));
  }
  return attr.Close();
}

namespace {

// Variable-length strings live in HDF5's global heap, whose reader trusts
// the file: a hostile heap makes Debian's libhdf5 memcpy overlapping ranges,
// loop or allocate without bound. Such a string is therefore read in a
// child process (fork) under a CPU-time and address-space limit; what comes
// back is only bytes through a pipe, and a child that dies, overruns or
// sends something malformed is kDataLoss.
constexpr int kVlenChildSeconds = 10;
constexpr rlim_t kVlenChildMemory = rlim_t{2} << 30;

}  // namespace

Result<std::string> ReadVlenStringIsolated(const std::function<herr_t(char**)>& read,
                                           std::string_view what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return IoError("pipe: {}", std::strerror(errno));
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return IoError("fork: {}", std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    struct rlimit cpu = {kVlenChildSeconds, kVlenChildSeconds};
    ::setrlimit(RLIMIT_CPU, &cpu);
    // kVlenChildMemory more than the address space already mapped (thread
    // stacks and malloc arenas of the parent count there too).
    rlim_t mapped = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      unsigned long pages = 0;
      if (std::fscanf(f, "%lu", &pages) == 1) {
        mapped = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
      }
      std::fclose(f);
    }
    struct rlimit as = {mapped + kVlenChildMemory, mapped + kVlenChildMemory};
    ::setrlimit(RLIMIT_AS, &as);
    ::alarm(kVlenChildSeconds);
    char* p = nullptr;
    int rc = 1;
    if (read(&p) >= 0) {
      uint64_t n = p ? std::strlen(p) : 0;
      if (n <= kMaxAttributeBytes) {
        std::string msg(reinterpret_cast<const char*>(&n), sizeof n);
        if (p) msg.append(p, n);
        const char* d = msg.data();
        size_t left = msg.size();
        rc = 0;
        while (left > 0) {
          ssize_t w = ::write(fds[1], d, left);
          if (w <= 0) {
            rc = 1;
            break;
          }
          d += w;
          left -= static_cast<size_t>(w);
        }
      }
    }
    ::_exit(rc);
  }
  ::close(fds[1]);
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
    if (got.size() > kMaxAttributeBytes + 8) break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  uint64_t n = 0;
  if (got.size() >= sizeof n) std::memcpy(&n, got.data(), sizeof n);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.size() < sizeof n ||
      got.size() - sizeof n != n) {
    return DataLossError("{}: the variable-length string cannot be read{}", what,
                         WIFSIGNALED(status) ? fmt::format(" (the reader died with signal {})",
                                                           WTERMSIG(status))
                                             : std::string());
  }
  return got.substr(sizeof n);
}

Result<std::optional<std::string>> ReadStringAttribute(hid_t obj, const std::string& name) {
  OCKPT_ASSIGN_OR_RETURN(bool exists, CheckTri(H5Aexists(obj, name.c_str()), StatusCode::kDataLoss,
                                               fmt::format("H5Aexists({})", name)));
  if (!exists) return std::optional<std::string>();
  OCKPT_ASSIGN_OR_RETURN(Handle attr,
                         Check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), StatusCode::kDataLoss,
                               fmt::format("opening attribute {}", name)));
  OCKPT_ASSIGN_OR_RETURN(Handle type,
                         Check(H5Aget_type(attr.get()), StatusCode::kDataLoss, "H5Aget_type"));
  OCKPT_ASSIGN_OR_RETURN(Handle space,
                         Check(H5Aget_space(attr.get()), StatusCode::kDataLoss, "H5Aget_space"));
  if (H5Tget_class(type.get()) != H5T_STRING || H5Sget_simple_extent_npoints(space.get()) != 1) {
    return DataLossError("attribute {} is not a single string", name);
  }
  OCKPT_ASSIGN_OR_RETURN(bool is_var, CheckTri(H5Tis_variable_str(type.get()),
                                               StatusCode::kDataLoss, "H5Tis_variable_str"));
  if (is_var) {
    OCKPT_ASSIGN_OR_RETURN(Handle mem, VarStringType());
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    hid_t a = attr.get(), m = mem.get();
    OCKPT_ASSIGN_OR_RETURN(
        std::string s,
        ReadVlenStringIsolated([a, m](char** p) { return H5Aread(a, m, p); },
                               fmt::format("attribute {}", name)));
    return std::optional<std::string>(std::move(s));
  }
  size_t size = H5Tget_size(type.get());
  if (size == 0 || size > kMaxAttributeBytes)
    return DataLossError("attribute {}: bad string size {}", name, size);
  // Attribute values are stored whole (never compressed): a size beyond
  // what the file stores for it is a hostile header, not a string to
  // allocate for.
  if (size > H5Aget_storage_size(attr.get())) {
    return DataLossError("attribute {}: string of {} bytes, but {} bytes are stored", name, size,
                         H5Aget_storage_size(attr.get()));
  }
  OCKPT_ASSIGN_OR_RETURN(Handle mem, Check(H5Tcopy(type.get()), StatusCode::kDataLoss, "H5Tcopy"));
  std::string buf(size, '\0');
  OCKPT_RETURN_IF_ERROR(Check(H5Aread(attr.get(), mem.get(), buf.data()), StatusCode::kDataLoss,
                              fmt::format("reading attribute {}", name)));
  size_t end = buf.find('\0');
  if (end != std::string::npos) buf.resize(end);
  return std::optional<std::string>(std::move(buf));
}

Result<std::optional<std::vector<int64_t>>> ReadInt64Attribute(hid_t obj, const std::string& name) {
  OCKPT_ASSIGN_OR_RETURN(bool exists, CheckTri(H5Aexists(obj, name.c_str()), StatusCode::kDataLoss,
                                               fmt::format("H5Aexists({})", name)));
  if (!exists) return std::optional<std::vector<int64_t>>();
  OCKPT_ASSIGN_OR_RETURN(Handle attr,
                         Check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), StatusCode::kDataLoss,
                               fmt::format("opening attribute {}", name)));
  OCKPT_ASSIGN_OR_RETURN(Handle type,
                         Check(H5Aget_type(attr.get()), StatusCode::kDataLoss, "H5Aget_type"));
  OCKPT_ASSIGN_OR_RETURN(Handle space,
                         Check(H5Aget_space(attr.get()), StatusCode::kDataLoss, "H5Aget_space"));
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_ndims(space.get()) > 1 ||
      n < 0 || n > 64) {
    return DataLossError("attribute {} is not a short list of integers", name);
  }
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (n > 0) {
    OCKPT_RETURN_IF_ERROR(Check(H5Aread(attr.get(), H5T_NATIVE_INT64, v.data()),
                                StatusCode::kDataLoss, fmt::format("reading attribute {}", name)));
  }
  return std::optional<std::vector<int64_t>>(std::move(v));
}

// ---- Hyperslabs ----

std::vector<Block> SplitRange(const Shape& shape, uint64_t begin, uint64_t end) {
  const size_t rank = shape.size();
  std::vector<uint64_t> stride(rank, 1);
  for (size_t k = rank; k-- > 1;) stride[k - 1] = stride[k] * static_cast<uint64_t>(shape[k]);
  std::vector<Block> out;
  uint64_t p = begin;
  std::vector<hsize_t> coord(rank);
  while (p < end) {
    uint64_t rest = p;
    for (size_t k = 0; k < rank; ++k) {
      coord[k] = rest / stride[k];
      rest %= stride[k];
    }
    // The outermost dimension after which every coordinate is zero.
    size_t j = rank - 1;
    while (j > 0 && coord[j] == 0) --j;
    uint64_t n = 0;
    for (;; ++j) {
      n = std::min<uint64_t>((end - p) / stride[j], static_cast<uint64_t>(shape[j]) - coord[j]);
      if (n > 0 || j + 1 == rank) break;
    }
    Block b;
    b.start = coord;
    b.count.assign(rank, 1);
    b.count[j] = n;
    for (size_t k = j + 1; k < rank; ++k) b.count[k] = static_cast<hsize_t>(shape[k]);
    b.elements = n * stride[j];
    p += b.elements;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace ockpt::h5
