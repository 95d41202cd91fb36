// ZarrArray: open, decode chunks, stream into an ArrayWriter.

#include "formats/orbax/zarr/zarr_array.h"

#include <algorithm>

#include "formats/orbax/zarr/chunk_layout.h"
#include "formats/orbax/zarr/metadata.h"
#include "formats/orbax/zarr/metadata_v2.h"
#include "formats/orbax/zarr/metadata_v3.h"
#include "lib/base/thread_pool.h"

namespace ockpt::zarr {

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
  }

  const ArraySummary& summary() const { return summary_; }
  const Shape& grid() const { return grid_; }
  std::string ChunkKey(const Shape& index) const {
    return zarr::ChunkKey(prefix_, md_.key_encoding, index);
  }

  Result<Bytes> ReadChunk(const Shape& index, const ReadOptions& options) const {
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
    const std::string key = ChunkKey(index);
    Result<Bytes> stored = store_->Read(key);
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
    uint64_t count = 1;
    for (int64_t g : grid_) count *= static_cast<uint64_t>(g);
    if (count == 0) return Status::Ok();
    OCKPT_ASSIGN_OR_RETURN(uint64_t chunk_bytes, CheckedByteCount(md_.chunk_shape, element_.size,
                                                                  kMaxChunkBytes, "chunk shape"));
    PipelineOptions pipeline;
    // Uncompressed chunks are plain copies: workers would only add buffers
    // and cache traffic (measured: slower than one thread on warm caches).
    pipeline.threads = summary_.compressor == "none" ? 1 : options.threads;
    pipeline.max_bytes_in_flight = options.max_bytes_in_flight;
    pipeline.bytes_per_task = 2 * std::max<uint64_t>(chunk_bytes, 1);  // encoded + decoded
    return RunOrderedPipeline<Bytes>(
        count, pipeline,
        [&](size_t i) -> Result<PipelineWork<Bytes>> {
          return PipelineWork<Bytes>(
              [this, index = GridIndex(i), &options] { return ReadChunk(index, options); });
        },
        [&](size_t i, Bytes chunk) -> Status {
          return ScatterChunk(md_.shape, md_.chunk_shape, GridIndex(i), element_.size, chunk, out);
        });
  }

  // The i-th chunk index in C order of the grid.
  Shape GridIndex(uint64_t i) const {
    Shape index(grid_.size());
    for (size_t d = grid_.size(); d-- > 0;) {
      index[d] = static_cast<int64_t>(i % static_cast<uint64_t>(grid_[d]));
      i /= static_cast<uint64_t>(grid_[d]);
    }
    return index;
  }

 private:
  const KvStore* store_;
  std::string prefix_;
  ZarrMetadata md_;
  ArraySummary summary_;
  ElementFormat element_;
  Shape grid_;
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
Status ZarrArray::Read(ArrayWriter& out, const ReadOptions& options) const {
  return impl_->Read(out, options);
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
