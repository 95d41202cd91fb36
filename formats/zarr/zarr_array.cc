// ZarrArray: open, decode chunks, stream into an ArrayWriter.

#include "formats/zarr/zarr_array.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>

#include "formats/zarr/chunk_layout.h"
#include "formats/zarr/metadata.h"
#include "formats/zarr/metadata_v2.h"
#include "formats/zarr/metadata_v3.h"
#include "lib/base/file.h"
#include "lib/base/thread_pool.h"
#include "lib/checkpoint/write_behind.h"
#include "lib/compression/stream_decoder.h"
#include "lib/dtype/narrow_int.h"

namespace ockpt::zarr {

namespace {

// Copies n bytes at src_offset of a remote file to offset dst of out in
// ranged GETs of 16 MiB, four in flight. A concurrent() writer takes each
// response's bytes as they arrive (no buffer of the piece's size: curl's
// receive buffer is written straight into place); any other gets the
// pieces in order on the calling thread.
Status CopyRemoteRanges(const RandomAccessFile& src, uint64_t src_offset, uint64_t n, ArrayWriter& out,
                        uint64_t dst) {
  constexpr uint64_t kPiece = uint64_t{16} << 20;
  const size_t pieces = static_cast<size_t>((n + kPiece - 1) / kPiece);
  PipelineOptions options;
  options.threads = 4;
  options.max_tasks_in_flight = 4;
  auto size_of = [&](size_t i) { return std::min<uint64_t>(kPiece, n - i * kPiece); };
  if (out.concurrent()) {
    return RunOrderedPipeline<bool>(
        pieces, options,
        [&](size_t i) -> Result<PipelineWork<bool>> {
          return PipelineWork<bool>([&src, &out, i, src_offset, dst, size = size_of(i)]() -> Result<bool> {
            const uint64_t at = dst + i * kPiece;
            OCKPT_RETURN_IF_ERROR(src.ReadTo(src_offset + i * kPiece, size,
                                             [&out, at](uint64_t off, ByteView data) {
                                               return out.WriteAt(at + off, data);
                                             }));
            return true;
          });
        },
        [](size_t, bool) { return Status::Ok(); });
  }
  return RunOrderedPipeline<Bytes>(
      pieces, options,
      [&](size_t i) -> Result<PipelineWork<Bytes>> {
        return PipelineWork<Bytes>([&src, i, src_offset, size = size_of(i)]() -> Result<Bytes> {
          Bytes piece = ZeroedBytes(static_cast<size_t>(size));
          OCKPT_RETURN_IF_ERROR(src.ReadInto(src_offset + i * kPiece, piece.size(), piece.data()));
          return piece;
        });
      },
      [&](size_t i, Bytes piece) { return out.WriteAt(dst + i * kPiece, piece); });
}

// n uncompressed bytes at src_offset of a local file into out at dst, with
// pread + pwrite of `piece` bytes (what beats copy_file_range when the
// offsets are not page-aligned alike, docs/perf.md). With threads > 1 (out
// concurrent()) the range is cut into that many parts copied side by side,
// so that one large chunk keeps every core busy; each part holds one piece.
Status CopyLocalRange(const RandomAccessFile& src, uint64_t src_offset, uint64_t n, ArrayWriter& out,
                      uint64_t dst, size_t piece, int threads) {
  const uint64_t pieces = (n + piece - 1) / piece;
  const size_t parts = static_cast<size_t>(std::max<uint64_t>(
      1, std::min<uint64_t>(static_cast<uint64_t>(std::max(threads, 1)), pieces)));
  const uint64_t per_part = (pieces + parts - 1) / parts * piece;
  auto copy_part = [&](size_t p) -> Result<bool> {
    const uint64_t begin = std::min<uint64_t>(n, p * per_part);
    const uint64_t end = std::min<uint64_t>(n, begin + per_part);
    std::unique_ptr<char[]> buffer(new char[std::min<uint64_t>(piece, end - begin) + 1]);
    for (uint64_t pos = begin; pos < end;) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(piece, end - pos));
      OCKPT_RETURN_IF_ERROR(src.ReadInto(src_offset + pos, len, buffer.get()));
      OCKPT_RETURN_IF_ERROR(out.WriteAt(dst + pos, ByteView(buffer.get(), len)));
      pos += len;
    }
    return true;
  };
  if (parts == 1) return copy_part(0).status();
  PipelineOptions options;
  options.threads = static_cast<int>(parts);
  options.max_tasks_in_flight = parts;
  return RunOrderedPipeline<bool>(
      parts, options,
      [&](size_t p) -> Result<PipelineWork<bool>> {
        return PipelineWork<bool>([&copy_part, p]() { return copy_part(p); });
      },
      [](size_t, bool) { return Status::Ok(); });
}

