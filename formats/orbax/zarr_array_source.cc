// The random-access source over a zarr array: chunk cache, streamed-chunk
// cursors and prefetching of the next chunks on workers.

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "formats/orbax/leaf_source.h"
#include "formats/zarr/chunk_layout.h"
#include "lib/base/thread_pool.h"

namespace ockpt::orbax {

namespace {

// Serves C-order byte ranges of a zarr array by decoding the chunks they
// touch; keeps the most recently used chunks up to a byte budget. With
// options.threads != 1, each chunk read also starts decoding the next few
// chunks of the grid on workers of its own, so that sequential readers
// (convert, diff, verify, re-layout saves) decode in parallel.
class ZarrArraySource final : public ArraySource {
 public:
  ZarrArraySource(const zarr::ZarrArray* array, zarr::ReadOptions options)
      : array_(array), options_(options) {
    const zarr::ArraySummary& s = array->summary();
    shape_ = s.shape;
    chunk_ = s.chunk_shape;
    elem_ = SizeOf(s.dtype);
    size_ = static_cast<uint64_t>(NumElements(shape_)) * elem_;
    // Contiguous runs may cross rows when chunks are exactly the array's
    // trailing dims (a chunk wider than the array pads its rows, so its row
    // stride is not the array's).
    full_trailing_ = true;
    for (size_t d = 1; d < shape_.size(); ++d) {
      if (chunk_[d] != shape_[d]) full_trailing_ = false;
    }
    stream_ = array->StreamsChunks(options_);
    grid_ = array->ChunkGridShape();
    chunks_ = zarr::NumChunks(grid_);
    const int threads = ResolveThreads(options_.threads);
    const uint64_t chunk_bytes = std::max<uint64_t>(array->ChunkBytes(), 1);
    if (!stream_ && threads > 1 && chunks_ > 1) {
      // Ahead: two read batches (ZarrArray::ReadChunks) per worker, within
      // kPrefetchBytes (encoded + decoded) beside the cache.
      batch_ = std::max<uint64_t>(array->ReadBatchSize(), 1);
      prefetch_ = static_cast<size_t>(
          std::min<uint64_t>({uint64_t{2} * static_cast<uint64_t>(threads) * batch_,
                              kPrefetchBytes / (2 * chunk_bytes), chunks_ - 1}));
      if (prefetch_ > 0) pool_ = std::make_unique<ThreadPool>(threads);
    }
  }
  ~ZarrArraySource() override {
    // Waits for decodes in flight (they only touch their Pending).
    pool_.reset();
  }
  uint64_t size() const override { return size_; }

  Status ReadAt(uint64_t offset, size_t n, char* dst) const override {
    if (offset % elem_ != 0 || n % elem_ != 0 || offset > size_ || n > size_ - offset) {
      return InternalError("misaligned or out-of-range read of {} bytes at {}", n, offset);
    }
    const size_t rank = shape_.size();
    uint64_t pos = offset / elem_;
    uint64_t end = (offset + n) / elem_;
    while (pos < end) {
      // Multi-dimensional index of pos, its chunk, and the index inside it.
      Shape idx(rank), cidx(rank), inner(rank);
      uint64_t rem = pos;
      for (size_t d = rank; d-- > 0;) {
        idx[d] = static_cast<int64_t>(rem % static_cast<uint64_t>(shape_[d]));
        rem /= static_cast<uint64_t>(shape_[d]);
        cidx[d] = idx[d] / chunk_[d];
        inner[d] = idx[d] % chunk_[d];
      }
      uint64_t run;
      uint64_t inner_off = 0;
      for (size_t d = 0; d < rank; ++d) inner_off = inner_off * chunk_[d] + inner[d];
      if (rank == 0) {
        run = 1;
      } else if (full_trailing_) {
        // To the end of this chunk along dim 0 (rows beyond the array are padding).
        int64_t rows_left = std::min<int64_t>(chunk_[0] - inner[0], shape_[0] - idx[0]);
        uint64_t row_elems =
            static_cast<uint64_t>(NumElements(Shape(shape_.begin() + 1, shape_.end())));
        uint64_t in_row = pos % std::max<uint64_t>(row_elems, 1);
        run = static_cast<uint64_t>(rows_left) * row_elems - in_row;
      } else {
        run = static_cast<uint64_t>(std::min<int64_t>(chunk_[rank - 1] - inner[rank - 1],
                                                      shape_[rank - 1] - idx[rank - 1]));
      }
      run = std::min(run, end - pos);
      if (stream_) {
        OCKPT_RETURN_IF_ERROR(ReadStreamed(cidx, inner_off * elem_, run * elem_, dst));
      } else {
        OCKPT_ASSIGN_OR_RETURN(const Bytes* chunk, Chunk(cidx));
        std::memcpy(dst, chunk->data() + inner_off * elem_, run * elem_);
      }
      dst += run * elem_;
      pos += run;
    }
    return Status::Ok();
  }

 private:
  // A chunk decoded ahead on a worker.
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<Bytes>> result;
  };

  uint64_t Linear(const Shape& cidx) const {
    uint64_t l = 0;
    for (size_t d = 0; d < cidx.size(); ++d)
      l = l * static_cast<uint64_t>(grid_[d]) + static_cast<uint64_t>(cidx[d]);
    return l;
  }
  Shape GridIndex(uint64_t l) const { return zarr::GridIndex(grid_, l); }
  bool Cached(uint64_t l) const {
    for (const auto& e : cache_) {
      if (e.first == l) return true;
    }
    return false;
  }

