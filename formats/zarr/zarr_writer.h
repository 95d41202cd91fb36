// Writing zarr arrays exactly as TensorStore does for Orbax: the metadata
// bytes (`.zarray` / `zarr.json`), chunk keys and encoded chunks. Arrays are
// encoded one chunk at a time from an ArraySource; memory is bounded by one
// chunk plus its encoding per chunk in flight (WriteOptions). See
// docs/format/zarr.md.

#ifndef OCKPT_FORMATS_ZARR_ZARR_WRITER_H_
#define OCKPT_FORMATS_ZARR_ZARR_WRITER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/checkpoint/array_io.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::zarr {

struct WriteSpec {
  // 2: `.zarray`, compressor zstd (Orbax v0 API, TensorStore "zarr" driver,
  //    "." chunk keys, fill_value null, C order).
  // 3: `zarr.json` with one sharding_indexed codec whose inner chunk shape
  //    equals the chunk grid, inner codecs bytes(little) + zstd, index codecs
  //    bytes(little) + crc32c (Orbax v1 API).
  int zarr_format = 2;
  DType dtype = DType::kFloat32;
  Shape shape;
  Shape chunk_shape;              // divides nothing in particular; edges padded
  std::optional<int> zstd_level;  // nullopt: no compression
  // Every zstd frame carries its content checksum (ZSTD_c_checksumFlag), so
  // that a damaged chunk fails to decode instead of decoding to other
  // values. v2: `.zarray` is unchanged (zarr v2 / numcodecs / TensorStore
  // decoders check the flag from the frame header); v3: the zstd codec says
  // "checksum": true. Off: the bytes TensorStore writes, byte for byte.
  bool zstd_checksum = true;
};

// Checks shapes, ranks and sizes (kInvalidArgument on a bad spec: format not
// 2 or 3, rank above 32 or ranks differing, a dimension < 1 in shape or
// chunk_shape, array or chunk too large, zstd level outside
// [-131072, 22]; kUnimplemented for uint4 / uint2, which TensorStore lacks).
Status ValidateWriteSpec(const WriteSpec& spec);

// "<prefix>.zarray" or "<prefix>zarr.json" (prefix "" or ending in '/').
std::string MetadataKey(const WriteSpec& spec, std::string_view prefix);
// The exact bytes TensorStore writes for this array (compact, sorted keys).
// REQUIRES: ValidateWriteSpec(spec) is OK.
std::string EncodeMetadata(const WriteSpec& spec);
// v2: "<prefix>0.1" ("<prefix>0" for rank 0); v3: "<prefix>c/0/1" ("<prefix>c").
std::string ChunkKeyFor(const WriteSpec& spec, std::string_view prefix, const Shape& chunk_index);

// Number of chunks along each dimension (ceil(shape / chunk_shape)).
Shape ChunkGridShape(const WriteSpec& spec);

// Reads the chunk's region from src (padding edge chunks with zeros, the fill
// value) and encodes it. kInvalidArgument for a bad spec, an index outside
// the chunk grid or a source whose size does not match the spec.
Result<Bytes> EncodeChunk(const WriteSpec& spec, const Shape& chunk_index, const ArraySource& src);

// Encodes one full chunk (chunk_shape elements, C order, little-endian; edges
// already padded): v2 a zstd frame (or the bytes as they are), v3 a shard of
// one inner chunk followed by its index and CRC-32C. kInvalidArgument when
// `chunk` has the wrong size.
Result<Bytes> EncodeChunkData(const WriteSpec& spec, Bytes chunk);

struct WriteOptions {
  // Chunks encoded at once (0 = all cores; 1 = one at a time on the calling
  // thread). The output does not depend on it: src.ReadAt and sink are
  // called from the calling thread only, and sink gets the chunks in C
  // order of the chunk grid whatever the count.
  int threads = 1;
  // At most this many bytes of gathered + encoded chunks in flight (always
  // room for one chunk, however large).
  uint64_t max_bytes_in_flight = uint64_t{128} << 20;
  // With a ValueSink that takes streamed values: chunks larger than this
  // whose layout allows it (CanStreamEncode) are encoded from the source
  // straight into the sink in pieces, so that chunks of tens of MiB to
  // several GiB (Orbax's default: one per array) are written with fixed
  // memory and every core busy. An array of kSideBySideChunks chunks or more
  // is encoded a chunk per worker, several at once, when the sink
  // (streams_side_by_side) and the source (concurrent()) allow
  // (StreamsSideBySide); an array of fewer chunks one chunk at a time on the
  // calling thread. Either way zstd's own workers compress each frame while
  // the thread that encodes it reads the source and appends the frame
  // (StreamFrameWorkers).
  uint64_t stream_chunks_above = uint64_t{16} << 20;
  // Multi-process saves (WriteArrays only): this call writes part `part` of
  // `parts` of the chunks, ChunkPart's run of them; the other processes
  // write the other parts. With parts > 1 the metadata of every array goes
  // to the sink first, and only where write_metadata is set (Orbax's primary
  // process writes it); with parts == 1 it comes before each array's chunks.
  int part = 0;
  int parts = 1;
  bool write_metadata = true;
};

