// CopyBackend: the primitives under a staging::DeviceContext (staging.h):
// device memory, pinned host memory, copy streams and events, with CUDA's
// semantics. Copies are enqueued on a stream and run asynchronously with
// respect to the caller, in order within a stream; an event recorded on a
// stream completes when everything enqueued on that stream before it has.
//
// Two implementations: the host backend (staging_host.cc; "device" memory is
// host memory, streams are worker threads) and the CUDA backend
// (staging_cuda.cu; cudaMalloc, cudaHostAlloc, cudaMemcpyAsync, cudaEvent).
//
// This header deliberately uses no project headers (no Status, no fmt), so
// that nvcc compiles the CUDA backend without them; staging.cc turns a
// BackendStatus into a Status.

#ifndef OCKPT_LIB_STAGING_BACKEND_H_
#define OCKPT_LIB_STAGING_BACKEND_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ockpt::staging {

struct BackendStatus {
  enum Code { kOk, kNoDevice, kOutOfMemory, kFailed };
  Code code = kOk;
  std::string message;  // what failed and the backend's error string

  bool ok() const { return code == kOk; }
  static BackendStatus Ok() { return {}; }
  static BackendStatus Error(Code c, std::string m) { return {c, std::move(m)}; }
};

class CopyBackend {
 public:
  virtual ~CopyBackend() = default;

  // "cuda:0 (NVIDIA H200, 139.8 GiB)" or "host".
  virtual std::string Describe() const = 0;
  virtual int num_streams() const = 0;
  virtual int num_events() const = 0;

  virtual BackendStatus AllocDevice(uint64_t bytes, void** ptr) = 0;
  // Waits for copies that still use ptr (as cudaFree does).
  virtual void FreeDevice(void* ptr) = 0;
  virtual BackendStatus AllocPinned(size_t bytes, char** ptr) = 0;
  virtual void FreePinned(char* ptr) = 0;

  // Enqueue a copy on `stream`; src/dst on the host side are pinned buffers.
  virtual BackendStatus CopyToDeviceAsync(void* dst, const char* src, size_t n, int stream) = 0;
  virtual BackendStatus CopyToHostAsync(char* dst, const void* src, size_t n, int stream) = 0;
  // Event `event` completes when the copies enqueued on `stream` so far have.
  virtual BackendStatus RecordEvent(int event, int stream) = 0;
  // Blocks until the event's latest recording has completed; reports an
  // asynchronous failure of the copies it covers.
  virtual BackendStatus WaitEvent(int event) = 0;
  // Blocks until every stream is idle.
  virtual BackendStatus Synchronize() = 0;
};

// The host backend's knobs; the defaults behave like a fast device.
struct HostBackendOptions {
  // Extra time each copy takes (a slow link, to make copies overlap in tests).
  std::chrono::microseconds copy_delay{0};
  // Device memory capacity; 0 = unlimited. Allocations beyond it fail.
  uint64_t memory_limit = 0;
  // The n-th copy (0-based, both directions counted) fails asynchronously:
  // its event reports the failure. -1 = never.
  int64_t fail_copy = -1;
};

std::unique_ptr<CopyBackend> OpenHostBackend(int streams, int events,
                                             const HostBackendOptions& options);

// Opens CUDA device `ordinal` with `streams` streams and `events` events.
// kNoDevice when the runtime finds no usable device ("no CUDA device: <cuda
// error string>") or when ordinal is out of range. Defined in
// staging_cuda.cu when built with OCKPT_HAVE_CUDA, else in staging.cc
// (always kNoDevice: this build has no CUDA support).
BackendStatus OpenCudaBackend(int ordinal, int streams, int events,
                              std::unique_ptr<CopyBackend>* out);

}  // namespace ockpt::staging

#endif  // OCKPT_LIB_STAGING_BACKEND_H_
