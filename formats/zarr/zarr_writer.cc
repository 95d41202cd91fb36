// Writing zarr v2 / v3 arrays as TensorStore does for Orbax.

#include "formats/zarr/zarr_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "formats/zarr/chunk_layout.h"
#include "formats/zarr/metadata.h"
#include "lib/base/crc32c.h"
#include "lib/base/thread_pool.h"
#include "lib/compression/compression.h"
#include "lib/compression/stream_decoder.h"
#include "lib/dtype/narrow_int.h"

namespace ockpt::zarr {
namespace {

// nlohmann::json keeps object members in a std::map: sorted bytewise, which is
// the order TensorStore's dump() produces.
using SortedJson = nlohmann::json;

// riegeli's ZstdWriter bounds (ZSTD_minCLevel() / ZSTD_maxCLevel()).
constexpr int kMinZstdLevel = -131072;
constexpr int kMaxZstdLevel = 22;
// One (offset, nbytes) pair of uint64 plus the CRC-32C.
constexpr size_t kShardIndexBytes = 16 + 4;

SortedJson ShapeJson(const Shape& shape) {
  SortedJson j = SortedJson::array();
  for (int64_t d : shape) j.push_back(d);
  return j;
}

// The zero of the type as TensorStore's zarr3 fill_value JSON.
SortedJson ZeroFillValue(DType dtype) {
  switch (Info(dtype).kind) {
    case DTypeKind::kBool:
      return false;
    case DTypeKind::kInt:
    case DTypeKind::kUInt:
      return 0;
    case DTypeKind::kFloat:
      // The value of the all-zero bits: 0.0, except float8_e8m0fnu, which
      // has no zero (its zero bits are 2^-127, which TensorStore writes).
      if (dtype == DType::kFloat8E8M0FNU) return std::ldexp(1.0, -127);
      return 0.0;
    case DTypeKind::kComplex:
      return SortedJson::array({0.0, 0.0});
  }
  return 0;
}

// {"configuration":{"endian":"little"},"name":"bytes"}; 1-byte types have
// no byte order, so TensorStore leaves the configuration out.
SortedJson BytesCodecJson(size_t element_size) {
  SortedJson j = {{"name", "bytes"}};
  if (element_size > 1) j["configuration"] = {{"endian", "little"}};
  return j;
}

std::string EncodeV2(const WriteSpec& spec) {
  SortedJson j = SortedJson::object();
  j["chunks"] = ShapeJson(spec.chunk_shape);
  if (spec.zstd_level) {
    j["compressor"] = {{"id", "zstd"}, {"level", *spec.zstd_level}};
  } else {
    j["compressor"] = nullptr;
  }
  j["dimension_separator"] = ".";
  j["dtype"] = Typestr(spec.dtype);
  j["fill_value"] = nullptr;
  j["filters"] = nullptr;
  j["order"] = "C";
  j["shape"] = ShapeJson(spec.shape);
  j["zarr_format"] = 2;
  return j.dump();
}

std::string EncodeV3(const WriteSpec& spec) {
  SortedJson inner = SortedJson::array();
  inner.push_back(BytesCodecJson(SizeOf(spec.dtype)));
  if (spec.zstd_level) {
    inner.push_back(
        {{"name", "zstd"}, {"configuration", {{"checksum", spec.zstd_checksum}, {"level", *spec.zstd_level}}}});
  }
  SortedJson index = SortedJson::array();
  index.push_back(BytesCodecJson(8));
  index.push_back({{"name", "crc32c"}});
  SortedJson sharding = {
      {"name", "sharding_indexed"},
      {"configuration",
       {{"chunk_shape", ShapeJson(spec.chunk_shape)}, {"codecs", inner}, {"index_codecs", index}}}};

  SortedJson j = SortedJson::object();
  j["chunk_grid"] = {{"name", "regular"},
                     {"configuration", {{"chunk_shape", ShapeJson(spec.chunk_shape)}}}};
  j["chunk_key_encoding"] = {{"name", "default"}};
  j["codecs"] = SortedJson::array({sharding});
  j["data_type"] = std::string(Name(spec.dtype));
  j["fill_value"] = ZeroFillValue(spec.dtype);
  j["node_type"] = "array";
  j["shape"] = ShapeJson(spec.shape);
  j["zarr_format"] = 3;
  return j.dump();
}

ChunkKeyEncoding KeyEncodingOf(const WriteSpec& spec) {
  ChunkKeyEncoding e;
  e.v3_default = spec.zarr_format == 3;
  e.separator = spec.zarr_format == 3 ? '/' : '.';
  return e;
}

uint64_t ArrayBytesOf(const WriteSpec& spec) {
  return static_cast<uint64_t>(NumElements(spec.shape)) * SizeOf(spec.dtype);
}

uint64_t ChunkBytesOf(const WriteSpec& spec) {
  return static_cast<uint64_t>(NumElements(spec.chunk_shape)) * SizeOf(spec.dtype);
}

Status CheckSource(const WriteSpec& spec, const ArraySource& src) {
  const uint64_t want = ArrayBytesOf(spec);
  if (src.size() != want) {
    return InvalidArgumentError("array source has {} bytes, {} {} needs {}", src.size(),
                                Name(spec.dtype), ShapeString(spec.shape), want);
  }
  return Status::Ok();
}

Status CheckChunkIndex(const WriteSpec& spec, const Shape& chunk_index) {
  const Shape grid = ChunkGridShape(spec);
  if (chunk_index.size() != grid.size()) {
    return InvalidArgumentError("chunk index {} has rank {}, the array has rank {}",
                                ShapeString(chunk_index), chunk_index.size(), grid.size());
  }
  for (size_t d = 0; d < grid.size(); ++d) {
    if (chunk_index[d] < 0 || chunk_index[d] >= grid[d]) {
      return InvalidArgumentError("chunk index {} is outside the chunk grid {}",
                                  ShapeString(chunk_index), ShapeString(grid));
    }
  }
  return Status::Ok();
}

// The chunk's elements in C order, zeros beyond the array's edge.
// REQUIRES: spec valid, src of the right size, chunk_index inside the grid.
Result<Bytes> GatherChunk(const WriteSpec& spec, const Shape& chunk_index, const ArraySource& src) {
  const size_t rank = spec.shape.size();
  const size_t esize = SizeOf(spec.dtype);
  // Room for a shard index, so that an uncompressed v3 chunk becomes its
  // shard without another copy.
  Bytes chunk = ZeroedBytes(ChunkBytesOf(spec), ChunkBytesOf(spec) + kShardIndexBytes);
  Shape origin(rank), extent(rank);
  for (size_t d = 0; d < rank; ++d) {
    origin[d] = chunk_index[d] * spec.chunk_shape[d];
    extent[d] = std::min(spec.chunk_shape[d], spec.shape[d] - origin[d]);
  }
  // Runs of the box [origin, origin + extent) of the array, mapped to the
  // box [0, extent) of the chunk.
  OCKPT_RETURN_IF_ERROR(ForEachRun(
      spec.chunk_shape, spec.shape, origin, extent, esize,
      [&](uint64_t chunk_offset, uint64_t array_offset, uint64_t n) -> Status {
        Status st = src.ReadAt(array_offset, static_cast<size_t>(n), chunk.data() + chunk_offset);
        if (!st.ok()) {
          return st.WithContext(fmt::format("reading {} bytes at {} for chunk {}", n, array_offset,
                                            ShapeString(chunk_index)));
        }
        return Status::Ok();
      }));
  NormalizeNarrowInts(spec.dtype, chunk.data(), chunk.size());  // int4: as TensorStore stores it
  return chunk;
}

Result<Bytes> EncodeValidated(const WriteSpec& spec, Bytes chunk) {
  Bytes encoded;
  if (spec.zstd_level) {
    OCKPT_ASSIGN_OR_RETURN(encoded, ZstdCompress(chunk, *spec.zstd_level, spec.zstd_checksum));
    Bytes().swap(chunk);
  } else {
    encoded = std::move(chunk);
  }
  if (spec.zarr_format == 2) return encoded;
  // One inner chunk at offset 0, then the index (offset, nbytes as uint64
  // little-endian; codecs bytes + crc32c) at the end of the shard.
  const uint64_t nbytes = encoded.size();
  const size_t index_start = encoded.size();
  encoded.reserve(encoded.size() + kShardIndexBytes);
  PutU64LE(&encoded, 0);
  PutU64LE(&encoded, nbytes);
  PutU32LE(&encoded, Crc32c(ByteView(encoded).substr(index_start, 16)));
  return encoded;
}

}  // namespace

Status ValidateWriteSpec(const WriteSpec& spec) {
  if (spec.zarr_format != 2 && spec.zarr_format != 3) {
    return InvalidArgumentError("zarr_format {} (expected 2 or 3)", spec.zarr_format);
  }
  if (spec.dtype == DType::kUInt4 || spec.dtype == DType::kUInt2) {
    return UnimplementedError("TensorStore's zarr drivers cannot store {}", Name(spec.dtype));
  }
  const size_t rank = spec.shape.size();
  if (rank > kMaxRank) return InvalidArgumentError("rank {} exceeds {}", rank, kMaxRank);
  if (spec.chunk_shape.size() != rank) {
    return InvalidArgumentError("chunk shape {} does not match the rank of shape {}",
                                ShapeString(spec.chunk_shape), ShapeString(spec.shape));
  }
  for (int64_t d : spec.shape) {
    if (d < 1) {
      return InvalidArgumentError("shape {} has a dimension < 1 (Orbax cannot store empty arrays)",
                                  ShapeString(spec.shape));
    }
  }
  for (int64_t c : spec.chunk_shape) {
    if (c < 1) {
      return InvalidArgumentError("chunk shape {} has a dimension < 1",
                                  ShapeString(spec.chunk_shape));
    }
  }
  const size_t esize = SizeOf(spec.dtype);
  auto array_bytes = CheckedByteCount(spec.shape, esize, kMaxArrayBytes, "array shape");
  if (!array_bytes.ok()) return InvalidArgumentError("{}", array_bytes.status().message());
  auto chunk_bytes = CheckedByteCount(spec.chunk_shape, esize, kMaxChunkBytes, "chunk shape");
  if (!chunk_bytes.ok()) return InvalidArgumentError("{}", chunk_bytes.status().message());
  if (spec.zstd_level && (*spec.zstd_level < kMinZstdLevel || *spec.zstd_level > kMaxZstdLevel)) {
    return InvalidArgumentError("zstd level {} is outside [{}, {}]", *spec.zstd_level,
                                kMinZstdLevel, kMaxZstdLevel);
  }
  return Status::Ok();
}

std::string MetadataKey(const WriteSpec& spec, std::string_view prefix) {
  return std::string(prefix) + (spec.zarr_format == 3 ? "zarr.json" : ".zarray");
}

std::string EncodeMetadata(const WriteSpec& spec) {
  return spec.zarr_format == 3 ? EncodeV3(spec) : EncodeV2(spec);
}

std::string ChunkKeyFor(const WriteSpec& spec, std::string_view prefix, const Shape& chunk_index) {
  return ChunkKey(prefix, KeyEncodingOf(spec), chunk_index);
}

Shape ChunkGridShape(const WriteSpec& spec) {
  Shape grid(spec.shape.size());
  for (size_t d = 0; d < grid.size(); ++d) {
    const int64_t c = d < spec.chunk_shape.size() ? spec.chunk_shape[d] : 0;
    grid[d] = spec.shape[d] <= 0 || c <= 0 ? 0 : (spec.shape[d] - 1) / c + 1;
  }
  return grid;
}

Result<Bytes> EncodeChunkData(const WriteSpec& spec, Bytes chunk) {
  OCKPT_RETURN_IF_ERROR(ValidateWriteSpec(spec));
  if (chunk.size() != ChunkBytesOf(spec)) {
    return InvalidArgumentError("chunk has {} bytes, {} {} needs {}", chunk.size(),
                                Name(spec.dtype), ShapeString(spec.chunk_shape),
                                ChunkBytesOf(spec));
  }
  return EncodeValidated(spec, std::move(chunk));
}

Result<Bytes> EncodeChunk(const WriteSpec& spec, const Shape& chunk_index, const ArraySource& src) {
  OCKPT_RETURN_IF_ERROR(ValidateWriteSpec(spec));
  OCKPT_RETURN_IF_ERROR(CheckSource(spec, src));
  OCKPT_RETURN_IF_ERROR(CheckChunkIndex(spec, chunk_index));
  OCKPT_ASSIGN_OR_RETURN(Bytes chunk, GatherChunk(spec, chunk_index, src));
  return EncodeValidated(spec, std::move(chunk));
}

Status WriteArray(const WriteSpec& spec, std::string_view prefix, const ArraySource& src,
                  const std::function<Status(const std::string& key, ByteView value)>& sink,
                  const WriteOptions& options) {
  OCKPT_RETURN_IF_ERROR(ValidateWriteSpec(spec));
  OCKPT_RETURN_IF_ERROR(CheckSource(spec, src));
  const Shape grid = ChunkGridShape(spec);
  const uint64_t count = NumChunks(grid);
  auto grid_index = [&grid](uint64_t i) { return GridIndex(grid, i); };
  // Gathering reads src, which need not be thread-safe: it stays on this
  // thread with the sink; only the codec work runs on workers.
  PipelineOptions pipeline;
  pipeline.threads = options.threads;
  pipeline.max_bytes_in_flight = options.max_bytes_in_flight;
  pipeline.bytes_per_task = 2 * std::max<uint64_t>(ChunkBytesOf(spec), 1);  // chunk + encoding
  return RunOrderedPipeline<Bytes>(
      count, pipeline,
      [&](size_t i) -> Result<PipelineWork<Bytes>> {
        OCKPT_ASSIGN_OR_RETURN(Bytes chunk, GatherChunk(spec, grid_index(i), src));
        return PipelineWork<Bytes>([&spec, chunk = std::move(chunk)]() mutable {
          return EncodeValidated(spec, std::move(chunk));
        });
      },
      [&](size_t i, Bytes encoded) -> Status {
        const std::string key = ChunkKeyFor(spec, prefix, grid_index(i));
        Status st = sink(key, encoded);
        if (!st.ok()) return std::move(st).WithContext(fmt::format("writing zarr chunk '{}'", key));
        return Status::Ok();
      });
}

bool CanStreamEncode(const WriteSpec& spec) {
  if (spec.shape.empty() || spec.chunk_shape.size() != spec.shape.size()) return false;
  for (size_t d = 1; d < spec.shape.size(); ++d) {
    if (spec.chunk_shape[d] != spec.shape[d]) return false;
  }
  return true;
}

uint64_t EncodedChunkBound(const WriteSpec& spec) {
  const uint64_t raw = ChunkBytesOf(spec);
  // ZSTD_compressBound's formula for inputs of 128 KiB and more.
  // (+4: the content checksum.)
  uint64_t bound = spec.zstd_level ? raw + (raw >> 8) + 64 + 4 : raw;
  return spec.zarr_format == 3 ? bound + kShardIndexBytes : bound;
}

bool StreamsSideBySide(const WriteSpec& spec, bool side_by_side) {
  return side_by_side && NumChunks(ChunkGridShape(spec)) >= kSideBySideChunks;
}

int StreamFrameWorkers(const WriteSpec& spec, bool side_by_side, int threads) {
  const int all = ResolveThreads(threads);
  return StreamsSideBySide(spec, side_by_side) ? std::min(kSideBySideFrameWorkers, all) : all;
}

Status StreamEncodeChunk(const WriteSpec& spec, const Shape& chunk_index, const ArraySource& src,
                         int frame_workers, const ValueSink::Append& append) {
  OCKPT_RETURN_IF_ERROR(ValidateWriteSpec(spec));
  OCKPT_RETURN_IF_ERROR(CheckSource(spec, src));
  OCKPT_RETURN_IF_ERROR(CheckChunkIndex(spec, chunk_index));
  if (!CanStreamEncode(spec)) {
    return InternalError("chunks {} of {} cannot be streamed", ShapeString(spec.chunk_shape),
                         ShapeString(spec.shape));
  }
  // The chunk's first `valid` bytes are array bytes [first, first + valid);
  // the rest is padding (zeros).
  const uint64_t chunk_bytes = ChunkBytesOf(spec);
  uint64_t row_bytes = SizeOf(spec.dtype);
  for (size_t d = 1; d < spec.shape.size(); ++d) row_bytes *= static_cast<uint64_t>(spec.shape[d]);
  const int64_t first_row = chunk_index[0] * spec.chunk_shape[0];
  const int64_t rows = std::min(spec.chunk_shape[0], spec.shape[0] - first_row);
  const uint64_t valid = static_cast<uint64_t>(rows) * row_bytes;
  const uint64_t first = static_cast<uint64_t>(first_row) * row_bytes;

  // Uncompressed: larger pieces (plain reads and appends, like cp's).
  const size_t piece = spec.zstd_level ? size_t{1} << 20 : size_t{4} << 20;
  Bytes input = ZeroedBytes(static_cast<size_t>(std::min<uint64_t>(piece, chunk_bytes)));
  // Fills `input` with chunk bytes [pos, pos + n).
  auto gather = [&](uint64_t pos, size_t n) -> Status {
    size_t from_src = pos < valid ? static_cast<size_t>(std::min<uint64_t>(n, valid - pos)) : 0;
    if (from_src > 0) {
      Status st = src.ReadAt(first + pos, from_src, input.data());
      if (!st.ok()) {
        return st.WithContext(fmt::format("reading {} bytes at {} for chunk {}", from_src,
                                          first + pos, ShapeString(chunk_index)));
      }
    }
    if (from_src < n) std::memset(input.data() + from_src, 0, n - from_src);
    NormalizeNarrowInts(spec.dtype, input.data(), n);
    return Status::Ok();
  };

  uint64_t nbytes = 0;
  auto emit = [&](ByteView piece) -> Status {
    nbytes += piece.size();
    return append(piece);
  };
  if (!spec.zstd_level) {
    for (uint64_t pos = 0; pos < chunk_bytes;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(input.size(), chunk_bytes - pos));
      OCKPT_RETURN_IF_ERROR(gather(pos, n));
      OCKPT_RETURN_IF_ERROR(emit(ByteView(input.data(), n)));
      pos += n;
    }
  } else {
    OCKPT_ASSIGN_OR_RETURN(
        std::unique_ptr<ZstdStreamEncoder> encoder,
        ZstdStreamEncoder::Create(*spec.zstd_level, chunk_bytes, frame_workers, spec.zstd_checksum));
    for (uint64_t pos = 0; pos < chunk_bytes;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(input.size(), chunk_bytes - pos));
      OCKPT_RETURN_IF_ERROR(gather(pos, n));
      pos += n;
      // The last piece ends the frame (see ZstdStreamEncoder::Finish).
      OCKPT_RETURN_IF_ERROR(pos == chunk_bytes ? encoder->Finish(ByteView(input.data(), n), emit)
                                               : encoder->Write(ByteView(input.data(), n), emit));
    }
    if (chunk_bytes == 0) OCKPT_RETURN_IF_ERROR(encoder->Finish(ByteView(), emit));
  }
  if (spec.zarr_format == 2) return Status::Ok();
  // One inner chunk at offset 0, then the shard index (see EncodeValidated).
  const uint64_t inner = nbytes;
  Bytes index;
  PutU64LE(&index, 0);
  PutU64LE(&index, inner);
  PutU32LE(&index, Crc32c(ByteView(index).substr(0, 16)));
  return append(index);
}

