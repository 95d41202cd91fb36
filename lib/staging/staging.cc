// The staging pipeline: a ring of pinned buffers between the byte pipeline
// and device memory, on top of a CopyBackend (host or CUDA).
//
// Host to device: each piece is copied into the next ring buffer and its copy
// enqueued on the next stream, followed by the buffer's event; the caller
// returns at once to decode the next piece while the copy runs. A buffer is
// reused only after its event completes, so at most `buffers` copies are in
// flight and pinned memory stays at buffers * buffer_bytes.
//
// Device to host: reads are served from ring buffers filled by enqueued
// copies; a read that continues where the last one ended keeps the ring full
// ahead of it (prefetch), so the copies of the next buffers overlap with the
// consumer's work on this one.

#include "lib/staging/staging.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>

#include "lib/base/crc32c.h"
#include "lib/base/sha256.h"

namespace ockpt::staging {

#ifndef OCKPT_HAVE_CUDA
BackendStatus OpenCudaBackend(int ordinal, int streams, int events,
                              std::unique_ptr<CopyBackend>* out) {
  return BackendStatus::Error(
      BackendStatus::kNoDevice,
      "this build of ockpt has no CUDA support (configure with -DOCKPT_CUDA=ON)");
}
#endif

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Status ToStatus(const BackendStatus& s) {
  switch (s.code) {
    case BackendStatus::kOk:
      return Status::Ok();
    case BackendStatus::kNoDevice:
      return FailedPreconditionError("{}", s.message);
    case BackendStatus::kOutOfMemory:
      return IoError("{}", s.message);
    case BackendStatus::kFailed:
      break;
  }
  return IoError("{}", s.message);
}

}  // namespace

// ---------------------------------------------------------------------------
// The context's shared state.

struct ContextState {
  std::unique_ptr<CopyBackend> backend;
  StagingOptions opt;
  std::string name;

  std::mutex mu;  // the ring and the stats
  std::atomic<std::thread::id> holder{};
  struct Slot {
    char* buf = nullptr;
    bool busy = false;  // a copy recorded on its event, not yet waited for
  };
  std::vector<Slot> slots;
  size_t next = 0;
  int next_stream = 0;
  int in_flight = 0;

  // Read-back data of device buffer `reader`, oldest first, in consecutive
  // ring slots ending just before `next`.
  struct Fetched {
    size_t slot;
    uint64_t start, len;
  };
  const void* reader = nullptr;
  std::deque<Fetched> fetched;
  uint64_t fetch_pos = 0;
  uint64_t last_end = std::numeric_limits<uint64_t>::max();

  StagingStats stats;

  ~ContextState() {
    if (!backend) return;
    backend->Synchronize();
    for (Slot& s : slots) {
      if (s.buf) backend->FreePinned(s.buf);
    }
  }

  // Locks the ring; refuses re-entrant use from a callback on this thread
  // (e.g. an upload whose source reads from the same context).
  class Lock {
   public:
    explicit Lock(ContextState* st) : st_(st) {
      if (st_->holder == std::this_thread::get_id()) {
        st_ = nullptr;
        return;
      }
      st_->mu.lock();
      st_->holder = std::this_thread::get_id();
    }
    ~Lock() {
      if (!st_) return;
      st_->holder = std::thread::id();
      st_->mu.unlock();
    }
    Status status() const {
      if (st_) return Status::Ok();
      return InternalError(
          "staging: re-entrant use of a device context (a source that reads from the device it is "
          "copied to)");
    }

   private:
    ContextState* st_;
  };

  // REQUIRES: mu held (below too).
  void ResetReader() {
    fetched.clear();
    reader = nullptr;
    last_end = std::numeric_limits<uint64_t>::max();
  }

  Status WaitSlot(size_t i) {
    if (!slots[i].busy) return Status::Ok();
    BackendStatus s = backend->WaitEvent(static_cast<int>(i));
    slots[i].busy = false;
    --in_flight;
    return ToStatus(s);
  }

  // The next ring buffer, once its previous copy has finished.
  Result<size_t> TakeSlot() {
    size_t i = next;
    next = (next + 1) % slots.size();
    if (slots[i].busy) {
      ++stats.buffer_waits;
      OCKPT_RETURN_IF_ERROR(WaitSlot(i));
    }
    return i;
  }