class StreamingChunkReader final : public ChunkReader {
 public:
  // A stored chunk: `decoder` yields chunk_bytes bytes, elements in the
  // stored byte order (swapped when swap_unit > 1).
  StreamingChunkReader(std::unique_ptr<ValueReader> value, std::unique_ptr<StreamDecoder> decoder,
                       uint64_t chunk_bytes, size_t element_size, size_t swap_unit,
                       std::optional<DType> narrow_int, std::string where)
      : value_(std::move(value)),
        decoder_(std::move(decoder)),
        size_(chunk_bytes),
        element_size_(element_size),
        swap_unit_(swap_unit),
        narrow_int_(narrow_int),
        where_(std::move(where)) {}
  // A missing chunk: the fill element repeated.
  StreamingChunkReader(Bytes fill, uint64_t chunk_bytes, std::string where)
      : size_(chunk_bytes),
        element_size_(fill.size()),
        fill_(std::move(fill)),
        where_(std::move(where)) {}

  uint64_t size() const override { return size_; }
  uint64_t position() const override { return position_; }

  Status Read(char* dst, size_t n) override {
    OCKPT_RETURN_IF_ERROR(CheckRequest(n));
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - position_));
    if (!decoder_) {
      for (size_t i = 0; i < n; i += element_size_)
        std::memcpy(dst + i, fill_.data(), element_size_);
      position_ += n;
      return Status::Ok();
    }
    Result<size_t> got = decoder_->Read(dst, n);
    if (!got.ok()) return Fail(got.status());
    if (*got < n)
      return Fail(
          DataLossError("chunk decodes to {} bytes, its shape needs {}", position_ + *got, size_));
    SwapBytes(dst, n, swap_unit_);
    if (narrow_int_) NormalizeNarrowInts(*narrow_int_, dst, n);
    position_ += n;
    return CheckEnd();
  }

  Status Skip(uint64_t n) override {
    OCKPT_RETURN_IF_ERROR(CheckRequest(n));
    n = std::min<uint64_t>(n, size_ - position_);
    if (decoder_) {
      Result<uint64_t> got = decoder_->Skip(n);
      if (!got.ok()) return Fail(got.status());
      if (*got < n)
        return Fail(DataLossError("chunk decodes to {} bytes, its shape needs {}", position_ + *got,
                                  size_));
    }
    position_ += n;
    return CheckEnd();
  }

 private:
  Status CheckRequest(uint64_t n) const {
    if (!error_.ok()) return error_;
    if (n % element_size_ != 0) {
      return InternalError("chunk read of {} bytes is not a whole number of {}-byte elements", n,
                           element_size_);
    }
    return Status::Ok();
  }
  // At the chunk's end the stored stream must end too.
  Status CheckEnd() {
    if (position_ != size_ || !decoder_) return Status::Ok();
    char probe;
    Result<size_t> more = decoder_->Read(&probe, 1);
    if (!more.ok()) return Fail(more.status());
    if (*more != 0)
      return Fail(DataLossError("chunk decodes to more than the {} bytes its shape needs", size_));
    return Status::Ok();
  }
  Status Fail(Status s) {
    error_ = std::move(s).WithContext(where_);
    return error_;
  }

  std::unique_ptr<ValueReader> value_;
  std::unique_ptr<StreamDecoder> decoder_;
  uint64_t size_;
  size_t element_size_;
  size_t swap_unit_ = 1;
  std::optional<DType> narrow_int_;
  Bytes fill_;
  std::string where_;
  uint64_t position_ = 0;
  Status error_;
};

}  // namespace

class ZarrArray::Impl {
 public:
  Impl(const KvStore* store, std::string prefix, ZarrMetadata md)
      : store_(store), prefix_(std::move(prefix)), md_(std::move(md)) {
    summary_.zarr_format = md_.zarr_format;
    summary_.dtype = md_.dtype;
    summary_.shape = md_.shape;
    summary_.chunk_shape = md_.chunk_shape;
    summary_.compressor = md_.compressor;
    summary_.fill_value = md_.fill_value;
    element_ = ElementFormatOf(md_);
    for (size_t d = 0; d < md_.shape.size(); ++d) {
      grid_.push_back(md_.shape[d] == 0 ? 0 : (md_.shape[d] - 1) / md_.chunk_shape[d] + 1);
    }
    Result<uint64_t> chunk_bytes =
        CheckedByteCount(md_.chunk_shape, element_.size, kMaxChunkBytes, "chunk shape");
    chunk_bytes_ = chunk_bytes.ok() ? *chunk_bytes : 0;
    FindStreamCodec();
  }

