// LeafStream: reads the leaves of a PyTree item one after the other while
// workers decode the chunks of the coming leaves in batches.

#include <algorithm>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include <fmt/format.h>

#include "formats/orbax/leaf_source.h"
#include "formats/zarr/chunk_layout.h"
#include "lib/base/thread_pool.h"

namespace ockpt::orbax {

class LeafStream::Impl {
 public:
  Impl(const PyTreeItem& item, std::vector<size_t> order, int threads,
       const std::vector<const PyTreeItem::LeafSource*>& sources, bool missing_chunks_are_errors,
       std::string store)
      : item_(item), order_(std::move(order)), store_(std::move(store)), threads_(threads) {
    opts_.missing_chunks_are_errors = missing_chunks_are_errors;
    bool any_compressed = false;
    for (size_t i : order_) {
      Entry e;
      e.leaf = i;
      e.first = count_;
      if (i < sources.size() && sources[i]->kind == PyTreeItem::LeafSource::Kind::kZarr) {
        e.array = &*sources[i]->array;
        e.grid = e.array->ChunkGridShape();
        e.chunks = zarr::NumChunks(e.grid);
        e.chunk_bytes = e.array->ChunkBytes();
        // Streamed chunks (large or uncompressed) are decoded straight into
        // the leaf's writer when it is read (ZarrArray::Read: several
        // chunks at once on workers of its own, or one with read-ahead and
        // write-behind): they take no pipeline task.
        e.stream = e.array->ReadStreamsChunks(opts_);
        if (!e.stream) {
          e.tasks = e.chunks;
          if (e.array->summary().compressor != "none") any_compressed = true;
        }
      }
      count_ += e.tasks;
      entries_.push_back(std::move(e));
    }
    MakeBatches();
    PipelineOptions po;
    // Uncompressed chunks are plain copies: workers would only add buffers
    // and cache traffic (measured: slower than one thread on warm caches).
    po.threads = any_compressed ? threads : 1;
    po.max_bytes_in_flight = uint64_t{128} << 20;
    po.task_bytes = [this](size_t b) { return 2 * std::max<uint64_t>(batches_[b].bytes, 1); };
    // Chunk errors travel as values, so that each is reported with its own
    // leaf, in order, as a serial read would.
    reader_ = std::make_unique<OrderedPipelineReader<Batch>>(
        batches_.size(), po, [this](size_t b) -> Result<PipelineWork<Batch>> {
          return PipelineWork<Batch>(
              [this, span = batches_[b]]() -> Result<Batch> { return ReadBatch(span); });
        });
  }

  Status ReadLeaf(size_t i, ArrayWriter& out) {
    if (!error_.ok()) return error_;
    Status st = Read(i, out);
    if (!st.ok()) error_ = st;
    return st;
  }

 private:
  // A decoded chunk, or its failure, or the news that a worker wrote it.
  struct Decoded {
    Status status;
    Bytes data;
    bool written = false;
  };
  // One pipeline task: consecutive chunks of the stream (possibly of
  // several leaves) whose stored values are read together.
  struct BatchSpan {
    uint64_t first = 0, count = 0;  // chunks of the stream
    uint64_t bytes = 0;             // decoded bytes
  };
  using Batch = std::vector<Decoded>;

  // Lets workers write the chunks of leaf `leaf` into out while this
  // object lives (when out is concurrent); the destructor waits for writes
  // in progress, so out is never used after Read returns.
  class DirectWrites {
   public:
    DirectWrites(Impl* impl, size_t leaf, ArrayWriter& out) : impl_(impl) {
      if (!out.concurrent()) return;
      std::unique_lock lock(impl_->direct_mu_);
      impl_->direct_leaf_ = leaf;
      impl_->direct_out_ = &out;
    }
    ~DirectWrites() {
      std::unique_lock lock(impl_->direct_mu_);
      impl_->direct_leaf_ = kNoLeaf;
      impl_->direct_out_ = nullptr;
    }

   private:
    Impl* impl_;
  };
  static constexpr size_t kNoLeaf = ~size_t{0};

