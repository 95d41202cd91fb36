// Streaming codecs. StreamDecoder: decodes a zstd frame, a zlib stream or a
// gzip member piece by piece, pulling its input from a reader as it goes, so
// that a value of any size (an Orbax array stored as one chunk of several
// GiB) is decoded with fixed memory: the codec's window plus one input
// buffer. The checks
// are those of the one-shot decoders in compression.h: a truncated stream,
// corrupt data and trailing bytes after the stream are kDataLoss.

#ifndef OCKPT_LIB_COMPRESSION_STREAM_DECODER_H_
#define OCKPT_LIB_COMPRESSION_STREAM_DECODER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "lib/base/bytes.h"

struct ZSTD_CCtx_s;  // <zstd.h>

namespace ockpt {

class StreamDecoder {
 public:
  enum class Codec { kNone, kZstd, kZlib, kGzip };
  // Copies input bytes [offset, offset + n) into dst.
  using ReadInput = std::function<Status(uint64_t offset, size_t n, char* dst)>;
  // Hands input bytes [offset, offset + n) to the sink as they arrive (one
  // ranged GET of a remote object, RandomAccessFile::ReadTo).
  using StreamInput =
      std::function<Status(uint64_t offset, uint64_t n, const ByteRangeSink& sink)>;

  // `input_size` bytes of input in `codec` (kNone: the bytes are the output).
  // With read_ahead (zstd, zlib, gzip), a thread of the decoder's own reads
  // the next MiB blocks of input (three at most) while it decodes, so that
  // reading and decoding one large frame overlap; `read` is then called
  // from that thread, in increasing offsets. With `stream` (a remote
  // object, where every read is a request), that thread instead makes one
  // streamed read of the whole input into the same blocks, whatever
  // read_ahead says: one request, and no waiting on each block's round trip.
  static Result<std::unique_ptr<StreamDecoder>> Create(Codec codec, uint64_t input_size,
                                                       ReadInput read, bool read_ahead = false,
                                                       StreamInput stream = nullptr);
  virtual ~StreamDecoder() = default;

  // Fills dst with the next decoded bytes: n of them, or fewer only when the
  // stream ends; 0 once it has ended. Errors stick: every later call fails.
  Result<size_t> Read(char* dst, size_t n);
  // Passes over the next n decoded bytes (fewer when the stream ends first);
  // returns how many. Plain input is skipped without reading it.
  virtual Result<uint64_t> Skip(uint64_t n);
  // Decoded bytes handed out so far.
  uint64_t position() const { return position_; }

 protected:
  // Read without the sticky error: the codec's own work.
  virtual Result<size_t> Decode(char* dst, size_t n) = 0;
  uint64_t position_ = 0;

 private:
  Status error_;
};

// ZstdStreamEncoder: the other direction, one zstd frame written in pieces:
// input is handed over in pieces, output goes to `append` as it is made.
// With the pledged size the frame header carries the content size, as
// ZSTD_compress writes it. `threads` > 0 lets zstd compress on that many
// workers of its own (the frame is the same for any count >= 1; a context
// of one or two workers, with its workers and buffers, is kept by the
// thread for its next encoder). With `checksum` the frame ends with its
// content checksum (ZSTD_c_checksumFlag), as ZstdCompress(..., checksum=true)
// writes it.
class ZstdStreamEncoder {
 public:
  using Append = std::function<Status(ByteView piece)>;
  static Result<std::unique_ptr<ZstdStreamEncoder>> Create(int level, uint64_t pledged_size,
                                                           int threads, bool checksum = false);
  ~ZstdStreamEncoder();
  // Compresses the next input bytes.
  Status Write(ByteView input, const Append& append);
  // Compresses the last input bytes (may be empty) and ends the frame (the
  // input must then have been exactly the pledged size: else, and for input
  // beyond it, kInternal). With workers, give the last bytes here rather
  // than to Write: zstd cuts its input into jobs, and when the input given
  // to Write ends exactly at a job's end, whether that job becomes the
  // frame's last one or is followed by an empty last block depends on how
  // busy the workers were. The last bytes given here always end the last
  // job, so the frame is the same on every run.
  Status Finish(ByteView last, const Append& append);

 private:
  ZstdStreamEncoder() = default;
  Status Run(ByteView input, bool end, const Append& append);
  ::ZSTD_CCtx_s* cctx_ = nullptr;
  bool cached_ = false;  // cctx_ came from, and goes back to, this thread's cache
  uint64_t pledged_size_ = 0, given_ = 0;  // input bytes pledged and given so far
  Bytes output_;
};

}  // namespace ockpt

#endif  // OCKPT_LIB_COMPRESSION_STREAM_DECODER_H_
