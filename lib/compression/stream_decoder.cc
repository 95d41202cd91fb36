// StreamDecoder implementations over libzstd's and zlib's streaming APIs.

#include "lib/compression/stream_decoder.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace ockpt {
namespace {

constexpr size_t kInputBufferBytes = size_t{256} << 10;
// With read-ahead: larger blocks, a few of them, filled by a thread of
// their own.
constexpr size_t kReadAheadBlockBytes = size_t{1} << 20;
constexpr size_t kReadAheadBlocks = 3;
// A streamed input (a remote object) fills a few more, so that the
// transfer rarely waits for the decoder.
constexpr size_t kStreamBlocks = 8;

// A multi-worker compression context kept by a thread between its frames:
// zstd's workers, their contexts and job buffers (13-18 MiB with two
// workers) are made once per thread instead of once per frame. Made per
// frame, they cost fresh pages (a 2-thread save of 64 MiB chunks took 0.7 s
// more system time when they were mapped and unmapped per frame) or, from
// malloc, stayed in the arenas of zstd's short-lived threads (RSS grew with
// the thread count: about 300 MiB with 16). Freed when the thread exits.
// Only contexts of a few workers are kept (those of chunks side by side,
// frame after frame): one of a frame on every core of a large machine
// would keep that many threads and their buffers after the save.
constexpr int kMaxCachedWorkers = 2;
struct CachedCCtx {
  ZSTD_CCtx* cctx = nullptr;
  ~CachedCCtx() { ZSTD_freeCCtx(cctx); }
};

CachedCCtx& ThreadCachedCCtx() {
  thread_local CachedCCtx cached;
  return cached;
}

// Input pulled through a fixed buffer; with read_ahead, a thread reads the
// next blocks while the codec works on the current one.
class InputBuffer {
 public:
  InputBuffer(uint64_t size, StreamDecoder::ReadInput read, bool read_ahead,
              StreamDecoder::StreamInput stream)
      : size_(size), read_(std::move(read)), stream_(std::move(stream)) {
    if ((read_ahead && size_ > kInputBufferBytes) || (stream_ && size_ > 0)) {
      const size_t blocks = stream_ ? kStreamBlocks : kReadAheadBlocks;
      for (size_t i = 0; i < blocks; ++i) {
        blocks_.push_back(ZeroedBytes(kReadAheadBlockBytes));
        free_.push_back(i);
      }
      if (stream_) {
        thread_ = std::thread([this] { StreamAhead(); });
      } else {
        thread_ = std::thread([this] { ReadAhead(); });
      }
    }
  }
  ~InputBuffer() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool exhausted() const { return offset_ == size_; }
  uint64_t size() const { return size_; }
  // Refills the buffer with the next bytes; returns them (valid until the
  // next call).
  Result<ByteView> Next() {
    if (thread_.joinable()) return NextAhead();
    if (buffer_.empty())
      buffer_ = ZeroedBytes(static_cast<size_t>(std::min<uint64_t>(size_, kInputBufferBytes)));
    size_t n = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), size_ - offset_));
    OCKPT_RETURN_IF_ERROR(read_(offset_, n, buffer_.data()));
    offset_ += n;
    return ByteView(buffer_.data(), n);
  }

 private:
  struct Filled {
    size_t block;
    size_t n;
    Status status;
  };
  Result<ByteView> NextAhead() {
    std::unique_lock lock(mu_);
    if (held_) {  // the block handed out last time is free again
      free_.push_back(held_block_);
      held_ = false;
      cv_.notify_all();
    }
    cv_.wait(lock, [this] { return !filled_.empty(); });
    Filled f = std::move(filled_.front());
    filled_.pop_front();
    if (!f.status.ok()) return f.status;
    held_ = true;
    held_block_ = f.block;
    offset_ += f.n;
    return ByteView(blocks_[f.block].data(), f.n);
  }
  // One streamed read of the whole input, packed into the blocks as it
  // arrives; waits (holding the transfer) while every block is full.
  void StreamAhead() {
    constexpr size_t kNone = ~size_t{0};
    size_t block = kNone, fill = 0;
    uint64_t next = 0;
    auto hand_over = [this, &block, &fill] {  // mu_ held
      filled_.push_back(Filled{block, fill, Status::Ok()});
      block = kNone;
      fill = 0;
      cv_.notify_all();
    };
    Status st = stream_(0, size_, [&](uint64_t offset, ByteView data) -> Status {
      if (offset != next) {
        return InternalError("streamed input out of order: {} bytes at {}, {} expected",
                             data.size(), offset, next);
      }
      next += data.size();
      while (!data.empty()) {
        if (block == kNone) {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [this] { return stop_ || !free_.empty(); });
          if (stop_) return InternalError("input no longer needed");
          block = free_.front();
          free_.pop_front();
        }
        const size_t take = std::min(data.size(), kReadAheadBlockBytes - fill);
        std::memcpy(blocks_[block].data() + fill, data.data(), take);
        fill += take;
        data.remove_prefix(take);
        if (fill == kReadAheadBlockBytes) {
          std::lock_guard lock(mu_);
          hand_over();
        }
      }
      return Status::Ok();
    });
    std::lock_guard lock(mu_);
    if (st.ok() && next != size_) {
      st = DataLossError("streamed input ended after {} of {} bytes", next, size_);
    }
    if (!st.ok()) {
      filled_.push_back(Filled{0, 0, std::move(st)});
      cv_.notify_all();
      return;
    }
    if (block != kNone) hand_over();
  }

  void ReadAhead() {
    uint64_t at = 0;
    std::unique_lock lock(mu_);
    while (at < size_) {
      cv_.wait(lock, [this] { return stop_ || !free_.empty(); });
      if (stop_) return;
      const size_t b = free_.front();
      free_.pop_front();
      lock.unlock();
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kReadAheadBlockBytes, size_ - at));
      Status st = read_(at, n, blocks_[b].data());
      at += n;
      lock.lock();
      const bool failed = !st.ok();
      filled_.push_back(Filled{b, n, std::move(st)});
      cv_.notify_all();
      if (failed) return;
    }
  }

  uint64_t size_;
  uint64_t offset_ = 0;  // bytes handed out
  StreamDecoder::ReadInput read_;
  StreamDecoder::StreamInput stream_;
  Bytes buffer_;
  // Read-ahead.
  std::vector<Bytes> blocks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<size_t> free_;
  std::deque<Filled> filled_;
  bool held_ = false;
  size_t held_block_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