  // The stream codec when chunks can be streamed (see CanStreamChunks).
  static std::optional<StreamDecoder::Codec> PlainStreamCodec(const CodecChain& c) {
    if (c.sharding) return std::nullopt;
    for (size_t i = 0; i < c.permutation.size(); ++i) {
      if (c.permutation[i] != static_cast<int>(i)) return std::nullopt;
    }
    if (c.bytes_codecs.empty()) return StreamDecoder::Codec::kNone;
    if (c.bytes_codecs.size() != 1) return std::nullopt;
    switch (c.bytes_codecs[0].kind) {
      case BytesCodec::Kind::kZstd:
        return StreamDecoder::Codec::kZstd;
      case BytesCodec::Kind::kZlib:
        return StreamDecoder::Codec::kZlib;
      case BytesCodec::Kind::kGzip:
        return StreamDecoder::Codec::kGzip;
      default:
        return std::nullopt;
    }
  }

  // Sets stream_codec_ (and the chain whose byte order applies) when chunks
  // can be streamed: a plain chain, or a shard holding one inner chunk with
  // a plain chain (Orbax's zarr3 layout).
  // row_blocks_: every chunk's part inside the array is one run of it and
  // of the array (chunks span every dimension but the first).
  void FindStreamCodec() {
    row_blocks_ = true;
    for (size_t d = 1; d < md_.shape.size(); ++d) {
      if (md_.chunk_shape[d] != md_.shape[d]) row_blocks_ = false;
    }
    const CodecChain& c = md_.codecs;
    if (!c.sharding) {
      stream_codec_ = PlainStreamCodec(c);
      stream_big_endian_ = c.big_endian;
      return;
    }
    if (!c.bytes_codecs.empty()) return;
    for (size_t i = 0; i < c.permutation.size(); ++i) {
      if (c.permutation[i] != static_cast<int>(i)) return;
    }
    if (c.sharding->inner_chunk_shape != md_.chunk_shape) return;
    stream_codec_ = PlainStreamCodec(c.sharding->codecs);
    stream_big_endian_ = c.sharding->codecs.big_endian;
    stream_sharded_ = true;
  }

  uint64_t chunk_bytes() const { return chunk_bytes_; }
  // The codecs decode as a stream (any chunk layout).
  bool CanDecodeAsStream() const { return stream_codec_.has_value() && chunk_bytes_ > 0; }
  bool CanStreamChunks() const { return CanDecodeAsStream() && row_blocks_; }
  bool StreamsChunks(const ReadOptions& options) const {
    return CanStreamChunks() && (*stream_codec_ == StreamDecoder::Codec::kNone ||
                                 chunk_bytes_ > options.stream_chunks_above);
  }
  // Read's choice: row blocks as StreamsChunks; other layouts (tiles) when
  // their chunks are above the threshold, scattered run by run from small
  // buffers.
  bool ReadStreamsChunks(const ReadOptions& options) const {
    return StreamsChunks(options) ||
           (CanDecodeAsStream() && chunk_bytes_ > options.stream_chunks_above);
  }

  Status CheckIndex(const Shape& index) const {
    if (index.size() != grid_.size()) {
      return InvalidArgumentError("chunk index {} has rank {}, the array has rank {}",
                                  ShapeString(index), index.size(), grid_.size());
    }
    for (size_t d = 0; d < index.size(); ++d) {
      if (index[d] < 0 || index[d] >= grid_[d]) {
        return InvalidArgumentError("chunk index {} is outside the chunk grid {}",
                                    ShapeString(index), ShapeString(grid_));
      }
    }
    return Status::Ok();
  }

  // A chunk's stored bytes for streaming: `value` holds them at
  // [begin, begin + size) (the whole value, or a shard's one inner chunk);
  // no value: the chunk (or its inner chunk) is missing and reads as the
  // fill value.
  struct StoredChunk {
    std::unique_ptr<ValueReader> value;
    uint64_t begin = 0, size = 0;
    std::string where;  // for messages
  };
  Result<StoredChunk> OpenStored(const Shape& index, const ReadOptions& options) const {
    if (!CanDecodeAsStream()) {
      return InternalError("chunks of the zarr array at '{}' in {} cannot be streamed", prefix_,
                           store_->Describe());
    }
    OCKPT_RETURN_IF_ERROR(CheckIndex(index));
    const std::string key = ChunkKey(index);
    StoredChunk out;
    out.where = fmt::format("decoding zarr chunk '{}' in {}", key, store_->Describe());
    Result<std::unique_ptr<ValueReader>> value = store_->OpenValue(key);
    if (!value.ok()) {
      if (value.status().code() != StatusCode::kNotFound) {
        return std::move(value).status().WithContext(
            fmt::format("reading zarr chunk '{}' in {}", key, store_->Describe()));
      }
      if (options.missing_chunks_are_errors) {
        return DataLossError("zarr chunk '{}' is missing from {}", key, store_->Describe());
      }
      return out;
    }
    const ValueReader* raw = value->get();
    out.size = raw->size();
    if (stream_sharded_) {
      auto located = LocateSingleInnerChunk(
          *md_.codecs.sharding, md_.chunk_shape, out.size,
          [raw](uint64_t off, size_t n, char* dst) { return raw->ReadAt(off, n, dst); });
      if (!located.ok()) return std::move(located).status().WithContext(out.where);
      if (!*located) return out;  // missing inner chunks read as the fill value
      out.begin = (*located)->first;
      out.size = (*located)->second;
    }
    if (*stream_codec_ == StreamDecoder::Codec::kNone && out.size != chunk_bytes_) {
      return DataLossError("uncompressed chunk has {} bytes, its shape needs {}", out.size,
                           chunk_bytes_)
          .WithContext(out.where);
    }
    out.value = std::move(value).value();
    return out;
  }