Status WriteArrays(const std::vector<ArrayToWrite>& arrays,
                   const std::function<Status(const std::string& key, ByteView value)>& sink,
                   const WriteOptions& options) {
  ValueSink values;
  values.put = sink;
  return WriteArrays(arrays, values, options);
}

ChunkRun ChunkPart(const std::vector<WriteSpec>& specs, int part, int parts) {
  if (parts < 1) parts = 1;
  part = std::clamp(part, 0, parts);
  using u128 = unsigned __int128;
  u128 total = 0;
  uint64_t chunks = 0;
  for (const WriteSpec& spec : specs) {
    const uint64_t n = NumChunks(ChunkGridShape(spec));
    total += u128{n} * std::max<uint64_t>(ChunkBytesOf(spec), 1);
    chunks += n;
  }
  // The chunks that start below byte ceil(p * total / parts).
  auto chunks_before = [&](int p) -> uint64_t {
    if (p <= 0) return 0;
    if (p >= parts) return chunks;
    const u128 bound = (u128(p) * total + u128(parts) - 1) / u128(parts);
    u128 start = 0;
    uint64_t count = 0;
    for (const WriteSpec& spec : specs) {
      const uint64_t n = NumChunks(ChunkGridShape(spec));
      const uint64_t c = std::max<uint64_t>(ChunkBytesOf(spec), 1);
      if (bound <= start) break;
      const u128 k = (bound - start + c - 1) / c;  // chunks of this array starting below bound
      count += k >= n ? n : static_cast<uint64_t>(k);
      start += u128{n} * c;
    }
    return count;
  };
  return ChunkRun{chunks_before(part), chunks_before(part + 1)};
}