class PlainDecoder final : public StreamDecoder {
 public:
  PlainDecoder(uint64_t size, ReadInput read) : size_(size), read_(std::move(read)) {}
  Result<uint64_t> Skip(uint64_t n) override {
    uint64_t take = std::min<uint64_t>(n, size_ - position_);
    position_ += take;
    return take;
  }

 private:
  Result<size_t> Decode(char* dst, size_t n) override {
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, size_ - position_));
    if (take > 0) OCKPT_RETURN_IF_ERROR(read_(position_, take, dst));
    position_ += take;
    return take;
  }

  uint64_t size_;
  ReadInput read_;
};

class ZstdStreamDecoder final : public StreamDecoder {
 public:
  ZstdStreamDecoder(uint64_t size, ReadInput read, bool read_ahead, StreamInput stream)
      : input_(size, std::move(read), read_ahead, std::move(stream)), dctx_(ZSTD_createDCtx()) {}
  ~ZstdStreamDecoder() override { ZSTD_freeDCtx(dctx_); }

 private:
  Result<size_t> Decode(char* dst, size_t n) override {
    if (dctx_ == nullptr) return InternalError("ZSTD_createDCtx failed");
    size_t produced = 0;
    while (produced < n && !finished_) {
      if (in_.pos == in_.size && !input_.exhausted()) {
        OCKPT_ASSIGN_OR_RETURN(ByteView next, input_.Next());
        in_ = ZSTD_inBuffer{next.data(), next.size(), 0};
      }
      ZSTD_outBuffer out{dst + produced, n - produced, 0};
      size_t ret = ZSTD_decompressStream(dctx_, &out, &in_);
      if (ZSTD_isError(ret)) return DataLossError("zstd: {}", ZSTD_getErrorName(ret));
      produced += out.pos;
      if (ret == 0) {
        finished_ = true;
        if (in_.pos != in_.size || !input_.exhausted()) {
          return DataLossError("zstd frame is followed by trailing bytes ({} bytes of input)",
                               input_.size());
        }
      } else if (out.pos == 0 && in_.pos == in_.size && input_.exhausted()) {
        return DataLossError("truncated zstd frame ({} bytes of input)", input_.size());
      }
    }
    position_ += produced;
    return produced;
  }