  Result<std::unique_ptr<ChunkReader>> ReaderOf(StoredChunk stored, bool read_ahead) const {
    if (!stored.value) {
      return std::unique_ptr<ChunkReader>(
          new StreamingChunkReader(element_.fill, chunk_bytes_, std::move(stored.where)));
    }
    const ValueReader* raw = stored.value.get();
    const uint64_t begin = stored.begin;
    // In a remote object: one streamed ranged GET for the chunk (a request
    // per MiB block would wait on a round trip each).
    StreamDecoder::StreamInput stream;
    uint64_t base = 0;
    if (const RandomAccessFile* file = raw->file(&base);
        file != nullptr && IsRemotePath(file->path())) {
      const uint64_t at = base + begin;
      stream = [file, at](uint64_t off, uint64_t n, const ByteRangeSink& sink) {
        return file->ReadTo(at + off, n, sink);
      };
    }
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<StreamDecoder> decoder,
                           StreamDecoder::Create(
                               *stream_codec_, stored.size,
                               [raw, begin](uint64_t off, size_t n, char* dst) {
                                 return raw->ReadAt(begin + off, n, dst);
                               },
                               read_ahead, std::move(stream)));
    size_t swap = stream_big_endian_ ? element_.swap_unit : 1;
    return std::unique_ptr<ChunkReader>(
        new StreamingChunkReader(std::move(stored.value), std::move(decoder), chunk_bytes_,
                                 element_.size, swap, element_.narrow_int,
                                 std::move(stored.where)));
  }

  Result<std::unique_ptr<ChunkReader>> OpenChunkReader(const Shape& index,
                                                       const ReadOptions& options) const {
    if (!CanStreamChunks()) {
      return InternalError("chunks of the zarr array at '{}' in {} cannot be streamed", prefix_,
                           store_->Describe());
    }
    OCKPT_ASSIGN_OR_RETURN(StoredChunk stored, OpenStored(index, options));
    return ReaderOf(std::move(stored), /*read_ahead=*/false);
  }

  Status StreamChunk(const Shape& index, ArrayWriter& out, const ReadOptions& options) const {
    if (!row_blocks_) return StreamTile(index, out, options);
    OCKPT_ASSIGN_OR_RETURN(StoredChunk stored, OpenStored(index, options));
    // The chunk's part inside the array: its first `valid` bytes, which go
    // to one run of the array starting at `dst`.
    uint64_t row_bytes = element_.size;
    for (size_t d = 1; d < md_.shape.size(); ++d) row_bytes *= static_cast<uint64_t>(md_.shape[d]);
    uint64_t valid = chunk_bytes_, dst = 0;
    if (!md_.shape.empty()) {
      const int64_t first_row = index[0] * md_.chunk_shape[0];
      const int64_t rows = std::min(md_.chunk_shape[0], md_.shape[0] - first_row);
      valid = static_cast<uint64_t>(rows) * row_bytes;
      dst = static_cast<uint64_t>(first_row) * row_bytes;
    }
    const bool plain = *stream_codec_ == StreamDecoder::Codec::kNone;
    const bool swapped = stream_big_endian_ && element_.swap_unit > 1;
    // Uncompressed bytes in a file, in the array's byte order: copied file
    // to file when the writer can (the size was checked; the padding of an
    // edge chunk is not needed).
    if (plain && !swapped && stored.value) {
      uint64_t base = 0;
      if (const RandomAccessFile* file = stored.value->file(&base)) {
        Status st = out.CopyFromFile(dst, *file, base + stored.begin, valid);
        if (st.ok()) return st;
        if (st.code() != StatusCode::kUnimplemented) return std::move(st).WithContext(stored.where);
        // An object in a remote store: each piece is a ranged GET, so
        // several are in flight at once (the client bounds the total) and
        // the writes follow in order on this thread.
        if (IsRemotePath(file->path())) {
          return CopyRemoteRanges(*file, base + stored.begin, valid, out, dst).WithContext(stored.where);
        }
        // A chunk read alone (Orbax's one chunk per array) is copied on
        // every thread allowed; chunks read side by side on one each.
        const size_t piece = std::max<size_t>(options.stream_piece_bytes, 1) * 4;
        const int threads = out.concurrent() ? ResolveThreads(options.threads) : 1;
        return CopyLocalRange(*file, base + stored.begin, valid, out, dst, piece, threads)
            .WithContext(stored.where);
      }
    }
    // The writer thread calls out.WriteAt, which only a concurrent() writer
    // allows from a thread other than the caller's (a device writer, say,
    // may be bound to the calling thread).
    const bool overlap = options.overlap_io && !plain && stored.value && out.concurrent();
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ChunkReader> reader,
                           ReaderOf(std::move(stored), /*read_ahead=*/overlap));
    // Uncompressed: larger pieces (plain reads and writes, like cat's).
    const size_t want = std::max<size_t>(options.stream_piece_bytes, 1) * (plain ? 4 : 1);
    const size_t piece = static_cast<size_t>(std::min<uint64_t>(
        std::max<size_t>(want / element_.size, 1) * element_.size, chunk_bytes_));
    if (overlap) {
      WriteBehind behind(out, piece);
      while (reader->position() < valid) {
        const uint64_t pos = reader->position();
        const size_t n = static_cast<size_t>(std::min<uint64_t>(piece, valid - pos));
        OCKPT_ASSIGN_OR_RETURN(char* buffer, behind.Acquire());
        OCKPT_RETURN_IF_ERROR(reader->Read(buffer, n));
        OCKPT_RETURN_IF_ERROR(behind.Submit(dst + pos, n));
      }
      OCKPT_RETURN_IF_ERROR(behind.Finish());
    } else {
      Bytes buffer = ZeroedBytes(piece);
      while (reader->position() < valid) {
        const uint64_t pos = reader->position();
        const size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), valid - pos));
        OCKPT_RETURN_IF_ERROR(reader->Read(buffer.data(), n));
        OCKPT_RETURN_IF_ERROR(out.WriteAt(dst + pos, ByteView(buffer.data(), n)));
      }
    }
    // Edge chunks: the padding is decoded too, to check the stream.
    return reader->Skip(chunk_bytes_ - reader->position());
  }

  // A chunk whose part inside the array is several runs (tiles): decoded
  // front to back into one small buffer, each run written from it as the
  // decoder passes it (ForEachRun gives runs in increasing chunk offsets),
  // gaps (edge padding) decoded and dropped.
  Status StreamTile(const Shape& index, ArrayWriter& out, const ReadOptions& options) const {
    OCKPT_ASSIGN_OR_RETURN(StoredChunk stored, OpenStored(index, options));
    OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ChunkReader> reader,
                           ReaderOf(std::move(stored), /*read_ahead=*/false));
    const size_t rank = md_.shape.size();
    Shape origin(rank), extent(rank);
    for (size_t d = 0; d < rank; ++d) {
      origin[d] = index[d] * md_.chunk_shape[d];
      extent[d] = std::min(md_.chunk_shape[d], md_.shape[d] - origin[d]);
    }
    const size_t want = std::max<size_t>(options.stream_piece_bytes, 1);
    const size_t piece = static_cast<size_t>(std::min<uint64_t>(
        std::max<size_t>(want / element_.size, 1) * element_.size, chunk_bytes_));
    Bytes buffer = ZeroedBytes(piece);
    uint64_t begin = 0, end = 0;  // chunk bytes in buffer; reader->position() == end
    OCKPT_RETURN_IF_ERROR(ForEachRun(
        md_.chunk_shape, md_.shape, origin, extent, element_.size,
        [&](uint64_t src, uint64_t dst, uint64_t n) -> Status {
          while (n > 0) {
            if (src >= end) {
              OCKPT_RETURN_IF_ERROR(reader->Skip(src - end));
              const size_t len = static_cast<size_t>(std::min<uint64_t>(piece, chunk_bytes_ - src));
              OCKPT_RETURN_IF_ERROR(reader->Read(buffer.data(), len));
              begin = src;
              end = src + len;
            }
            const uint64_t take = std::min<uint64_t>(n, end - src);
            OCKPT_RETURN_IF_ERROR(out.WriteAt(
                dst, ByteView(buffer.data() + (src - begin), static_cast<size_t>(take))));
            src += take;
            dst += take;
            n -= take;
          }
          return Status::Ok();
        }));
    // The rest (padding of edge chunks) is decoded too, to check the stream.
    return reader->Skip(chunk_bytes_ - reader->position());
  }

  // Every chunk streamed into out (ReadStreamsChunks): several chunks at once,
  // each worker writing its own, when out takes writes from any thread;
  // else one after the other, each with reads and writes beside its
  // decoder when threads are allowed and out is concurrent().
  Status StreamChunks(ArrayWriter& out, const ReadOptions& options) const {
    const uint64_t count = NumChunks(grid_);
    const int threads = ResolveThreads(options.threads);
    if (threads > 1 && count > 1 && out.concurrent()) {
      ReadOptions each = options;
      each.threads = 1;
      each.overlap_io = false;
      PipelineOptions pipeline;
      pipeline.threads = threads;
      pipeline.max_tasks_in_flight = static_cast<size_t>(threads);
      pipeline.max_bytes_in_flight = options.max_bytes_in_flight;
      pipeline.bytes_per_task = ZarrArray::StreamChunkBytes(each);
      return RunOrderedPipeline<bool>(
          count, pipeline,
          [&](size_t i) -> Result<PipelineWork<bool>> {
            return PipelineWork<bool>([this, i, &out, &each]() -> Result<bool> {
              OCKPT_RETURN_IF_ERROR(StreamChunk(GridIndex(i), out, each));
              return true;
            });
          },
          [](size_t, bool) { return Status::Ok(); });
    }
    ReadOptions each = options;
    each.overlap_io = options.overlap_io || threads > 1;
    for (uint64_t i = 0; i < count; ++i) {
      OCKPT_RETURN_IF_ERROR(StreamChunk(GridIndex(i), out, each));
    }
    return Status::Ok();
  }

  const ArraySummary& summary() const { return summary_; }
  const Shape& grid() const { return grid_; }
  const KvStore* store() const { return store_; }
  std::string ChunkKey(const Shape& index) const {
    return zarr::ChunkKey(prefix_, md_.key_encoding, index);
  }

  Result<Bytes> ReadChunk(const Shape& index, const ReadOptions& options) const {
    OCKPT_RETURN_IF_ERROR(CheckIndex(index));
    const std::string key = ChunkKey(index);
    return DecodeStored(key, store_->Read(key), options);
  }

  // The chunks' stored values are read together (KvStore::ReadMany: one
  // read for neighbours in a file); each is decoded and handed over in turn.
  void ReadChunks(const std::vector<Shape>& indices, const ReadOptions& options,
                  const std::function<void(size_t, Result<Bytes>)>& take) const {
    std::vector<std::string> keys;
    keys.reserve(indices.size());
    for (const Shape& index : indices) {
      Status st = CheckIndex(index);
      if (!st.ok()) {
        for (size_t i = 0; i < indices.size(); ++i) take(i, st);
        return;
      }
      keys.push_back(ChunkKey(index));
    }
    std::vector<Result<Bytes>> stored = store_->ReadMany(keys);
    for (size_t i = 0; i < keys.size(); ++i) {
      take(i, DecodeStored(keys[i], std::move(stored[i]), options));
    }
  }
  std::vector<Result<Bytes>> ReadChunks(const std::vector<Shape>& indices,
                                        const ReadOptions& options) const {
    std::vector<Result<Bytes>> out(indices.size(), Result<Bytes>(InternalError("not read")));
    ReadChunks(indices, options, [&](size_t i, Result<Bytes> r) { out[i] = std::move(r); });
    return out;
  }

  // How many consecutive chunks one read batch holds (1 for large chunks).
  uint64_t BatchSize() const {
    if (chunk_bytes_ == 0 || chunk_bytes_ > ZarrArray::kReadBatchChunkBytes) return 1;
    return std::clamp<uint64_t>(ZarrArray::kReadBatchBytes / chunk_bytes_, 1,
                                ZarrArray::kMaxReadBatchChunks);
  }

  Result<Bytes> DecodeStored(const std::string& key, Result<Bytes> stored,
                             const ReadOptions& options) const {
    if (!stored.ok()) {
      if (stored.status().code() != StatusCode::kNotFound) {
        return std::move(stored).WithContext(
            fmt::format("reading zarr chunk '{}' in {}", key, store_->Describe()));
      }
      if (options.missing_chunks_are_errors) {
        return DataLossError("zarr chunk '{}' is missing from {}", key, store_->Describe());
      }
      OCKPT_ASSIGN_OR_RETURN(uint64_t n,
                             CheckedByteCount(md_.chunk_shape, 1, kMaxChunkBytes, "chunk shape"));
      return RepeatElement(element_.fill, n);
    }
    return DecodeChunk(md_.codecs, element_, md_.chunk_shape, std::move(stored).value())
        .WithContext(fmt::format("decoding zarr chunk '{}' in {}", key, store_->Describe()));
  }

  // Chunks are read and decoded on workers (KvStore reads are thread-safe)
  // and scattered into out on this thread, in C order of the chunk grid.
  Status Read(ArrayWriter& out, const ReadOptions& options) const {
    const uint64_t count = NumChunks(grid_);
    if (count == 0) return Status::Ok();
    if (ReadStreamsChunks(options)) return StreamChunks(out, options);
    OCKPT_ASSIGN_OR_RETURN(uint64_t chunk_bytes, CheckedByteCount(md_.chunk_shape, element_.size,
                                                                  kMaxChunkBytes, "chunk shape"));
    PipelineOptions pipeline;
    // Uncompressed chunks are plain copies: workers would only add buffers
    // and cache traffic (measured: slower than one thread on warm caches).
    pipeline.threads = summary_.compressor == "none" ? 1 : options.threads;
    pipeline.max_bytes_in_flight = options.max_bytes_in_flight;
    // One task per batch of consecutive small chunks (read together).
    const uint64_t batch = BatchSize();
    const uint64_t tasks = (count + batch - 1) / batch;
    pipeline.bytes_per_task = 2 * batch * std::max<uint64_t>(chunk_bytes, 1);  // encoded + decoded
    using Batch = std::vector<Result<Bytes>>;
    return RunOrderedPipeline<Batch>(
        tasks, pipeline,
        [&](size_t t) -> Result<PipelineWork<Batch>> {
          std::vector<Shape> indices;
          for (uint64_t i = t * batch; i < std::min(count, (t + 1) * batch); ++i) {
            indices.push_back(GridIndex(i));
          }
          return PipelineWork<Batch>(
              [this, indices = std::move(indices), &options]() -> Result<Batch> {
                return ReadChunks(indices, options);
              });
        },
        [&](size_t t, Batch chunks) -> Status {
          for (size_t k = 0; k < chunks.size(); ++k) {
            if (!chunks[k].ok()) return chunks[k].status();
            OCKPT_RETURN_IF_ERROR(ScatterChunk(md_.shape, md_.chunk_shape, GridIndex(t * batch + k),
                                               element_.size, *chunks[k], out));
          }
          return Status::Ok();
        });
  }

  Shape GridIndex(uint64_t i) const { return zarr::GridIndex(grid_, i); }

 private:
  const KvStore* store_;
  std::string prefix_;
  ZarrMetadata md_;
  ArraySummary summary_;
  ElementFormat element_;
  Shape grid_;
  uint64_t chunk_bytes_ = 0;
  std::optional<StreamDecoder::Codec> stream_codec_;
  bool stream_big_endian_ = false;
  bool row_blocks_ = false;
  bool stream_sharded_ = false;
};

