// ockpt: read and write Orbax (JAX) checkpoints from C++ without Python.
//
// The one public header of libockpt (docs/library.md). Standard headers only;
// C++20; no exceptions cross the API: every call returns a Status or a
// Result<T> (ockpt/status.h).
//
//   auto ckpt = ockpt::Checkpoint::Open("/ckpt/root");   // latest step
//   if (!ckpt.ok()) { std::cerr << ckpt.status().ToString(); return 1; }
//   for (const ockpt::Leaf& leaf : ckpt->leaves()) {
//     std::vector<std::byte> buf(leaf.nbytes);
//     ockpt::Status s = ckpt->Read(leaf.name, buf);
//   }

#ifndef OCKPT_OCKPT_H_
#define OCKPT_OCKPT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ockpt/export.h"
#include "ockpt/status.h"

namespace ockpt {

// The library's version, "MAJOR.MINOR.PATCH" (as `ockpt --version`).
OCKPT_API std::string_view Version();

// One array (or scalar) leaf of a checkpoint.
struct Leaf {
  std::string name;              // dotted key path, as `metadata --json` "name"
  std::string dtype;             // NumPy name: "float32", "bfloat16", "int4", "bool", ...
  std::vector<int64_t> shape;    // empty for a scalar
  uint64_t nbytes = 0;           // bytes of the decoded value, little-endian C order
};

struct OpenOptions {
  std::optional<int64_t> step;   // manager root: this step instead of the latest committed
  std::optional<std::string> item;  // a composite: only this item (leaf names unprefixed)
  int threads = 0;               // 0: all cores
};

// Memory on a device holding one leaf's value (Checkpoint::ReadToDevice),
// freed by the destructor. Movable, not copyable.
class OCKPT_API DeviceBuffer {
 public:
  DeviceBuffer(DeviceBuffer&&) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&&) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  // A device pointer (CUDA: from cudaMalloc on that device; "host": host
  // memory). Null for an empty value.
  void* data() const;
  uint64_t size() const;
  // "cuda:0", "host", ... ("" after a move).
  std::string_view device() const;

  struct Impl;

 private:
  friend class Checkpoint;
  explicit DeviceBuffer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// An opened checkpoint: its metadata is read by Open, chunk data only by
// Read/ReadSlice. Movable, not copyable. Const methods may be called from
// several threads at once.
class OCKPT_API Checkpoint {
 public:
  // PATH as the CLI accepts it: a PyTree item directory, a checkpoint
  // directory (StandardCheckpointer, composite, manager step) or a manager
  // root (the latest committed step unless options.step). A checkpoint with
  // several PyTree items and no options.item lists the leaves of all of
  // them, each name prefixed by "<item>."; with one PyTree item (e.g. a
  // manager step's "default" or "state" beside JSON items) names are those
  // of `metadata --json`. kNotFound: no such path / step / item, no PyTree
  // item; kDataLoss / kUnimplemented: damaged or unsupported metadata.
  static Result<Checkpoint> Open(const std::string& path, const OpenOptions& options = {});

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;
  ~Checkpoint();

  // Array and scalar leaves in key-path order (strings and empty nodes are
  // left out).
  const std::vector<Leaf>& leaves() const;
  // The leaf named `name`, or nullptr.
  const Leaf* FindLeaf(std::string_view name) const;
  // The step opened, when PATH was a manager root or a step directory.
  std::optional<int64_t> step() const;

  // Reads one leaf's whole value; out.size() must equal the leaf's nbytes
  // (kInvalidArgument otherwise). kNotFound: no such leaf; kDataLoss: damaged
  // data.
  Status Read(std::string_view name, std::span<std::byte> out) const;

  // Reads the box [start, start + shape) of one leaf (little-endian, C
  // order), decoding only the chunks that overlap it. start and shape have
  // one entry per dimension of the leaf (none for a scalar); out.size() must
  // be the box's element count times the element size. kInvalidArgument:
  // wrong rank, negative start or extent, a box outside the array, or a
  // wrong out size.
  Status ReadSlice(std::string_view name, std::span<const int64_t> start,
                   std::span<const int64_t> shape, std::span<std::byte> out) const;

  // Reads one leaf's whole value (as Read) into memory of `device`: "cuda"
  // (= "cuda:0"), "cuda:N", or "host" (the same staging path without a GPU),
  // through a small ring of pinned host buffers (docs/gpu.md).
  // kFailedPrecondition: no such CUDA device, or ockpt built without the
  // CUDA backend; kInvalidArgument: another device name.
  Result<DeviceBuffer> ReadToDevice(std::string_view name, std::string_view device = "cuda:0") const;

  struct Impl;

 private:
  explicit Checkpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One array to save; the bytes stay owned by the caller and are read during
// Save only.
struct ArrayView {
  std::string name;                          // dotted key path ("params.w")
  std::string dtype;                         // NumPy name, as in Leaf
  std::vector<int64_t> shape;                // empty for a scalar
  std::span<const std::byte> data;           // little-endian C order
};

struct SaveOptions {
  bool zarr3 = false;                        // as `save --zarr3`
  std::optional<int64_t> step;               // DEST is a manager root, as `save --step`
  int threads = 0;                           // 0: all cores
  bool ocdbt = true;                         // false: as `save --no-ocdbt` (per-leaf zarr dirs)
};

// Writes a checkpoint that orbax-checkpoint restores, atomically, as `ockpt
// save` does: a StandardCheckpointer layout at dest (which must not exist),
// or with options.step the step dest/<step>/default of a manager root.
// Names are split at '.' into dict keys; every leaf is an np.ndarray.
// kInvalidArgument: bad name, dtype, shape or data size, duplicate names;
// kAlreadyExists: dest (or the step) exists.
OCKPT_API Status Save(const std::string& dest, std::span<const ArrayView> arrays,
                      const SaveOptions& options = {});

}  // namespace ockpt

#endif  // OCKPT_OCKPT_H_