  InputBuffer input_;
  ZSTD_DCtx* dctx_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  bool finished_ = false;
};

class ZlibStreamDecoder final : public StreamDecoder {
 public:
  ZlibStreamDecoder(uint64_t size, ReadInput read, bool gzip, bool read_ahead, StreamInput stream)
      : input_(size, std::move(read), read_ahead, std::move(stream)), gzip_(gzip) {
    // 15 = zlib header; 15 + 32 = zlib or gzip header.
    ok_ = inflateInit2(&zs_, gzip ? 15 + 32 : 15) == Z_OK;
  }
  ~ZlibStreamDecoder() override {
    if (ok_) inflateEnd(&zs_);
  }

 private:
  Result<size_t> Decode(char* dst, size_t n) override {
    if (!ok_) return InternalError("inflateInit2 failed");
    const char* name = gzip_ ? "gzip" : "zlib";
    size_t produced = 0;
    while (produced < n && !finished_) {
      if (zs_.avail_in == 0 && !input_.exhausted()) {
        OCKPT_ASSIGN_OR_RETURN(ByteView next, input_.Next());
        zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(next.data()));
        zs_.avail_in = static_cast<uInt>(next.size());
      }
      size_t room = std::min<size_t>(n - produced, size_t{1} << 30);
      zs_.next_out = reinterpret_cast<Bytef*>(dst + produced);
      zs_.avail_out = static_cast<uInt>(room);
      int rc = inflate(&zs_, Z_NO_FLUSH);
      size_t out = room - zs_.avail_out;
      produced += out;
      if (rc == Z_STREAM_END) {
        finished_ = true;
        if (zs_.avail_in != 0 || !input_.exhausted()) {
          return DataLossError("{} stream is followed by trailing bytes", name);
        }
      } else if (rc == Z_BUF_ERROR || (rc == Z_OK && out == 0)) {
        if (zs_.avail_in == 0 && input_.exhausted()) {
          return DataLossError("truncated {} stream ({} bytes of input)", name, input_.size());
        }
      } else if (rc != Z_OK) {
        return DataLossError("{}: {}", name, zs_.msg ? zs_.msg : "corrupt stream");
      }
    }
    position_ += produced;
    return produced;
  }

  InputBuffer input_;
  bool gzip_;
  bool ok_ = false;
  z_stream zs_{};
  bool finished_ = false;
};

}  // namespace

Result<size_t> StreamDecoder::Read(char* dst, size_t n) {
  if (!error_.ok()) return error_;
  Result<size_t> r = Decode(dst, n);
  if (!r.ok()) error_ = r.status();
  return r;
}

Result<uint64_t> StreamDecoder::Skip(uint64_t n) {
  Bytes scratch = ZeroedBytes(static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 20)));
  uint64_t done = 0;
  while (done < n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(scratch.size(), n - done));
    OCKPT_ASSIGN_OR_RETURN(size_t got, Read(scratch.data(), want));
    done += got;
    if (got < want) break;
  }
  return done;
}