  struct Entry {
    size_t leaf = 0;
    uint64_t first = 0, chunks = 0, chunk_bytes = 0;
    uint64_t tasks = 0;   // pipeline tasks: chunks, or 0 when streamed
    bool stream = false;  // chunks decoded by StreamChunk on the calling thread
    const zarr::ZarrArray* array = nullptr;
    Shape grid;
  };

  // Groups the stream's chunks into batches: small chunks
  // (ZarrArray::kReadBatchChunkBytes or less) up to kReadBatchBytes or
  // kMaxReadBatchChunks together, across leaves; larger chunks alone.
  void MakeBatches() {
    using zarr::ZarrArray;
    BatchSpan cur;
    auto close = [&] {
      if (cur.count > 0) batches_.push_back(cur);
      cur = BatchSpan{cur.first + cur.count, 0, 0};
    };
    for (const Entry& e : entries_) {
      const bool small = e.chunk_bytes <= ZarrArray::kReadBatchChunkBytes;
      for (uint64_t c = 0; c < e.tasks; ++c) {
        if (!small || cur.bytes + e.chunk_bytes > ZarrArray::kReadBatchBytes ||
            cur.count >= ZarrArray::kMaxReadBatchChunks) {
          close();
        }
        ++cur.count;
        cur.bytes += e.chunk_bytes;
        if (!small) close();
      }
    }
    if (cur.count > 0) batches_.push_back(cur);
  }

  // Reads and decodes one batch on a worker; writes the chunks of the leaf
  // being read when its writer allows (see DirectWrites).
  Batch ReadBatch(const BatchSpan& span) {
    Batch out(span.count);
    std::vector<const Entry*> entry_of(span.count);
    std::vector<Shape> index_of(span.count);
    std::vector<std::string> keys(span.count);
    for (uint64_t k = 0; k < span.count; ++k) {
      const Entry& e = entries_[EntryOf(span.first + k)];
      entry_of[k] = &e;
      index_of[k] = zarr::GridIndex(e.grid, span.first + k - e.first);
      keys[k] = e.array->ChunkKey(index_of[k]);
    }
    // One ReadMany per run of chunks from the same store (every leaf of
    // an item shares one).
    std::vector<Result<Bytes>> stored;
    stored.reserve(span.count);
    for (uint64_t k = 0; k < span.count;) {
      const KvStore* store = entry_of[k]->array->store();
      uint64_t end = k + 1;
      while (end < span.count && entry_of[end]->array->store() == store) ++end;
      std::vector<std::string> run(std::make_move_iterator(keys.begin() + k),
                                   std::make_move_iterator(keys.begin() + end));
      for (Result<Bytes>& v : store->ReadMany(run)) stored.push_back(std::move(v));
      k = end;
    }
    for (uint64_t k = 0; k < span.count; ++k) {
      Decoded& d = out[k];
      const zarr::ZarrArray* array = entry_of[k]->array;
      Result<Bytes> chunk = array->DecodeStoredChunk(index_of[k], std::move(stored[k]), opts_);
      if (!chunk.ok()) {
        d.status = chunk.status();
        continue;
      }
      // The leaf's writer takes pieces from any thread: write the chunk
      // here, while it is in this core's cache.
      std::shared_lock lock(direct_mu_);
      if (direct_leaf_ == entry_of[k]->leaf && direct_out_ != nullptr) {
        const zarr::ArraySummary& sum = array->summary();
        d.status = zarr::ScatterChunk(sum.shape, sum.chunk_shape, index_of[k], SizeOf(sum.dtype),
                                      *chunk, *direct_out_);
        d.written = true;
        RecycleBytes(std::move(chunk).value());  // for this worker's next chunk
        continue;
      }
      d.data = std::move(chunk).value();
    }
    return out;
  }

  // The next chunk of the stream, from the current batch or the next one.
  Result<Decoded*> NextChunk() {
    if (batch_pos_ == batch_.size()) {
      Result<Batch> r = reader_->Next();
      if (!r.ok()) return r.status();
      batch_ = std::move(r).value();
      batch_pos_ = 0;
      if (batch_.empty()) return InternalError("empty read batch");
    }
    return &batch_[batch_pos_++];
  }

