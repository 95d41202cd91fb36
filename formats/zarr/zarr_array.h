// ZarrArray: reads one zarr v2 or v3 array (as TensorStore writes them) from
// a KvStore, chunk by chunk. See docs/format/zarr.md.
//
// v2: `.zarray`; compressors zstd, zlib, gzip, blosc, none; `.` or `/`
// separators; C or F order; any NumPy typestr (either byte order) plus
// TensorStore's bfloat16 / float8_* / int4 names; fill_value null, numbers,
// "NaN", "Infinity", "-Infinity".
// v3: `zarr.json`; codecs bytes (either endian), transpose, zstd, gzip,
// blosc, crc32c, sharding_indexed (index at start or end, missing inner
// chunks, nested);
// chunk key encodings default and v2.
//
// Output is always C order with little-endian elements; edge chunks are
// clipped to the array; missing chunks read as the fill value unless the
// caller asks for them to be errors. Missing inner chunks of a shard always
// read as the fill value (TensorStore omits inner chunks equal to it).
//
// Memory: Read holds one encoded and one or two decoded chunks (shards) at a
// time per chunk in flight (see ReadOptions), never the whole array.

#ifndef OCKPT_FORMATS_ZARR_ZARR_ARRAY_H_
#define OCKPT_FORMATS_ZARR_ZARR_ARRAY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/tree.h"
#include "lib/kvstore/kvstore.h"

namespace ockpt::zarr {

struct ArraySummary {
  int zarr_format = 2;
  DType dtype = DType::kUInt8;
  Shape shape;
  Shape chunk_shape;       // the chunk grid (v3: the outer/shard shape)
  std::string compressor;  // "zstd:1", "gzip:6", "zlib:1", "blosc:lz4:5", "none"
  Bytes fill_value;        // one element, little-endian (zeros for a null fill_value)
};

struct ReadOptions {
  // Orbax writes every chunk; a missing one then means damage (kDataLoss).
  bool missing_chunks_are_errors = false;
  // Read: chunks read and decoded at once (0 = all cores; 1 = one at a time
  // on the calling thread; uncompressed arrays always use 1). Whatever the
  // count, out.WriteAt is called from the calling thread only, chunk by
  // chunk in C order of the chunk grid.
  int threads = 1;
  // Read: at most this many bytes of encoded + decoded chunks in flight
  // (always room for one chunk, however large).
  uint64_t max_bytes_in_flight = uint64_t{128} << 20;
  // Where the layout allows (ZarrArray::CanStreamChunks), chunks larger than
  // this, and every uncompressed chunk, are never held whole: each is
  // decoded straight into its place in `out` in pieces
  // (stream_piece_bytes) by StreamChunk. Read then works on
  // ResolveThreads(threads) such chunks at once when out is concurrent()
  // (each worker writes its own chunk; a few MiB of memory per worker),
  // else one after the other (with overlap_io when threads != 1). An array
  // stored as one chunk of several GiB (Orbax's default) is read with fixed
  // memory.
  uint64_t stream_chunks_above = uint64_t{16} << 20;
  // StreamChunk: decoded pieces of at most this many bytes (a multiple of
  // the element size is used). Tests make it small.
  size_t stream_piece_bytes = size_t{1} << 20;
  // StreamChunk of a compressed chunk into a concurrent() writer: the
  // stored bytes are read ahead and the decoded pieces written behind on two
  // threads beside the decoder, so that one zstd frame decodes at one core's
  // full speed (a few MiB of buffers). out.WriteAt is then called from that
  // writer thread (one piece at a time, in order).
  bool overlap_io = false;
};

// One chunk's decoded bytes (C order, little-endian elements), read from the
// front to the back in pieces: memory is the codec's window and one input
// buffer, whatever the chunk size. See ZarrArray::OpenChunkReader.
class ChunkReader {
 public:
  virtual ~ChunkReader() = default;
  // Bytes of the whole decoded chunk.
  virtual uint64_t size() const = 0;
  // Decoded bytes handed out or skipped so far.
  virtual uint64_t position() const = 0;
  // The next min(n, size() - position()) bytes into dst. n and position()
  // are multiples of the element size. When the last byte is read the
  // stored stream must end too (kDataLoss otherwise); a stream that ends
  // early is kDataLoss.
  virtual Status Read(char* dst, size_t n) = 0;
  // Passes over the next n bytes (element multiple, within the chunk).
  virtual Status Skip(uint64_t n) = 0;
};

class ZarrArray {
 public:
  // Opens the array whose metadata key is `prefix + ".zarray"` or
  // `prefix + "zarr.json"` (prefix is "" or ends with '/'). The store must
  // outlive the array. kNotFound when neither key exists.
  static Result<ZarrArray> Open(const KvStore* store, std::string prefix);
  // Opens with metadata given directly (zarr v2 `.zarray` JSON text or v3
  // `zarr.json` text), e.g. from a legacy msgpack checkpoint.
  static Result<ZarrArray> OpenWithMetadata(const KvStore* store, std::string prefix,
                                            ByteView metadata_json, int zarr_format);