  Status Issue(bool to_device, size_t i, char* device, size_t n) {
    int stream = next_stream;
    next_stream = (next_stream + 1) % backend->num_streams();
    BackendStatus s = to_device ? backend->CopyToDeviceAsync(device, slots[i].buf, n, stream)
                                : backend->CopyToHostAsync(slots[i].buf, device, n, stream);
    if (!s.ok()) return ToStatus(s);
    s = backend->RecordEvent(static_cast<int>(i), stream);
    if (!s.ok()) return ToStatus(s);
    slots[i].busy = true;
    ++in_flight;
    stats.max_buffers_in_flight = std::max(stats.max_buffers_in_flight, in_flight);
    if (to_device) {
      stats.bytes_to_device += n;
      ++stats.copies_to_device;
    } else {
      stats.bytes_to_host += n;
      ++stats.copies_to_host;
    }
    return Status::Ok();
  }

  // Waits for every buffer's copy; returns the first failure.
  Status Drain() {
    Status first;
    for (size_t i = 0; i < slots.size(); ++i) {
      Status s = WaitSlot(i);
      if (first.ok() && !s.ok()) first = std::move(s);
    }
    return first;
  }

  // Host bytes [pos, pos + n) go to device + offset through the ring;
  // produce(dst, src_pos, len) fills a buffer.
  template <typename Produce>
  Status Push(char* device, uint64_t offset, uint64_t n, Produce produce) {
    ResetReader();
    uint64_t done = 0;
    while (done < n) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(opt.buffer_bytes, n - done));
      OCKPT_ASSIGN_OR_RETURN(size_t i, TakeSlot());
      OCKPT_RETURN_IF_ERROR(produce(slots[i].buf, done, len));
      OCKPT_RETURN_IF_ERROR(Issue(true, i, device + offset + done, len));
      done += len;
    }
    return Status::Ok();
  }

  Status ReadBack(const char* device, uint64_t size, uint64_t offset, uint64_t n,
                  const std::function<Status(ByteView)>& fn) {
    if (offset > size || n > size - offset) {
      return InternalError("read of {} bytes at {} outside a {}-byte device array", n, offset,
                           size);
    }
    if (reader != device) {
      ResetReader();
      reader = device;
    }
    uint64_t pos = offset;
    const uint64_t end = offset + n;
    const bool sequential = pos == last_end;
    last_end = std::numeric_limits<uint64_t>::max();
    while (pos < end) {
      while (!fetched.empty()) {
        const Fetched& f = fetched.front();
        if (f.start <= pos && pos < f.start + f.len) break;
        if (f.start > pos) {
          fetched.clear();
          break;
        }
        fetched.pop_front();
      }
      if (fetched.empty()) fetch_pos = pos;
      const uint64_t target = sequential ? size : end;
      while (fetched.size() < slots.size() && fetch_pos < target) {
        uint64_t len = std::min<uint64_t>(opt.buffer_bytes, target - fetch_pos);
        auto i = TakeSlot();
        Status s =
            i.ok() ? Issue(false, *i, const_cast<char*>(device) + fetch_pos, len) : i.status();
        if (!s.ok()) {
          ResetReader();
          return s;
        }
        fetched.push_back({*i, fetch_pos, len});
        fetch_pos += len;
      }
      Fetched f = fetched.front();
      Status s = WaitSlot(f.slot);
      uint64_t take = std::min(end, f.start + f.len) - pos;
      if (s.ok()) s = fn(ByteView(slots[f.slot].buf + (pos - f.start), take));
      if (!s.ok()) {
        ResetReader();
        return s;
      }
      pos += take;
      if (pos == f.start + f.len) fetched.pop_front();
    }
    last_end = end;
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------
// DeviceArray

DeviceArray::DeviceArray(DeviceArray&& other) noexcept
    : state_(std::move(other.state_)), ptr_(other.ptr_), size_(other.size_) {
  other.ptr_ = nullptr;
  other.size_ = 0;
}

DeviceArray& DeviceArray::operator=(DeviceArray&& other) noexcept {
  if (this != &other) {
    DeviceArray dead(std::move(*this));
    state_ = std::move(other.state_);
    ptr_ = other.ptr_;
    size_ = other.size_;
    other.ptr_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

DeviceArray::~DeviceArray() {
  if (!state_) return;
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->reader == ptr_) state_->ResetReader();
  if (ptr_) state_->backend->FreeDevice(ptr_);
  state_->stats.device_bytes -= size_;
}

// ---------------------------------------------------------------------------
// PieceDigests

void PieceDigests::Add(uint64_t offset, ByteView data) {
  if (data.empty()) return;
  pieces_.push_back({offset, data.size(), Crc32c(data)});
}

Status PieceDigests::CheckCoverage(uint64_t total) {
  std::sort(pieces_.begin(), pieces_.end(),
            [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  uint64_t pos = 0;
  for (const Piece& p : pieces_) {
    if (p.offset != pos) {
      return InternalError("staged pieces {} bytes {} at {} (expected the next piece at {})",
                           p.offset < pos ? "overlap:" : "leave a gap:", p.size, p.offset, pos);
    }
    pos += p.size;
  }
  if (pos != total) return InternalError("staged pieces cover {} of {} bytes", pos, total);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// DeviceArrayWriter

DeviceArrayWriter::DeviceArrayWriter(std::shared_ptr<ContextState> state, DeviceArray* dst,
                                     bool digests)
    : state_(std::move(state)), dst_(dst), record_digests_(digests) {}

DeviceArrayWriter::~DeviceArrayWriter() {
  if (finished_) return;
  // Copies still reading ring buffers (or writing dst) must end first.
  ContextState::Lock lock(state_.get());
  if (lock.status().ok()) state_->Drain().IgnoreError();
}

Status DeviceArrayWriter::WriteAt(uint64_t offset, ByteView data) {
  // The digest is computed before taking the ring, so that concurrent
  // writers overlap their CRC work.
  PieceDigests::Piece piece{offset, data.size(), record_digests_ ? Crc32c(data) : 0};
  ContextState::Lock lock(state_.get());
  OCKPT_RETURN_IF_ERROR(lock.status());
  if (!error_.ok()) return error_;
  if (finished_) return InternalError("write to a finished device array writer");
  if (offset > dst_->size() || data.size() > dst_->size() - offset) {
    error_ = InternalError("write of {} bytes at {} outside a {}-byte device array", data.size(),
                           offset, dst_->size());
    return error_;
  }
  if (record_digests_ && !data.empty()) digests_.Add(piece);
  error_ = state_->Push(static_cast<char*>(dst_->data()), offset, data.size(),
                        [&](char* buf, uint64_t pos, size_t len) -> Status {
                          std::memcpy(buf, data.data() + pos, len);
                          return Status::Ok();
                        });
  return error_;
}

Status DeviceArrayWriter::WriteFrom(const ArraySource& src, uint64_t offset, uint64_t n) {
  ContextState::Lock lock(state_.get());
  OCKPT_RETURN_IF_ERROR(lock.status());
  if (!error_.ok()) return error_;
  if (finished_) return InternalError("write to a finished device array writer");
  if (offset > dst_->size() || n > dst_->size() - offset || offset > src.size() ||
      n > src.size() - offset) {
    error_ =
        InternalError("copy of {} bytes at {} outside a {}-byte array", n, offset, dst_->size());
    return error_;
  }
  error_ = state_->Push(static_cast<char*>(dst_->data()), offset, n,
                        [&](char* buf, uint64_t pos, size_t len) -> Status {
                          OCKPT_RETURN_IF_ERROR(src.ReadAt(offset + pos, len, buf));
                          if (record_digests_) digests_.Add(offset + pos, ByteView(buf, len));
                          return Status::Ok();
                        });
  return error_;
}

Status DeviceArrayWriter::Finish() {
  if (finished_) return error_;
  ContextState::Lock lock(state_.get());
  OCKPT_RETURN_IF_ERROR(lock.status());
  Status s = state_->Drain();
  finished_ = true;
  if (error_.ok()) error_ = s;
  return error_;
}

// ---------------------------------------------------------------------------
// Reading back

namespace {

class DeviceArraySource final : public ArraySource {
 public:
  DeviceArraySource(std::shared_ptr<ContextState> state, const DeviceArray* array,
                    std::shared_ptr<const DeviceArray> owned)
      : state_(std::move(state)), array_(array), owned_(std::move(owned)) {}
  uint64_t size() const override { return array_->size(); }
  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    ContextState::Lock lock(state_.get());
    OCKPT_RETURN_IF_ERROR(lock.status());
    char* out = dst;
    return state_->ReadBack(static_cast<const char*>(array_->data()), array_->size(), offset, n,
                            [&](ByteView v) -> Status {
                              std::memcpy(out, v.data(), v.size());
                              out += v.size();
                              return Status::Ok();
                            });
  }

 private:
  std::shared_ptr<ContextState> state_;
  const DeviceArray* array_;
  std::shared_ptr<const DeviceArray> owned_;
};

}  // namespace

// ---------------------------------------------------------------------------
// DeviceContext

DeviceContext::DeviceContext(std::shared_ptr<ContextState> state) : state_(std::move(state)) {}
DeviceContext::~DeviceContext() = default;

namespace {

Result<std::unique_ptr<CopyBackend>> OpenBackend(std::string_view device, const StagingOptions& opt,
                                                 const HostBackendOptions& host,
                                                 std::string* name) {
  if (device == "host") {
    *name = "host";
    return OpenHostBackend(opt.streams, opt.buffers, host);
  }
  int ordinal = -1;
  if (device == "cuda") {
    ordinal = 0;
  } else if (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.size() <= 11) {
    ordinal = 0;
    for (char c : device.substr(5)) {
      if (c < '0' || c > '9') {
        ordinal = -1;
        break;
      }
      ordinal = ordinal * 10 + (c - '0');
    }
  }
  if (ordinal < 0)
    return InvalidArgumentError("device must be host, cuda or cuda:N, not '{}'", device);
  *name = fmt::format("cuda:{}", ordinal);
  std::unique_ptr<CopyBackend> backend;
  BackendStatus s = OpenCudaBackend(ordinal, opt.streams, opt.buffers, &backend);
  if (!s.ok()) return ToStatus(s);
  return backend;
}

}  // namespace

Result<std::unique_ptr<DeviceContext>> DeviceContext::Open(std::string_view device,
                                                           const StagingOptions& options) {
  return OpenHostOr(device, options, HostBackendOptions{});
}

Result<std::unique_ptr<DeviceContext>> DeviceContext::OpenHost(const StagingOptions& options,
                                                               const HostBackendOptions& host) {
  return OpenHostOr("host", options, host);
}

Result<std::unique_ptr<DeviceContext>> DeviceContext::OpenHostOr(std::string_view device,
                                                                 const StagingOptions& options,
                                                                 const HostBackendOptions& host) {
  if (options.buffers < 1 || options.streams < 1 || options.buffer_bytes < 1) {
    return InvalidArgumentError(
        "staging needs at least one buffer, one stream and buffers of at least one byte");
  }
  auto state = std::make_shared<ContextState>();
  state->opt = options;
  OCKPT_ASSIGN_OR_RETURN(state->backend, OpenBackend(device, options, host, &state->name));
  state->slots.resize(static_cast<size_t>(options.buffers));
  for (ContextState::Slot& slot : state->slots) {
    BackendStatus s = state->backend->AllocPinned(options.buffer_bytes, &slot.buf);
    if (!s.ok())
      return ToStatus(s).WithContext(fmt::format("{}: allocating the staging ring", state->name));
    state->stats.pinned_bytes += options.buffer_bytes;
  }
  return std::unique_ptr<DeviceContext>(new DeviceContext(std::move(state)));
}

const std::string& DeviceContext::name() const { return state_->name; }
std::string DeviceContext::Describe() const { return state_->backend->Describe(); }
const StagingOptions& DeviceContext::options() const { return state_->opt; }

StagingStats DeviceContext::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

Result<DeviceArray> DeviceContext::Allocate(uint64_t bytes) {
  DeviceArray a;
  if (bytes > 0) {
    BackendStatus s = state_->backend->AllocDevice(bytes, &a.ptr_);
    if (!s.ok()) return ToStatus(s);
  }
  a.state_ = state_;
  a.size_ = bytes;
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stats.device_bytes += bytes;
  state_->stats.peak_device_bytes =
      std::max(state_->stats.peak_device_bytes, state_->stats.device_bytes);
  return a;
}

std::unique_ptr<DeviceArrayWriter> DeviceContext::OpenWriter(DeviceArray* dst,
                                                             bool record_digests) {
  return std::unique_ptr<DeviceArrayWriter>(new DeviceArrayWriter(state_, dst, record_digests));
}

std::unique_ptr<ArraySource> DeviceContext::OpenSource(const DeviceArray& src) {
  return std::make_unique<DeviceArraySource>(state_, &src, nullptr);
}

std::unique_ptr<ArraySource> DeviceContext::OpenSource(std::shared_ptr<const DeviceArray> src) {
  const DeviceArray* p = src.get();
  return std::make_unique<DeviceArraySource>(state_, p, std::move(src));
}

Result<DeviceArray> DeviceContext::Stage(uint64_t bytes,
                                         const std::function<Status(ArrayWriter&)>& fill,
                                         PieceDigests* digests) {
  OCKPT_ASSIGN_OR_RETURN(DeviceArray a, Allocate(bytes));
  {
    std::unique_ptr<DeviceArrayWriter> w = OpenWriter(&a, digests != nullptr);
    OCKPT_RETURN_IF_ERROR(fill(*w));
    OCKPT_RETURN_IF_ERROR(w->Finish());
    if (digests) *digests = w->digests();
  }
  return a;
}

Result<DeviceArray> DeviceContext::Upload(const ArraySource& src, PieceDigests* digests) {
  OCKPT_ASSIGN_OR_RETURN(DeviceArray a, Allocate(src.size()));
  {
    std::unique_ptr<DeviceArrayWriter> w = OpenWriter(&a, digests != nullptr);
    OCKPT_RETURN_IF_ERROR(w->WriteFrom(src, 0, src.size()));
    OCKPT_RETURN_IF_ERROR(w->Finish());
    if (digests) *digests = w->digests();
  }
  return a;
}

Status DeviceContext::ReadBack(const DeviceArray& src, uint64_t offset, uint64_t n,
                               const std::function<Status(ByteView)>& fn) {
  ContextState::Lock lock(state_.get());
  OCKPT_RETURN_IF_ERROR(lock.status());
  return state_->ReadBack(static_cast<const char*>(src.data()), src.size(), offset, n, fn);
}

Status DeviceContext::CopyToHost(const DeviceArray& src, uint64_t offset, size_t n, char* dst) {
  return ReadBack(src, offset, n, [&](ByteView v) {
    std::memcpy(dst, v.data(), v.size());
    dst += v.size();
    return Status::Ok();
  });
}

Result<std::string> DeviceContext::Sha256(const DeviceArray& src) {
  ockpt::Sha256 h;
  OCKPT_RETURN_IF_ERROR(ReadBack(src, 0, src.size(), [&](ByteView v) {
    h.Update(v);
    return Status::Ok();
  }));
  return h.HexDigest();
}

Status DeviceContext::Verify(const DeviceArray& src, PieceDigests digests) {
  OCKPT_RETURN_IF_ERROR(digests.CheckCoverage(src.size()));
  const auto& pieces = digests.pieces();
  size_t k = 0;
  uint64_t pos = 0;
  uint32_t crc = 0;
  return ReadBack(src, 0, src.size(), [&](ByteView v) -> Status {
    while (!v.empty()) {
      const PieceDigests::Piece& p = pieces[k];
      size_t take = static_cast<size_t>(std::min<uint64_t>(v.size(), p.offset + p.size - pos));
      crc = Crc32cExtend(crc, v.substr(0, take));
      v.remove_prefix(take);
      pos += take;
      if (pos == p.offset + p.size) {
        if (crc != p.crc32c) {
          return DataLossError(
              "the device copy of bytes [{}, {}) differs from the host bytes (CRC-32C {:08x}, "
              "expected {:08x})",
              p.offset, p.offset + p.size, crc, p.crc32c);
        }
        crc = 0;
        ++k;
      }
    }
    return Status::Ok();
  });
}

Result<double> DeviceContext::MeasureBandwidth(bool to_device, uint64_t bytes, int repeats) {
  ContextState::Lock lock(state_.get());
  OCKPT_RETURN_IF_ERROR(lock.status());
  ContextState& st = *state_;
  OCKPT_RETURN_IF_ERROR(st.Drain());
  st.ResetReader();
  CopyBackend& b = *st.backend;
  char* pinned = nullptr;
  void* device = nullptr;
  OCKPT_RETURN_IF_ERROR(ToStatus(b.AllocPinned(bytes, &pinned)));
  BackendStatus s = b.AllocDevice(bytes, &device);
  if (!s.ok()) {
    b.FreePinned(pinned);
    return ToStatus(s);
  }
  std::memset(pinned, 0x5a, bytes);
  double best = 0;
  for (int r = 0; r < std::max(1, repeats) && s.ok(); ++r) {
    auto t0 = Clock::now();
    s = to_device ? b.CopyToDeviceAsync(device, pinned, bytes, 0)
                  : b.CopyToHostAsync(pinned, device, bytes, 0);
    if (s.ok()) s = b.RecordEvent(0, 0);
    if (s.ok()) s = b.WaitEvent(0);
    double t = Seconds(t0, Clock::now());
    if (s.ok() && t > 0) best = std::max(best, static_cast<double>(bytes) / t);
  }
  b.FreeDevice(device);
  b.FreePinned(pinned);
  OCKPT_RETURN_IF_ERROR(ToStatus(s));
  return best;
}

uint64_t LeafBytes(const LeafRecord& leaf) {
  if (!leaf.HasArrayData()) return 0;
  return static_cast<uint64_t>(NumElements(*leaf.shape)) * SizeOf(*leaf.dtype);
}

}  // namespace ockpt::staging
