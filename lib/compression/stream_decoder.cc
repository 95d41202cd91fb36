// StreamDecoder implementations over libzstd's and zlib's streaming APIs.

#include "lib/compression/stream_decoder.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>

namespace ockpt {
namespace {

constexpr size_t kInputBufferBytes = size_t{256} << 10;

// Input pulled through a fixed buffer.
class InputBuffer {
 public:
  InputBuffer(uint64_t size, StreamDecoder::ReadInput read) : size_(size), read_(std::move(read)) {}
  bool exhausted() const { return offset_ == size_; }
  uint64_t size() const { return size_; }
  // Refills the buffer with the next bytes; returns them.
  Result<ByteView> Next() {
    if (buffer_.empty()) buffer_ = ZeroedBytes(static_cast<size_t>(std::min<uint64_t>(size_, kInputBufferBytes)));
    size_t n = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), size_ - offset_));
    OCKPT_RETURN_IF_ERROR(read_(offset_, n, buffer_.data()));
    offset_ += n;
    return ByteView(buffer_.data(), n);
  }

 private:
  uint64_t size_;
  uint64_t offset_ = 0;
  StreamDecoder::ReadInput read_;
  Bytes buffer_;
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
  ZstdStreamDecoder(uint64_t size, ReadInput read)
      : input_(size, std::move(read)), dctx_(ZSTD_createDCtx()) {}
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
  ZlibStreamDecoder(uint64_t size, ReadInput read, bool gzip)
      : input_(size, std::move(read)), gzip_(gzip) {
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
                                                             ReadInput read) {
  switch (codec) {
    case Codec::kNone:
      return std::unique_ptr<StreamDecoder>(new PlainDecoder(input_size, std::move(read)));
    case Codec::kZstd:
      return std::unique_ptr<StreamDecoder>(new ZstdStreamDecoder(input_size, std::move(read)));
    case Codec::kZlib:
    case Codec::kGzip:
      return std::unique_ptr<StreamDecoder>(
          new ZlibStreamDecoder(input_size, std::move(read), codec == Codec::kGzip));
  }
  return InternalError("unknown stream codec");
}

Result<std::unique_ptr<ZstdStreamEncoder>> ZstdStreamEncoder::Create(int level,
                                                                     uint64_t pledged_size,
                                                                     int threads,
                                                                     bool checksum) {
  std::unique_ptr<ZstdStreamEncoder> e(new ZstdStreamEncoder());
  e->cctx_ = ZSTD_createCCtx();
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
  e->output_ = ZeroedBytes(ZSTD_CStreamOutSize());
  return e;
}

ZstdStreamEncoder::~ZstdStreamEncoder() { ZSTD_freeCCtx(cctx_); }

Status ZstdStreamEncoder::Write(ByteView input, const Append& append) {
  return Run(input, false, append);
}

Status ZstdStreamEncoder::Finish(const Append& append) { return Run(ByteView(), true, append); }

Status ZstdStreamEncoder::Run(ByteView input, bool end, const Append& append) {
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