ZarrArray::ZarrArray(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZarrArray::ZarrArray(ZarrArray&&) noexcept = default;
ZarrArray& ZarrArray::operator=(ZarrArray&&) noexcept = default;
ZarrArray::~ZarrArray() = default;

Result<ZarrArray> ZarrArray::Open(const KvStore* store, std::string prefix) {
  for (int format : {2, 3}) {
    const std::string key = prefix + (format == 2 ? ".zarray" : "zarr.json");
    Result<Bytes> text = store->Read(key);
    if (!text.ok()) {
      if (text.status().code() == StatusCode::kNotFound) continue;
      return text.status().WithContext(fmt::format("reading {} in {}", key, store->Describe()));
    }
    auto array = OpenWithMetadata(store, prefix, *text, format);
    if (!array.ok()) {
      return array.status().WithContext(fmt::format("{} in {}", key, store->Describe()));
    }
    return array;
  }
  return NotFoundError("no zarr array at '{}' in {} (neither .zarray nor zarr.json)", prefix,
                       store->Describe());
}

Result<ZarrArray> ZarrArray::OpenWithMetadata(const KvStore* store, std::string prefix,
                                              ByteView metadata_json, int zarr_format) {
  Result<ZarrMetadata> md =
      zarr_format == 2   ? ParseZarrV2Metadata(metadata_json)
      : zarr_format == 3 ? ParseZarrV3Metadata(metadata_json)
                         : Result<ZarrMetadata>(UnimplementedError("zarr_format {}", zarr_format));
  if (!md.ok()) return md.status();
  return ZarrArray(std::make_unique<Impl>(store, std::move(prefix), std::move(md).value()));
}

const ArraySummary& ZarrArray::summary() const { return impl_->summary(); }
Shape ZarrArray::ChunkGridShape() const { return impl_->grid(); }
std::string ZarrArray::ChunkKey(const Shape& chunk_index) const {
  return impl_->ChunkKey(chunk_index);
}
Result<Bytes> ZarrArray::ReadChunk(const Shape& chunk_index, const ReadOptions& options) const {
  return impl_->ReadChunk(chunk_index, options);
}
std::vector<Result<Bytes>> ZarrArray::ReadChunks(const std::vector<Shape>& chunk_indices,
                                                 const ReadOptions& options) const {
  return impl_->ReadChunks(chunk_indices, options);
}
void ZarrArray::ReadChunks(const std::vector<Shape>& chunk_indices, const ReadOptions& options,
                           const std::function<void(size_t, Result<Bytes>)>& take) const {
  impl_->ReadChunks(chunk_indices, options, take);
}
uint64_t ZarrArray::ReadBatchSize() const { return impl_->BatchSize(); }
Result<Bytes> ZarrArray::DecodeStoredChunk(const Shape& chunk_index, Result<Bytes> stored,
                                           const ReadOptions& options) const {
  OCKPT_RETURN_IF_ERROR(impl_->CheckIndex(chunk_index));
  return impl_->DecodeStored(impl_->ChunkKey(chunk_index), std::move(stored), options);
}
const KvStore* ZarrArray::store() const { return impl_->store(); }
Status ZarrArray::Read(ArrayWriter& out, const ReadOptions& options) const {
  return impl_->Read(out, options);
}
uint64_t ZarrArray::StreamChunkBytes(const ReadOptions& options) {
  // A piece (4 for uncompressed chunks), with overlap_io three pieces
  // written behind and three MiB read ahead, the input buffer and a zstd
  // window.
  const uint64_t piece = std::max<uint64_t>(options.stream_piece_bytes, 1);
  const uint64_t overlap = options.overlap_io ? 3 * piece + (uint64_t{3} << 20) : 0;
  return 4 * piece + overlap + (uint64_t{4} << 20);
}
uint64_t ZarrArray::ChunkBytes() const { return impl_->chunk_bytes(); }
bool ZarrArray::CanStreamChunks() const { return impl_->CanStreamChunks(); }
bool ZarrArray::ReadStreamsChunks(const ReadOptions& options) const {
  return impl_->ReadStreamsChunks(options);
}
bool ZarrArray::StreamsChunks(const ReadOptions& options) const {
  return impl_->StreamsChunks(options);
}
Result<std::unique_ptr<ChunkReader>> ZarrArray::OpenChunkReader(const Shape& chunk_index,
                                                                const ReadOptions& options) const {
  return impl_->OpenChunkReader(chunk_index, options);
}
Status ZarrArray::StreamChunk(const Shape& chunk_index, ArrayWriter& out,
                              const ReadOptions& options) const {
  return impl_->StreamChunk(chunk_index, out, options);
}

Status ScatterChunk(const Shape& array_shape, const Shape& chunk_shape, const Shape& chunk_index,
                    size_t element_size, ByteView chunk, ArrayWriter& out) {
  const size_t rank = array_shape.size();
  if (chunk_shape.size() != rank || chunk_index.size() != rank) {
    return InvalidArgumentError("chunk shape {} / index {} do not match array rank {}",
                                ShapeString(chunk_shape), ShapeString(chunk_index), rank);
  }
  OCKPT_ASSIGN_OR_RETURN(uint64_t chunk_bytes,
                         CheckedByteCount(chunk_shape, element_size, kMaxChunkBytes, "chunk"));
  if (chunk.size() != chunk_bytes) {
    return InvalidArgumentError("chunk has {} bytes, shape {} needs {}", chunk.size(),
                                ShapeString(chunk_shape), chunk_bytes);
  }
  Shape origin(rank), extent(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (chunk_shape[d] <= 0 || chunk_index[d] < 0 || array_shape[d] < 0 ||
        chunk_index[d] > (array_shape[d] - 1) / chunk_shape[d] || array_shape[d] == 0) {
      return InvalidArgumentError("chunk {} is outside the grid of shape {} / chunks {}",
                                  ShapeString(chunk_index), ShapeString(array_shape),
                                  ShapeString(chunk_shape));
    }
    origin[d] = chunk_index[d] * chunk_shape[d];
    extent[d] = std::min(chunk_shape[d], array_shape[d] - origin[d]);
  }
  return ForEachRun(chunk_shape, array_shape, origin, extent, element_size,
                    [&](uint64_t src, uint64_t dst, uint64_t n) {
                      return out.WriteAt(dst, chunk.substr(src, n));
                    });
}

}  // namespace ockpt::zarr