  size_t EntryOf(uint64_t task) const {
    // The last entry with tasks whose first task is <= task.
    size_t lo = 0, hi = entries_.size();
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (entries_[mid].first <= task)
        lo = mid;
      else
        hi = mid;
    }
    while (entries_[lo].tasks == 0 || entries_[lo].first + entries_[lo].tasks <= task) ++lo;
    return lo;
  }

  Status Read(size_t i, ArrayWriter& out) {
    // Skip the leaves before i (and what is left of a leaf read partly).
    while (next_ < entries_.size() && entries_[next_].leaf != i) {
      for (; taken_ < entries_[next_].tasks; ++taken_) {
        Result<Decoded*> r = NextChunk();
        if (!r.ok()) return r.status();
      }
      ++next_;
      taken_ = 0;
    }
    if (next_ == entries_.size()) return InternalError("leaf {} read out of the stream's order", i);
    const Entry& e = entries_[next_];
    if (!e.array) {
      ++next_;
      return item_.ReadLeaf(i, out);  // inline or no data: nothing to decode
    }
    const zarr::ArraySummary& sum = e.array->summary();
    const LeafRecord& leaf = item_.leaves()[i];
    if (e.stream) {
      zarr::ReadOptions stream_opts = opts_;
      stream_opts.threads = threads_;
      Status st = e.array->Read(out, stream_opts);
      if (!st.ok()) {
        return std::move(st).WithContext(fmt::format("leaf '{}' in {}", leaf.name(), store_));
      }
      ++next_;
      taken_ = 0;
      return Status::Ok();
    }
    DirectWrites direct(this, i, out);
    for (; taken_ < e.tasks;) {
      Result<Decoded*> r = NextChunk();
      if (!r.ok()) return r.status();
      const Shape index = zarr::GridIndex(e.grid, taken_++);
      Decoded& d = **r;
      Status st = d.status;
      if (st.ok() && !d.written) {
        st = zarr::ScatterChunk(sum.shape, sum.chunk_shape, index, SizeOf(sum.dtype), d.data, out);
      }
      d.data = Bytes();  // done with it
      if (!st.ok()) {
        return std::move(st).WithContext(fmt::format("leaf '{}' in {}", leaf.name(), store_));
      }
    }
    ++next_;
    taken_ = 0;
    return Status::Ok();
  }

  const PyTreeItem& item_;
  std::vector<size_t> order_;
  std::string store_;  // for messages
  int threads_;        // for streamed leaves
  std::vector<Entry> entries_;
  uint64_t count_ = 0;
  zarr::ReadOptions opts_;
  // The leaf whose writer workers may use (see DirectWrites).
  std::shared_mutex direct_mu_;
  size_t direct_leaf_ = kNoLeaf;
  ArrayWriter* direct_out_ = nullptr;
  std::vector<BatchSpan> batches_;
  Batch batch_;                                           // the batch being consumed
  size_t batch_pos_ = 0;                                  // its next chunk
  std::unique_ptr<OrderedPipelineReader<Batch>> reader_;  // last: stops first
  size_t next_ = 0;                                       // entry being read
  uint64_t taken_ = 0;                                    // its chunks taken from the reader
  Status error_;
};

LeafStream::LeafStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LeafStream::~LeafStream() = default;
Status LeafStream::ReadLeaf(size_t i, ArrayWriter& out) { return impl_->ReadLeaf(i, out); }

std::unique_ptr<LeafStream> PyTreeItem::StreamLeaves(std::vector<size_t> order, int threads) const {
  std::vector<const LeafSource*> sources;
  for (const auto& s : sources_) sources.push_back(s.get());
  return std::make_unique<LeafStream>(std::make_unique<LeafStream::Impl>(
      *this, std::move(order), threads, sources, missing_chunks_are_errors_,
      store_ ? store_->Describe() : dir_));
}

}  // namespace ockpt::orbax