// The chunks of a WriteArrays call are numbered in its order: each array's
// chunks in C order of its grid, arrays one after the other. ChunkPart cuts
// that sequence into `parts` contiguous runs of about equal decoded bytes
// (a chunk belongs to the run its first byte falls in; a chunk larger than a
// share leaves the next runs short or empty) and returns run `part` as
// [first, end). The same arrays give every process the same runs.
struct ChunkRun {
  uint64_t first = 0;
  uint64_t end = 0;
};
ChunkRun ChunkPart(const std::vector<WriteSpec>& specs, int part, int parts);

// Receives the encoded values.
struct ValueSink {
  using Append = std::function<Status(ByteView piece)>;
  // A whole value.
  std::function<Status(const std::string& key, ByteView value)> put;
  // Optional: a value given in pieces: `produce` calls append with the
  // value's bytes in order. size_bound is an upper bound of its size.
  std::function<Status(const std::string& key, uint64_t size_bound,
                       const std::function<Status(const Append& append)>& produce)>
      put_streamed;
  // Whether put_streamed may run on several threads at once, beside put
  // (each value then goes where no other one is being written).
  bool streams_side_by_side = false;
};

// Whether the chunks of spec can be encoded as a stream: each chunk's part
// inside the array is one run of it (chunks span every dimension but the
// first whole, rank >= 1).
bool CanStreamEncode(const WriteSpec& spec);
// Upper bound of an encoded chunk's size.
uint64_t EncodedChunkBound(const WriteSpec& spec);
// Whether the streamed chunks of spec's array are encoded side by side, a
// chunk per pipeline worker: an array of at least kSideBySideChunks chunks,
// when the sink and the source allow (`side_by_side`:
// ValueSink::streams_side_by_side and ArraySource::concurrent()). Else
// they are encoded one at a time on the calling thread.
inline constexpr uint64_t kSideBySideChunks = 4;
bool StreamsSideBySide(const WriteSpec& spec, bool side_by_side);
// How many zstd workers of its own (ZSTD_c_nbWorkers) compress one streamed
// chunk of spec's array: ResolveThreads(threads) for a chunk encoded alone,
// so that an array of one large chunk (Orbax's default) is compressed on
// every core; at most kSideBySideFrameWorkers for chunks encoded side by
// side, so that the last chunks of an array, when fewer are left than
// workers, still spread over more than one core, and the threads in use
// grow with `threads`, not with its square. Always at least 1: zstd's frame
// is the same for every worker count of 1 or more (and differs from 0's),
// so a save writes the same bytes with any `--threads`, either way.
inline constexpr int kSideBySideFrameWorkers = 2;
int StreamFrameWorkers(const WriteSpec& spec, bool side_by_side, int threads);
// Encodes one chunk from src into append, in pieces: the bytes are those of
// EncodeChunk, except that a zstd frame may be cut into blocks differently
// (it decodes to the same bytes). zstd compresses on `frame_workers`
// workers of its own (StreamFrameWorkers).
// REQUIRES: CanStreamEncode(spec).
Status StreamEncodeChunk(const WriteSpec& spec, const Shape& chunk_index, const ArraySource& src,
                         int frame_workers, const ValueSink::Append& append);

// Encodes every chunk (all-zero ones too, as Orbax stores them) in C order of
// the chunk grid and hands each to sink; stops at the first error. The
// metadata is not written: store EncodeMetadata at MetadataKey yourself.
Status WriteArray(const WriteSpec& spec, std::string_view prefix, const ArraySource& src,
                  const std::function<Status(const std::string& key, ByteView value)>& sink,
                  const WriteOptions& options = {});

// One array of a WriteArrays call.
struct ArrayToWrite {
  WriteSpec spec;
  std::string prefix;  // "" or ending in '/'
  std::string name;    // for messages: "writing leaf '<name>'"
  // Opened on the calling thread when the array's first chunk is gathered;
  // released after its last. A concurrent() source is gathered from on the
  // workers (and may be released there); others on the calling thread.
  std::function<Result<std::unique_ptr<ArraySource>>()> open;
};

// Writes several arrays as one pipeline, so that small arrays (one chunk
// each, Orbax's default) are encoded in parallel too: for each array in
// order, its metadata (EncodeMetadata at MetadataKey) and then its chunks in
// C order of the grid go to sink, exactly as a loop of sink(metadata) +
// WriteArray would. Every spec is validated before anything is written.
// Memory: options.max_bytes_in_flight over the chunks of all arrays (an
// array whose chunk is larger runs alone).
Status WriteArrays(const std::vector<ArrayToWrite>& arrays,
                   const std::function<Status(const std::string& key, ByteView value)>& sink,
                   const WriteOptions& options = {});
// The same into a ValueSink: with put_streamed, large chunks are streamed
// (WriteOptions::stream_chunks_above).
Status WriteArrays(const std::vector<ArrayToWrite>& arrays, const ValueSink& sink,
                   const WriteOptions& options = {});

}  // namespace ockpt::zarr

#endif  // OCKPT_FORMATS_ZARR_ZARR_WRITER_H_
