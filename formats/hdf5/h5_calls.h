// The one place that talks to the HDF5 C API. Everything else in formats/hdf5
// goes through these wrappers:
//
//  * Handle owns an hid_t (file, group, dataset, dataspace, datatype,
//    attribute or property list) and closes it with the matching H5*close;
//  * Check(...) turns a negative HDF5 return into a Status whose message holds
//    what was being done and the walked HDF5 error stack;
//  * QuietErrors silences HDF5's own printing to stderr while it lives;
//  * Lock() serialises HDF5 calls (the Debian library is not built
//    thread-safe); every public entry point of the source and sink holds it.
//
// Also here: the HDF5 types ockpt writes and understands (h5py's conventions
// for bool, float16 and complex) and the split of a C-order element range
// into rectangular hyperslab blocks.

#ifndef OCKPT_FORMATS_HDF5_H5_CALLS_H_
#define OCKPT_FORMATS_HDF5_H5_CALLS_H_

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/checkpoint/tree.h"
#include "lib/dtype/dtype.h"

namespace ockpt::h5 {

// Serialises all HDF5 calls in the process.
std::recursive_mutex& Lock();

// Turns off HDF5's automatic error printing (H5Eset_auto2) for its lifetime
// and restores the previous handler afterwards.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// Holds Lock() and a QuietErrors: take one at every public entry point.
class Session {
 public:
  Session() : lock_(Lock()) {}

 private:
  std::lock_guard<std::recursive_mutex> lock_;
  QuietErrors quiet_;
};

// The current HDF5 error stack as "func: description; func: description",
// innermost last; clears it.
std::string TakeErrorStack();

// Owns one hid_t.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Close().IgnoreError(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes with the H5*close call for the id's type; errors carry the stack.
  Status Close();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// `id` < 0 -> Status(code, "<what>: <HDF5 error stack>").
Result<Handle> Check(hid_t id, StatusCode code, std::string_view what);
// `rc` < 0 -> Status(code, "<what>: <HDF5 error stack>").
Status Check(herr_t rc, StatusCode code, std::string_view what);
// A tri-state HDF5 answer (htri_t): true, false, or the error.
Result<bool> CheckTri(htri_t rc, StatusCode code, std::string_view what);

// ---- Types ----

// The HDF5 type ockpt stores `dtype` as (also the memory type for its
// little-endian bytes): IEEE and STD little-endian numbers; bool as h5py's
// enum {FALSE: 0, TRUE: 1} over int8; float16 as h5py's 16-bit float;
// complex as h5py's compound {r, i}; types HDF5 and NumPy lack (bfloat16,
// float8, int4, ...) as the unsigned integer of their size.
Result<Handle> TypeFor(DType dtype);
// True when dtype is stored as plain unsigned bits (see TypeFor).
bool StoredAsRawBits(DType dtype);
// The memory type for reading a dataset whose type DTypeOf gave as `dtype`:
// TypeFor, except that bfloat16 (only found as a 16-bit float with an 8-bit
// exponent) reads as that float type.
Result<Handle> ReadTypeFor(DType dtype);
// The DType a dataset's type reads as, or kUnimplemented naming the class.
Result<DType> DTypeOf(hid_t type);
// A variable-length UTF-8 string type.
Result<Handle> VarStringType();

// ---- Attributes ----

Status WriteStringAttribute(hid_t obj, const std::string& name, std::string_view value);
Status WriteInt64Attribute(hid_t obj, const std::string& name, const std::vector<int64_t>& values);
// Reads one variable-length string with `read` (an H5Aread / H5Dread into a
// char*) in a child process under a time and memory limit: HDF5's global
// heap reader trusts the file (docs/design.md, "Hostile input"). kDataLoss
// naming `what` when the child fails, dies or overruns.
Result<std::string> ReadVlenStringIsolated(const std::function<herr_t(char**)>& read,
                                           std::string_view what);

// nullopt when absent; kDataLoss when present but not a string.
Result<std::optional<std::string>> ReadStringAttribute(hid_t obj, const std::string& name);
// nullopt when absent; kDataLoss when not a 1-D (or scalar) integer attribute.
Result<std::optional<std::vector<int64_t>>> ReadInt64Attribute(hid_t obj, const std::string& name);

// ---- Hyperslabs ----

// A rectangular block of an array: start and count per dimension.
struct Block {
  std::vector<hsize_t> start;
  std::vector<hsize_t> count;
  uint64_t elements = 0;
};

// Splits elements [begin, end) of an array of `shape` (C order) into at most
// 2 * rank - 1 rectangular blocks, in order. REQUIRES: rank >= 1,
// begin <= end <= NumElements(shape).
std::vector<Block> SplitRange(const Shape& shape, uint64_t begin, uint64_t end);

}  // namespace ockpt::h5

#endif  // OCKPT_FORMATS_HDF5_H5_CALLS_H_