Status WriteArrays(const std::vector<ArrayToWrite>& arrays, const ValueSink& sink,
                   const WriteOptions& options) {
  const auto& put = sink.put;
  // starts[a]: the pipeline index of array a's first chunk.
  std::vector<uint64_t> starts;
  std::vector<Shape> grids;
  std::vector<bool> streamed;
  uint64_t count = 0;
  for (const ArrayToWrite& a : arrays) {
    Status st = ValidateWriteSpec(a.spec);
    if (!st.ok()) return std::move(st).WithContext(fmt::format("writing leaf '{}'", a.name));
    starts.push_back(count);
    grids.push_back(ChunkGridShape(a.spec));
    count += NumChunks(grids.back());
    streamed.push_back(sink.put_streamed && ChunkBytesOf(a.spec) > options.stream_chunks_above &&
                       CanStreamEncode(a.spec));
  }
  auto array_of = [&](uint64_t i) {
    return static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), i) - starts.begin() - 1);
  };
  // This call's run of the chunks (all of them in a single-process save).
  ChunkRun run{0, count};
  const bool split = options.parts > 1;
  if (split) {
    std::vector<WriteSpec> specs;
    for (const ArrayToWrite& a : arrays) specs.push_back(a.spec);
    run = ChunkPart(specs, options.part, options.parts);
    if (options.write_metadata) {
      for (const ArrayToWrite& a : arrays) {
        Status st = put(MetadataKey(a.spec, a.prefix), EncodeMetadata(a.spec));
        if (!st.ok()) return std::move(st).WithContext(fmt::format("writing leaf '{}'", a.name));
      }
    }
  }
  // The last chunk of array a that this call writes.
  auto last_of = [&](size_t a) { return std::min<uint64_t>(starts[a] + NumChunks(grids[a]), run.end) - 1; };
  // The source being gathered from (opened on the calling thread; gathered
  // from on the workers when it is concurrent(), else on the calling thread).
  size_t open_index = arrays.size();
  std::shared_ptr<ArraySource> open_source;
  // Per array: the source of a streamed array whose chunks are encoded on
  // the calling thread, from the first of its chunks produced to the last
  // one consumed.
  std::vector<std::shared_ptr<ArraySource>> serial_sources(arrays.size());
  PipelineOptions pipeline;
  pipeline.threads = options.threads;
  pipeline.max_bytes_in_flight = options.max_bytes_in_flight;
  pipeline.task_bytes = [&](size_t i) -> uint64_t {
    const size_t a = array_of(i);
    if (streamed[a]) {
      // While it is written: its pieces, and for zstd the buffers of its
      // frame's workers (about 13-18 MiB of RSS per chunk side by side,
      // with kSideBySideFrameWorkers), so that at most 8 chunks go side by
      // side within the default max_bytes_in_flight (a save of 64 MiB
      // chunks peaks at about 50 MiB with 2 threads, 150 MiB with 16 or
      // 64: each thread keeps one context with its workers' buffers).
      return arrays[a].spec.zstd_level ? uint64_t{16} << 20 : uint64_t{4} << 20;
    }
    return 2 * std::max<uint64_t>(ChunkBytesOf(arrays[a].spec), 1);  // chunk + encoding
  };
  pipeline.task_bytes = [&, task_bytes = pipeline.task_bytes](size_t j) { return task_bytes(run.first + j); };
  auto chunk_context = [](const ArrayToWrite& array, const std::string& key) {
    return fmt::format("writing leaf '{}': writing zarr chunk '{}'", array.name, key);
  };
  return RunOrderedPipeline<Bytes>(
      run.end - run.first, pipeline,
      [&](size_t j) -> Result<PipelineWork<Bytes>> {
        const size_t i = run.first + j;
        const size_t a = array_of(i);
        const ArrayToWrite& array = arrays[a];
        if (a != open_index) {
          open_source.reset();
          auto src = array.open();
          if (!src.ok()) return src.status().WithContext(fmt::format("writing leaf '{}'", array.name));
          open_source = std::move(src).value();
          open_index = a;
          Status st = CheckSource(array.spec, *open_source);
          if (!st.ok()) return std::move(st).WithContext(fmt::format("writing leaf '{}'", array.name));
        }
        const Shape index = GridIndex(grids[a], i - starts[a]);
        std::shared_ptr<ArraySource> source = open_source;
        if (i == last_of(a)) {
          open_source.reset();  // its last chunk (the work may still hold it)
          open_index = arrays.size();
        }
        if (streamed[a]) {
          const bool side_by_side = sink.streams_side_by_side && source->concurrent();
          if (StreamsSideBySide(array.spec, side_by_side)) {
            // Encoded and handed to the sink by the worker, beside the other
            // workers' chunks.
            const int frame_workers = StreamFrameWorkers(array.spec, side_by_side, options.threads);
            return PipelineWork<Bytes>([&sink, &array, &chunk_context, index, frame_workers,
                                        source = std::move(source)]() -> Result<Bytes> {
              const std::string key = ChunkKeyFor(array.spec, array.prefix, index);
              Status st = sink.put_streamed(key, EncodedChunkBound(array.spec),
                                            [&](const ValueSink::Append& append) {
                                              return StreamEncodeChunk(array.spec, index, *source,
                                                                       frame_workers, append);
                                            });
              if (!st.ok()) return std::move(st).WithContext(chunk_context(array, key));
              return Bytes();
            });
          }
          // Encoded while it is consumed, on the calling thread.
          serial_sources[a] = std::move(source);
          return PipelineWork<Bytes>([] { return Result<Bytes>(Bytes()); });
        }
        if (source->concurrent()) {
          return PipelineWork<Bytes>([&array, index, source = std::move(source)]() -> Result<Bytes> {
            auto chunk = GatherChunk(array.spec, index, *source);
            if (!chunk.ok()) {
              return chunk.status().WithContext(fmt::format("writing leaf '{}'", array.name));
            }
            return EncodeValidated(array.spec, std::move(chunk).value());
          });
        }
        auto chunk = GatherChunk(array.spec, index, *source);
        if (!chunk.ok()) return chunk.status().WithContext(fmt::format("writing leaf '{}'", array.name));
        return PipelineWork<Bytes>([&spec = array.spec, c = std::move(chunk).value()]() mutable {
          return EncodeValidated(spec, std::move(c));
        });
      },
      [&](size_t j, Bytes encoded) -> Status {
        const size_t i = run.first + j;
        const size_t a = array_of(i);
        const ArrayToWrite& array = arrays[a];
        if (!split && options.write_metadata && i == starts[a]) {
          OCKPT_RETURN_IF_ERROR(put(MetadataKey(array.spec, array.prefix), EncodeMetadata(array.spec)));
        }
        if (streamed[a] && !serial_sources[a]) return Status::Ok();  // its worker wrote it
        const Shape index = GridIndex(grids[a], i - starts[a]);
        const std::string key = ChunkKeyFor(array.spec, array.prefix, index);
        Status st;
        if (streamed[a]) {
          const ArraySource& source = *serial_sources[a];
          st = sink.put_streamed(key, EncodedChunkBound(array.spec),
                                 [&](const ValueSink::Append& append) {
                                   return StreamEncodeChunk(
                                       array.spec, index, source,
                                       StreamFrameWorkers(array.spec, false, options.threads),
                                       append);
                                 });
          if (i == last_of(a)) serial_sources[a].reset();
        } else {
          st = put(key, encoded);
        }
        if (!st.ok()) return std::move(st).WithContext(chunk_context(array, key));
        return Status::Ok();
      });
}

}  // namespace ockpt::zarr
