// Staging: moving checkpoint arrays between the byte pipeline (ArrayWriter /
// ArraySource pieces, C order, little-endian) and device memory, through a
// bounded ring of pinned host buffers. See docs/gpu.md.
//
// A DeviceContext is an explicit handle on one device (no globals): "host"
// (device memory is host memory; the same ring, streams and events, run by
// worker threads; what the tests exercise) or "cuda[:N]" (cudaMalloc,
// cudaHostAlloc ring, cudaMemcpyAsync on >= 2 streams, events to recycle
// buffers; only in builds with OCKPT_HAVE_CUDA).
//
// Restore into device memory (one leaf; `item` is an orbax::PyTreeItem):
//
//   OCKPT_ASSIGN_OR_RETURN(auto dev, staging::DeviceContext::Open("cuda:0"));
//   OCKPT_ASSIGN_OR_RETURN(staging::DeviceArray a, dev->Stage(staging::LeafBytes(leaf),
//       [&](ArrayWriter& w) { return item.ReadLeaf(i, w); }));
//   // a.data() is a device pointer holding the leaf's bytes.
//
// Save from device memory: MakeDeviceSource() gives a CheckpointSource whose
// arrays are read back from device memory piece by piece, for orbax::Save
// (SaveOptions::open_source) or orbax::WritePyTreeItem.
//
// The ring is shared by everything using one context and serialized by a
// mutex: a context moves one array at a time, and may be used from any thread.

#ifndef OCKPT_LIB_STAGING_STAGING_H_
#define OCKPT_LIB_STAGING_STAGING_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/sink.h"
#include "lib/checkpoint/source.h"
#include "lib/staging/backend.h"

namespace ockpt::staging {

struct StagingOptions {
  size_t buffer_bytes = size_t{8} << 20;  // one ring buffer (pinned)
  int buffers = 4;                        // ring size: pinned memory = buffers * buffer_bytes
  int streams = 2;                        // copy streams, used in turn
};

struct StagingStats {
  uint64_t bytes_to_device = 0;
  uint64_t bytes_to_host = 0;
  uint64_t copies_to_device = 0;
  uint64_t copies_to_host = 0;
  // Most ring buffers holding an unfinished copy at once; never above
  // StagingOptions::buffers. Above 1 means copies overlapped.
  int max_buffers_in_flight = 0;
  // Times a buffer was still in flight when its turn came (the producer
  // outran the copies and waited).
  uint64_t buffer_waits = 0;
  uint64_t pinned_bytes = 0;  // ring memory held
  uint64_t device_bytes = 0;  // device memory held now by DeviceArrays
  uint64_t peak_device_bytes = 0;
};

class DeviceContext;
struct ContextState;  // the ring, the backend and the stats (staging.cc)

// One allocation of device memory (freed by the destructor). Move-only.
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(DeviceArray&& other) noexcept;
  DeviceArray& operator=(DeviceArray&& other) noexcept;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray();

  // The device pointer (for the host backend, a host pointer).
  void* data() const { return ptr_; }
  uint64_t size() const { return size_; }
  bool empty() const { return ptr_ == nullptr; }

 private:
  friend class DeviceContext;
  std::shared_ptr<ContextState> state_;
  void* ptr_ = nullptr;
  uint64_t size_ = 0;
};

// CRC-32C of each piece of host bytes as it went to the device, to check the
// device copy against the host path (DeviceContext::Verify).
class PieceDigests {
 public:
  struct Piece {
    uint64_t offset;
    uint64_t size;
    uint32_t crc32c;
  };
  void Add(uint64_t offset, ByteView data);
  void Add(const Piece& p) { pieces_.push_back(p); }
  const std::vector<Piece>& pieces() const { return pieces_; }
  // Sorts by offset and checks the pieces cover [0, total) exactly once.
  Status CheckCoverage(uint64_t total);

 private:
  std::vector<Piece> pieces_;
};

// Lands pieces in a DeviceArray through the ring. WriteAt copies the piece
// into ring buffers and returns once their copies are enqueued; Finish()
// waits for every copy. Errors are sticky.
class DeviceArrayWriter final : public ArrayWriter {
 public:
  ~DeviceArrayWriter() override;
  Status WriteAt(uint64_t offset, ByteView data) override;
  // Reads [offset, offset + n) of src straight into ring buffers.
  Status WriteFrom(const ArraySource& src, uint64_t offset, uint64_t n);
  Status Finish();
  // The host pieces written so far (when the context records digests).
  const PieceDigests& digests() const { return digests_; }

 private:
  friend class DeviceContext;
  DeviceArrayWriter(std::shared_ptr<ContextState> state, DeviceArray* dst, bool digests);
  std::shared_ptr<ContextState> state_;
  DeviceArray* dst_;
  bool record_digests_;
  PieceDigests digests_;
  Status error_;
  bool finished_ = false;
};

class DeviceContext {
 public:
  // "host", "cuda" (= cuda:0) or "cuda:N". kInvalidArgument for another
  // name; kFailedPrecondition when CUDA is asked for and not available
  // ("no CUDA device: <cuda error string>", or no CUDA support in this
  // build).
  static Result<std::unique_ptr<DeviceContext>> Open(std::string_view device,
                                                     const StagingOptions& options = {});
  // The host implementation, with test knobs.
  static Result<std::unique_ptr<DeviceContext>> OpenHost(const StagingOptions& options,
                                                         const HostBackendOptions& host);
  ~DeviceContext();

  // "host" or "cuda:0".
  const std::string& name() const;
  // With the device's model and memory where known.
  std::string Describe() const;
  const StagingOptions& options() const;
  StagingStats stats() const;

