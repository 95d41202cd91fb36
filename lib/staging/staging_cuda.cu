// The CUDA backend: device memory from cudaMalloc (one allocation per
// leaf), the staging ring in pinned memory from cudaHostAlloc, copies with
// cudaMemcpyAsync on non-blocking streams, one cudaEvent per ring buffer to
// know when the buffer may be reused. Host code only (no kernels), compiled
// by nvcc; it includes no project header but backend.h, so that nvcc never
// sees fmt.

#include <cuda_runtime.h>

#include <cstdio>
#include <string>
#include <vector>

#include "lib/staging/backend.h"

namespace ockpt::staging {
namespace {

std::string CudaMessage(const std::string& what, cudaError_t e) {
  return what + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")";
}

BackendStatus Fail(const std::string& what, cudaError_t e) {
  (void)cudaGetLastError();  // clear a non-sticky error
  return BackendStatus::Error(
      e == cudaErrorMemoryAllocation ? BackendStatus::kOutOfMemory : BackendStatus::kFailed,
      CudaMessage(what, e));
}

class CudaBackend final : public CopyBackend {
 public:
  CudaBackend(int ordinal, std::string description)
      : ordinal_(ordinal), description_(std::move(description)) {}

  ~CudaBackend() override {
    cudaSetDevice(ordinal_);
    for (cudaStream_t s : streams_) cudaStreamSynchronize(s);
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    for (cudaStream_t s : streams_) cudaStreamDestroy(s);
  }

  BackendStatus Init(int streams, int events) {
    cudaError_t e = cudaSetDevice(ordinal_);
    if (e != cudaSuccess) return Fail(Name() + ": cudaSetDevice", e);
    for (int i = 0; i < streams; ++i) {
      cudaStream_t s;
      e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
      if (e != cudaSuccess) return Fail(Name() + ": cudaStreamCreateWithFlags", e);
      streams_.push_back(s);
    }
    for (int i = 0; i < events; ++i) {
      cudaEvent_t ev;
      e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
      if (e != cudaSuccess) return Fail(Name() + ": cudaEventCreateWithFlags", e);
      events_.push_back(ev);
    }
    return BackendStatus::Ok();
  }

  std::string Describe() const override { return description_; }
  int num_streams() const override { return static_cast<int>(streams_.size()); }
  int num_events() const override { return static_cast<int>(events_.size()); }

  BackendStatus AllocDevice(uint64_t bytes, void** ptr) override {
    *ptr = nullptr;
    if (bytes == 0) return BackendStatus::Ok();
    cudaError_t e = cudaSetDevice(ordinal_);
    if (e == cudaSuccess) e = cudaMalloc(ptr, bytes);
    if (e != cudaSuccess)
      return Fail(Name() + ": cudaMalloc of " + std::to_string(bytes) + " bytes", e);
    return BackendStatus::Ok();
  }

  void FreeDevice(void* ptr) override {
    if (!ptr) return;
    cudaSetDevice(ordinal_);
    cudaFree(ptr);  // synchronizes with copies still using ptr
  }

  BackendStatus AllocPinned(size_t bytes, char** ptr) override {
    void* p = nullptr;
    cudaError_t e = cudaSetDevice(ordinal_);
    if (e == cudaSuccess) e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (e != cudaSuccess)
      return Fail(Name() + ": cudaHostAlloc of " + std::to_string(bytes) + " bytes", e);
    *ptr = static_cast<char*>(p);
    return BackendStatus::Ok();
  }

  void FreePinned(char* ptr) override {
    if (ptr) cudaFreeHost(ptr);
  }

  BackendStatus CopyToDeviceAsync(void* dst, const char* src, size_t n, int stream) override {
    // The calling thread may not be the one that opened the device.
    cudaError_t e = cudaSetDevice(ordinal_);
    if (e == cudaSuccess)
      e = cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, streams_[stream]);
    if (e != cudaSuccess) return Fail(Name() + ": cudaMemcpyAsync (host to device)", e);
    return BackendStatus::Ok();
  }

  BackendStatus CopyToHostAsync(char* dst, const void* src, size_t n, int stream) override {
    cudaError_t e = cudaSetDevice(ordinal_);
    if (e == cudaSuccess)
      e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, streams_[stream]);
    if (e != cudaSuccess) return Fail(Name() + ": cudaMemcpyAsync (device to host)", e);
    return BackendStatus::Ok();
  }

  BackendStatus RecordEvent(int event, int stream) override {
    cudaError_t e = cudaEventRecord(events_[event], streams_[stream]);
    if (e != cudaSuccess) return Fail(Name() + ": cudaEventRecord", e);
    return BackendStatus::Ok();
  }

  BackendStatus WaitEvent(int event) override {
    cudaError_t e = cudaEventSynchronize(events_[event]);
    if (e != cudaSuccess) return Fail(Name() + ": cudaEventSynchronize", e);
    return BackendStatus::Ok();
  }

  BackendStatus Synchronize() override {
    for (cudaStream_t s : streams_) {
      cudaError_t e = cudaStreamSynchronize(s);
      if (e != cudaSuccess) return Fail(Name() + ": cudaStreamSynchronize", e);
    }
    return BackendStatus::Ok();
  }

 private:
  std::string Name() const { return "cuda:" + std::to_string(ordinal_); }

  int ordinal_;
  std::string description_;
  std::vector<cudaStream_t> streams_;
  std::vector<cudaEvent_t> events_;
};

}  // namespace

BackendStatus OpenCudaBackend(int ordinal, int streams, int events,
                              std::unique_ptr<CopyBackend>* out) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return BackendStatus::Error(BackendStatus::kNoDevice,
                                std::string("no CUDA device: ") + cudaGetErrorString(e));
  }
  if (count == 0) {
    return BackendStatus::Error(BackendStatus::kNoDevice,
                                "no CUDA device: the CUDA runtime found none");
  }
  if (ordinal < 0 || ordinal >= count) {
    return BackendStatus::Error(BackendStatus::kNoDevice,
                                "no CUDA device cuda:" + std::to_string(ordinal) +
                                    ": this machine has " + std::to_string(count) +
                                    " (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
  }
  cudaDeviceProp prop;
  e = cudaGetDeviceProperties(&prop, ordinal);
  if (e != cudaSuccess)
    return Fail("cuda:" + std::to_string(ordinal) + ": cudaGetDeviceProperties", e);
  char desc[512];
  std::snprintf(desc, sizeof desc, "cuda:%d (%s, %.1f GiB)", ordinal, prop.name,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  auto backend = std::make_unique<CudaBackend>(ordinal, desc);
  BackendStatus s = backend->Init(streams, events);
  if (!s.ok()) return s;
  *out = std::move(backend);
  return BackendStatus::Ok();
}

}  // namespace ockpt::staging
