// zstd, zlib/gzip and blosc wrappers.

#include "lib/compression/compression.h"

#include <blosc.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>

namespace ockpt {

namespace {

// One context per thread, reused across calls: creating one allocates and
// initializes its tables (measurable on 4 MiB chunks). Freed at thread exit.
struct ZstdContexts {
  ZSTD_CCtx* cctx = nullptr;
  ZSTD_DCtx* dctx = nullptr;
  ~ZstdContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

ZstdContexts& ThreadZstdContexts() {
  thread_local ZstdContexts contexts;
  return contexts;
}

}  // namespace

Result<Bytes> ZstdDecompress(ByteView input, size_t max_size) {
  if (input.size() < 4) return DataLossError("zstd frame of {} bytes is too short", input.size());
  size_t frame_size = ZSTD_findFrameCompressedSize(input.data(), input.size());
  if (ZSTD_isError(frame_size)) {
    return DataLossError("bad zstd frame: {}", ZSTD_getErrorName(frame_size));
  }
  if (frame_size != input.size()) {
    return DataLossError("zstd frame is {} bytes but {} bytes were given (trailing data)",
                         frame_size, input.size());
  }
  unsigned long long content = ZSTD_getFrameContentSize(input.data(), input.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) return DataLossError("bad zstd frame header");
  Bytes out;
  if (content != ZSTD_CONTENTSIZE_UNKNOWN) {
    if (content > max_size) {
      return DataLossError("zstd frame declares {} bytes, more than the {} expected",
                           content, max_size);
    }
    out = ReusedBytes(content);  // every byte is decoded into, or an error
    // The size is known: decode straight into the output (the streaming
    // API would go through its window buffer, one more copy).
    ZstdContexts& ctx = ThreadZstdContexts();
    if (ctx.dctx == nullptr) ctx.dctx = ZSTD_createDCtx();
    if (ctx.dctx == nullptr) return InternalError("ZSTD_createDCtx failed");
    size_t n = ZSTD_decompressDCtx(ctx.dctx, out.data(), out.size(), input.data(), input.size());
    if (ZSTD_isError(n)) return DataLossError("zstd: {}", ZSTD_getErrorName(n));
    if (n != content) {
      return DataLossError("zstd frame decoded to {} bytes, header says {}", n, content);
    }
    return out;
  }
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return InternalError("ZSTD_createDCtx failed");
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t produced = 0;
  size_t ret = 1;
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_size) {
        // Room is exhausted; a finished frame is fine, more output is not.
        if (ret == 0) break;
        char probe;
        ZSTD_outBuffer o{&probe, 1, 0};
        ret = ZSTD_decompressStream(dctx.get(), &o, &in);
        if (ZSTD_isError(ret)) return DataLossError("zstd: {}", ZSTD_getErrorName(ret));
        if (o.pos > 0) return DataLossError("zstd frame decodes to more than {} bytes", max_size);
        if (ret == 0) break;
        if (in.pos == in.size) return DataLossError("truncated zstd frame");
        continue;
      }
      size_t grow = std::max<size_t>(out.size(), ZSTD_DStreamOutSize());
      out.resize(std::min(max_size, out.size() + grow));
    }
    ZSTD_outBuffer o{out.data() + produced, out.size() - produced, 0};
    ret = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(ret)) return DataLossError("zstd: {}", ZSTD_getErrorName(ret));
    produced += o.pos;
    if (ret == 0) break;
    if (in.pos == in.size && o.pos < o.size) return DataLossError("truncated zstd frame");
  }
  if (content != ZSTD_CONTENTSIZE_UNKNOWN && produced != content) {
    return DataLossError("zstd frame decoded to {} bytes, header says {}", produced, content);
  }
  out.resize(produced);
  return out;
}

Result<Bytes> ZstdCompress(ByteView input, int level, bool checksum) {
  Bytes out = ZeroedBytes(ZSTD_compressBound(input.size()));
  ZstdContexts& ctx = ThreadZstdContexts();
  if (ctx.cctx == nullptr) ctx.cctx = ZSTD_createCCtx();
  if (ctx.cctx == nullptr) return InternalError("ZSTD_createCCtx failed");
  size_t n;
  if (!checksum) {
    // The same frame as ZSTD_compress (a reused context starts afresh).
    n = ZSTD_compressCCtx(ctx.cctx, out.data(), out.size(), input.data(), input.size(), level);
  } else {
    // ZSTD_compress2 with the level and the checksum flag set: the same
    // frame as ZSTD_compressCCtx plus the 4-byte content checksum.
    ZSTD_CCtx_reset(ctx.cctx, ZSTD_reset_session_and_parameters);
    n = ZSTD_CCtx_setParameter(ctx.cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(n)) n = ZSTD_CCtx_setParameter(ctx.cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(n)) {
      n = ZSTD_compress2(ctx.cctx, out.data(), out.size(), input.data(), input.size());
    }
    ZSTD_CCtx_reset(ctx.cctx, ZSTD_reset_session_and_parameters);
  }
  if (ZSTD_isError(n)) return InternalError("zstd compression failed: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Result<Bytes> ZlibDecompress(ByteView input, size_t max_size, bool gzip) {
  z_stream zs{};
  // 15 = zlib header; 15+16 = gzip header; 15+32 = either.
  if (inflateInit2(&zs, gzip ? 15 + 32 : 15) != Z_OK) return InternalError("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  Bytes out;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.total_out == out.size()) {
      if (out.size() >= max_size) {
        inflateEnd(&zs);
        return DataLossError("{} stream decodes to more than {} bytes", gzip ? "gzip" : "zlib", max_size);
      }
      out.resize(std::min(max_size, std::max<size_t>(4096, out.size() * 2)));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs.avail_out == 0)) {
      std::string msg = zs.msg ? zs.msg : "truncated or corrupt stream";
      inflateEnd(&zs);
      return DataLossError("{}: {}", gzip ? "gzip" : "zlib", msg);
    }
  }
  size_t produced = zs.total_out;
  bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) return DataLossError("{} stream followed by trailing bytes", gzip ? "gzip" : "zlib");
  out.resize(produced);
  return out;
}

Result<Bytes> ZlibCompress(ByteView input, int level, bool gzip) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return InternalError("deflateInit2 failed");
  }
  Bytes out(deflateBound(&zs, input.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return InternalError("deflate failed");
  out.resize(n);
  return out;
}

Result<Bytes> BloscDecompress(ByteView input, size_t max_size) {
  if (input.size() < BLOSC_MIN_HEADER_LENGTH) {
    return DataLossError("blosc frame of {} bytes is too short", input.size());
  }
  size_t nbytes = 0, cbytes = 0, blocksize = 0;
  blosc_cbuffer_sizes(input.data(), &nbytes, &cbytes, &blocksize);
  if (cbytes != input.size()) {
    return DataLossError("blosc header says {} compressed bytes, have {}", cbytes, input.size());
  }
  if (nbytes > max_size) {
    return DataLossError("blosc frame declares {} bytes, more than the {} expected", nbytes, max_size);
  }
  Bytes out(nbytes, '\0');
  int n = blosc_decompress_ctx(input.data(), out.data(), out.size(), 1);
  if (n < 0 || static_cast<size_t>(n) != nbytes) {
    return DataLossError("corrupt blosc frame (code {})", n);
  }
  return out;
}

}  // namespace ockpt