  ZarrArray(ZarrArray&&) noexcept;
  ZarrArray& operator=(ZarrArray&&) noexcept;
  ~ZarrArray();

  const ArraySummary& summary() const;
  // Number of chunks along each dimension (ceil(shape / chunk_shape)).
  Shape ChunkGridShape() const;
  // The chunk's key in the store (prefix included).
  std::string ChunkKey(const Shape& chunk_index) const;

  // Decodes one chunk to its full chunk shape in C order, little-endian
  // elements (fill value where the chunk or inner chunks are missing).
  Result<Bytes> ReadChunk(const Shape& chunk_index, const ReadOptions& options = {}) const;
  // Decodes several chunks whose stored values are read together
  // (KvStore::ReadMany: neighbours in one OCDBT data file take one read).
  // Each slot is what ReadChunk would return for that index.
  std::vector<Result<Bytes>> ReadChunks(const std::vector<Shape>& chunk_indices,
                                        const ReadOptions& options = {}) const;
  // The same, handing each chunk to take(i, result) as soon as it is
  // decoded (in index order, on the calling thread).
  void ReadChunks(const std::vector<Shape>& chunk_indices, const ReadOptions& options,
                  const std::function<void(size_t, Result<Bytes>)>& take) const;
  // The second half of ReadChunk: decodes chunk_index from its stored value
  // as the store returned it for ChunkKey(chunk_index) (kNotFound: the
  // chunk is missing). For callers that read chunks of several arrays of
  // one store together.
  Result<Bytes> DecodeStoredChunk(const Shape& chunk_index, Result<Bytes> stored,
                                  const ReadOptions& options = {}) const;
  // The store the array reads from.
  const KvStore* store() const;
  // How many consecutive chunks (C order of the grid) readers take in one
  // ReadChunks batch: kReadBatchBytes / ChunkBytes() for chunks of at most
  // kReadBatchChunkBytes (at most kMaxReadBatchChunks), else 1.
  uint64_t ReadBatchSize() const;
  static constexpr uint64_t kReadBatchChunkBytes = uint64_t{1} << 20;
  static constexpr uint64_t kReadBatchBytes = uint64_t{4} << 20;
  static constexpr uint64_t kMaxReadBatchChunks = 256;

  // Streams the whole array into out, chunk by chunk; options.threads
  // decodes chunks in parallel (see ReadOptions).
  Status Read(ArrayWriter& out, const ReadOptions& options = {}) const;

  // Bytes of one decoded (full, padded) chunk.
  uint64_t ChunkBytes() const;
  // Whether chunks can be decoded as a stream: the codecs are a plain byte
  // stream (no sharding or transpose; none, zstd, zlib or gzip) and every
  // chunk's part inside the array is one run, in the chunk and in the array
  // (chunks span every dimension but the first whole).
  bool CanStreamChunks() const;
  // Whether Read streams this array's chunks under these options: chunks
  // larger than options.stream_chunks_above, and every uncompressed chunk.
  bool StreamsChunks(const ReadOptions& options) const;
  // Whether Read streams this array's chunks (StreamChunk) under these
  // options: as StreamsChunks, and chunks of other layouts (tiles that do
  // not span the trailing dimensions) above options.stream_chunks_above
  // whose codecs decode as a stream, scattered run by run.
  bool ReadStreamsChunks(const ReadOptions& options) const;
  // Memory one chunk streamed by StreamChunk holds under these options
  // (pieces, input and codec buffers; an estimate for in-flight bounds).
  static uint64_t StreamChunkBytes(const ReadOptions& options);
  // Opens one chunk for reading in pieces (fill value where it is missing,
  // unless options say that is an error). REQUIRES: CanStreamChunks().
  Result<std::unique_ptr<ChunkReader>> OpenChunkReader(const Shape& chunk_index,
                                                       const ReadOptions& options = {}) const;
  // Decodes one chunk into its place in out in pieces of at most
  // options.stream_piece_bytes (out.WriteAt in increasing offsets, on the
  // calling thread or, with options.overlap_io, a writer thread). An
  // uncompressed chunk stored in a file is copied file to file when out
  // takes it (ArrayWriter::CopyFromFile: copy_file_range), else moved in
  // pieces of 4 * stream_piece_bytes. A tile (chunks that do not span the
  // trailing dimensions) is decoded front to back into one piece buffer and
  // written run by run. REQUIRES: ReadStreamsChunks(options) for some
  // options (the codecs decode as a stream).
  Status StreamChunk(const Shape& chunk_index, ArrayWriter& out,
                     const ReadOptions& options = {}) const;

  class Impl;

 private:
  explicit ZarrArray(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Copies a decoded full chunk (C order) into its place in the whole array:
// the part inside the array bounds, as contiguous runs, through out.WriteAt.
// Runs are coalesced over trailing dimensions that the chunk covers whole,
// so a chunk spanning the array's full trailing dimensions is one WriteAt.
// kInvalidArgument when the index lies outside the chunk grid or the chunk
// has the wrong size.
Status ScatterChunk(const Shape& array_shape, const Shape& chunk_shape, const Shape& chunk_index,
                    size_t element_size, ByteView chunk, ArrayWriter& out);

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_ZARR_ARRAY_H_