Result<std::unique_ptr<StreamDecoder>> StreamDecoder::Create(Codec codec, uint64_t input_size,
                                                             ReadInput read, bool read_ahead,
                                                             StreamInput stream) {
  switch (codec) {
    case Codec::kNone:
      return std::unique_ptr<StreamDecoder>(new PlainDecoder(input_size, std::move(read)));
    case Codec::kZstd:
      return std::unique_ptr<StreamDecoder>(
          new ZstdStreamDecoder(input_size, std::move(read), read_ahead, std::move(stream)));
    case Codec::kZlib:
    case Codec::kGzip:
      return std::unique_ptr<StreamDecoder>(
          new ZlibStreamDecoder(input_size, std::move(read), codec == Codec::kGzip, read_ahead,
                                std::move(stream)));
  }
  return InternalError("unknown stream codec");
}

Result<std::unique_ptr<ZstdStreamEncoder>> ZstdStreamEncoder::Create(int level,
                                                                     uint64_t pledged_size,
                                                                     int threads,
                                                                     bool checksum) {
  std::unique_ptr<ZstdStreamEncoder> e(new ZstdStreamEncoder());
  e->cached_ = threads > 0 && threads <= kMaxCachedWorkers;
  if (e->cached_) std::swap(e->cctx_, ThreadCachedCCtx().cctx);  // (a new one when none)
  if (e->cctx_ == nullptr) e->cctx_ = ZSTD_createCCtx();
  if (e->cctx_ == nullptr) return InternalError("ZSTD_createCCtx failed");
  auto check = [](size_t r) -> Status {
    if (ZSTD_isError(r)) return InternalError("zstd compression failed: {}", ZSTD_getErrorName(r));
    return Status::Ok();
  };
  OCKPT_RETURN_IF_ERROR(check(ZSTD_CCtx_setParameter(e->cctx_, ZSTD_c_compressionLevel, level)));
  if (checksum) OCKPT_RETURN_IF_ERROR(check(ZSTD_CCtx_setParameter(e->cctx_, ZSTD_c_checksumFlag, 1)));
  // Ignored by a libzstd built without threads.
  if (threads > 0) ZSTD_CCtx_setParameter(e->cctx_, ZSTD_c_nbWorkers, threads);
  OCKPT_RETURN_IF_ERROR(check(ZSTD_CCtx_setPledgedSrcSize(e->cctx_, pledged_size)));
  e->pledged_size_ = pledged_size;
  e->output_ = ZeroedBytes(ZSTD_CStreamOutSize());
  return e;
}

ZstdStreamEncoder::~ZstdStreamEncoder() {
  if (cached_ && cctx_ != nullptr) {
    CachedCCtx& cached = ThreadCachedCCtx();
    if (cached.cctx == nullptr &&
        !ZSTD_isError(ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters))) {
      cached.cctx = cctx_;  // for this thread's next frame; Create sets every parameter
      return;
    }
  }
  ZSTD_freeCCtx(cctx_);
}

Status ZstdStreamEncoder::Write(ByteView input, const Append& append) {
  return Run(input, false, append);
}

Status ZstdStreamEncoder::Finish(ByteView last, const Append& append) {
  return Run(last, true, append);
}

Status ZstdStreamEncoder::Run(ByteView input, bool end, const Append& append) {
  // zstd checks the pledged size on one thread but not with workers, where
  // a short input would end a frame whose header promises more.
  if (input.size() > pledged_size_ - given_ || (end && given_ + input.size() != pledged_size_)) {
    return InternalError("zstd frame of {} bytes pledged got {}{}", pledged_size_,
                         end ? "" : "more than ", given_ + input.size());
  }
  given_ += input.size();
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  const ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
  while (true) {
    ZSTD_outBuffer out{output_.data(), output_.size(), 0};
    size_t left = ZSTD_compressStream2(cctx_, &out, &in, mode);
    if (ZSTD_isError(left)) {
      return InternalError("zstd compression failed: {}", ZSTD_getErrorName(left));
    }
    if (out.pos > 0) OCKPT_RETURN_IF_ERROR(append(ByteView(output_.data(), out.pos)));
    if (end ? left == 0 : in.pos == in.size) return Status::Ok();
  }
}

}  // namespace ockpt