  Result<DeviceArray> Allocate(uint64_t bytes);
  // A writer into dst (which must outlive it). With record_digests, the
  // writer keeps the CRC-32C of every host piece it is given.
  std::unique_ptr<DeviceArrayWriter> OpenWriter(DeviceArray* dst, bool record_digests = false);
  // Random access to src's bytes (src must outlive it), read back through
  // the ring; sequential reads are prefetched.
  std::unique_ptr<ArraySource> OpenSource(const DeviceArray& src);
  // The same, owning the array (freed with the source).
  std::unique_ptr<ArraySource> OpenSource(std::shared_ptr<const DeviceArray> src);

  // Allocates `bytes`, runs fill on a writer into it, waits. `digests`, if
  // given, receives the host pieces' CRC-32C.
  Result<DeviceArray> Stage(uint64_t bytes, const std::function<Status(ArrayWriter&)>& fill,
                            PieceDigests* digests = nullptr);
  // Copies a whole ArraySource up, reading it straight into ring buffers.
  Result<DeviceArray> Upload(const ArraySource& src, PieceDigests* digests = nullptr);
  // Copies [offset, offset + n) of src into dst.
  Status CopyToHost(const DeviceArray& src, uint64_t offset, size_t n, char* dst);
  // Streams [offset, offset + n) of src back through the ring, calling fn on
  // consecutive views (each valid only during the call).
  Status ReadBack(const DeviceArray& src, uint64_t offset, uint64_t n,
                  const std::function<Status(ByteView)>& fn);
  // SHA-256 (hex) of the device bytes, read back.
  Result<std::string> Sha256(const DeviceArray& src);
  // Reads the device copy back and checks each piece's CRC-32C against the
  // host bytes it was made from; kDataLoss naming the first bad piece.
  Status Verify(const DeviceArray& src, PieceDigests digests);

  // Raw copy bandwidth in bytes/s between one pinned buffer of `bytes` and
  // device memory (the best of `repeats` single copies): the ceiling for
  // staged transfers.
  Result<double> MeasureBandwidth(bool to_device, uint64_t bytes, int repeats = 3);

 private:
  static Result<std::unique_ptr<DeviceContext>> OpenHostOr(std::string_view device,
                                                           const StagingOptions& options,
                                                           const HostBackendOptions& host);
  explicit DeviceContext(std::shared_ptr<ContextState> state);
  std::shared_ptr<ContextState> state_;
};

// Bytes of a leaf's array data (elements x element size).
uint64_t LeafBytes(const LeafRecord& leaf);

// What a staged restore or save did, for reports.
struct DeviceRunStats {
  uint64_t leaves = 0;
  uint64_t bytes = 0;        // array bytes moved to the device
  double stage_seconds = 0;  // in the staging writer/upload (includes waits for copies)
  uint64_t verified_leaves = 0;
  uint64_t verified_pieces = 0;
  double verify_seconds = 0;  // reading device copies back to check them
};

struct DeviceSinkOptions {
  // Check each device copy against the host bytes (read back, CRC-32C).
  bool verify = true;
  // Receives each leaf's device array; when empty the array is freed once
  // checked.
  std::function<Status(const LeafRecord&, DeviceArray)> on_leaf;
};

// A sink for restore: every array leaf is streamed into `inner` (may be
// null: device only) and, in the same pass, into device memory allocated for
// the leaf. `dev` and `stats` (may be null) must outlive the sink.
std::unique_ptr<CheckpointSink> MakeDeviceSink(std::unique_ptr<CheckpointSink> inner,
                                               DeviceContext* dev, DeviceSinkOptions options,
                                               DeviceRunStats* stats);

// A source for save: OpenArray(i) first copies leaf i up to device memory
// (optionally verifying the device copy), then serves its bytes from there.
// One leaf is on the device at a time, per open ArraySource.
std::unique_ptr<CheckpointSource> MakeDeviceStagedSource(std::unique_ptr<CheckpointSource> inner,
                                                         DeviceContext* dev, bool verify,
                                                         DeviceRunStats* stats);

// A leaf held in device memory (array null for leaves without array data).
struct DeviceLeaf {
  LeafRecord record;
  std::shared_ptr<const DeviceArray> array;
};

// A source over leaves already in device memory: what a program saves its
// device arrays with. Leaves are sorted by key path; array sizes must match
// LeafBytes(record).
Result<std::unique_ptr<CheckpointSource>> MakeDeviceSource(
    DeviceContext* dev, std::vector<DeviceLeaf> leaves, Json custom_metadata = nullptr,
    std::string description = "device arrays");

// The CLI's --device: opens the context ("cpu" gives null: no staging),
// wraps sinks and sources, and reports throughput.
class DeviceRun {
 public:
  // kInvalidArgument for a name other than cpu, host, cuda, cuda:N.
  static Result<std::shared_ptr<DeviceRun>> Open(std::string_view device,
                                                 const StagingOptions& options = {});
  std::unique_ptr<CheckpointSink> WrapSink(std::unique_ptr<CheckpointSink> inner);
  std::unique_ptr<CheckpointSource> WrapSource(std::unique_ptr<CheckpointSource> inner);
  // E.g. "cuda:0 (NVIDIA H200, 139.8 GiB): 7 leaves, 4.29 GB to device in
  // 2.10 s (2.04 GB/s) ...", one line per fact.
  std::string Report(std::string_view what) const;
  const DeviceRunStats& stats() const { return stats_; }
  DeviceContext& context() { return *dev_; }

 private:
  std::unique_ptr<DeviceContext> dev_;
  DeviceRunStats stats_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ockpt::staging

#endif  // OCKPT_LIB_STAGING_STAGING_H_