  // Starts decoding the chunks after l (grid order) that are neither
  // cached nor in flight; forgets chunks before l still in flight (a reader
  // that skipped them).
  void Prefetch(uint64_t l) const {
    if (!pool_) return;
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = it->first < l ? pending_.erase(it) : std::next(it);
    }
    // Consecutive chunks go to one worker in batches of up to batch_ (their
    // stored values are read together).
    std::vector<std::shared_ptr<Pending>> group;
    std::vector<Shape> indices;
    auto submit = [&] {
      if (group.empty()) return;
      pool_->Submit([group = std::move(group), indices = std::move(indices), array = array_,
                     options = options_] {
        // One read for the batch; each chunk is handed over as soon as it
        // is decoded.
        array->ReadChunks(indices, options, [&group](size_t j, Result<Bytes> r) {
          std::lock_guard lock(group[j]->mu);
          group[j]->result.emplace(std::move(r));
          group[j]->cv.notify_all();
        });
      });
      group.clear();
      indices.clear();
    };
    uint64_t group_first = 0, k = l + 1;
    for (; k <= l + prefetch_ && k < chunks_; ++k) {
      if (pending_.count(k) != 0 || Cached(k)) {
        submit();
        continue;
      }
      auto p = std::make_shared<Pending>();
      pending_.emplace(k, p);
      if (group.empty()) group_first = k;
      group.push_back(std::move(p));
      indices.push_back(GridIndex(k));
      if (group.size() >= batch_) submit();
    }
    // A partial batch at the window's end waits for the window to move on
    // (so that batches stay whole), unless it is needed next or ends the
    // array.
    if (!group.empty() && group_first != l + 1 && k != chunks_) {
      for (uint64_t j = group_first; j < group_first + group.size(); ++j) pending_.erase(j);
      group.clear();
      indices.clear();
    }
    submit();
  }

  Result<const Bytes*> Chunk(const Shape& cidx) const {
    const uint64_t l = Linear(cidx);
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (it->first == l) {
        cache_.splice(cache_.begin(), cache_, it);
        Prefetch(l);
        return &cache_.front().second;
      }
    }
    std::optional<Result<Bytes>> data;
    auto pending = pending_.find(l);
    if (pending != pending_.end()) {
      std::shared_ptr<Pending> p = pending->second;
      pending_.erase(pending);
      std::unique_lock lock(p->mu);
      p->cv.wait(lock, [&] { return p->result.has_value(); });
      data.emplace(std::move(*p->result));
    } else {
      data.emplace(array_->ReadChunk(cidx, options_));
    }
    Prefetch(l);
    if (!data->ok()) return data->status();
    cached_bytes_ += (*data)->size();
    cache_.emplace_front(l, std::move(**data));
    // Chunks spanning the trailing dimensions are read once each by a
    // sequential reader: keep only the latest. Tiles are revisited row by
    // row across a band of the grid: keep up to kCacheBytes.
    const uint64_t budget = full_trailing_ ? 0 : kCacheBytes;
    while (cache_.size() > 1 && cached_bytes_ > budget) {
      cached_bytes_ -= cache_.back().second.size();
      cache_.pop_back();
    }
    return &cache_.front().second;
  }

  // Streamed chunks (huge or uncompressed, see zarr::ReadOptions) are read
  // through a few cursors that only move forward: sequential reads, and
  // reads that walk a few regions of a chunk side by side, decode each
  // byte once; a read behind every cursor starts a new one.
  struct Cursor {
    Shape chunk;
    std::unique_ptr<zarr::ChunkReader> reader;
    uint64_t last_use = 0;
  };
  Status ReadStreamed(const Shape& cidx, uint64_t at, uint64_t n, char* dst) const {
    Cursor* best = nullptr;
    for (Cursor& c : cursors_) {
      if (c.chunk == cidx && c.reader->position() <= at &&
          (best == nullptr || c.reader->position() > best->reader->position())) {
        best = &c;
      }
    }
    if (best == nullptr) {
      if (cursors_.size() >= kMaxCursors) {
        auto lru = std::min_element(
            cursors_.begin(), cursors_.end(),
            [](const Cursor& a, const Cursor& b) { return a.last_use < b.last_use; });
        cursors_.erase(lru);
      }
      OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<zarr::ChunkReader> reader,
                             array_->OpenChunkReader(cidx, options_));
      cursors_.push_back(Cursor{cidx, std::move(reader), 0});
      best = &cursors_.back();
    }
    best->last_use = ++clock_;
    OCKPT_RETURN_IF_ERROR(best->reader->Skip(at - best->reader->position()));
    return best->reader->Read(dst, n);
  }

  static constexpr uint64_t kCacheBytes = uint64_t{256} << 20;
  static constexpr uint64_t kPrefetchBytes = uint64_t{64} << 20;
  static constexpr size_t kMaxCursors = 4;
  const zarr::ZarrArray* array_;
  zarr::ReadOptions options_;
  Shape shape_, chunk_;
  size_t elem_ = 1;
  uint64_t size_ = 0;
  bool full_trailing_ = true;
  bool stream_ = false;
  mutable std::vector<Cursor> cursors_;
  mutable uint64_t clock_ = 0;
  mutable std::list<std::pair<uint64_t, Bytes>> cache_;  // by linear chunk index
  mutable uint64_t cached_bytes_ = 0;
  Shape grid_;
  uint64_t chunks_ = 0;
  size_t prefetch_ = 0;  // chunks decoded ahead
  uint64_t batch_ = 1;   // chunks per prefetch task
  mutable std::map<uint64_t, std::shared_ptr<Pending>> pending_;
  std::unique_ptr<ThreadPool> pool_;  // last: its workers stop first
};

}  // namespace

std::unique_ptr<ArraySource> NewZarrArraySource(const zarr::ZarrArray* array, zarr::ReadOptions options) {
  return std::make_unique<ZarrArraySource>(array, options);
}

}  // namespace ockpt::orbax
