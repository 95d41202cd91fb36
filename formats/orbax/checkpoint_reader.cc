// Checkpoint discovery and PyTree item metadata.

#include "formats/orbax/checkpoint_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>

#include "formats/orbax/json_files.h"
#include "formats/orbax/layout.h"
#include "formats/orbax/legacy_msgpack.h"
#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/chunk_layout.h"
#include "formats/zarr/zarr_array.h"
#include "lib/base/base64.h"
#include "lib/base/file.h"
#include "lib/base/thread_pool.h"

namespace ockpt::orbax {

// Where a leaf's values come from.
struct PyTreeItem::LeafSource {
  enum class Kind { kNone, kZarr, kInline } kind = Kind::kNone;
  std::optional<zarr::ZarrArray> array;
  Bytes inline_data;
};

PyTreeItem::~PyTreeItem() = default;

namespace {

std::string P(std::string_view dir, std::string_view name) { return JoinPath(dir, name); }

bool HasProcessDir(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (n.rfind(kProcessDirPrefix, 0) == 0 && IsDirectory(P(dir, n))) return true;
  }
  return false;
}

bool HasZarrSubdir(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    std::string sub = P(dir, n);
    if (IsRegularFile(P(sub, ".zarray")) || IsRegularFile(P(sub, "zarr.json"))) return true;
  }
  return false;
}

Result<Json> ReadJsonFile(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(path, uint64_t{1} << 30));
  auto j = ParseJson(text);
  if (!j.ok()) return std::move(j).WithContext(path);
  return j;
}

KeyPath KeyPathFromName(std::string_view name) {
  KeyPath kp;
  if (name.empty()) return kp;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    kp.push_back({std::string(name.substr(start, dot - start)), KeyType::kDict});
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return kp;
}

std::string ArrayPrefix(const std::string& name) { return name.empty() ? "" : name + "/"; }

bool IsZarrMetadataKey(std::string_view key) {
  auto ends = [&](std::string_view s) {
    return key.size() >= s.size() && key.substr(key.size() - s.size()) == s &&
           (key.size() == s.size() || key[key.size() - s.size() - 1] == '/');
  };
  return ends(".zarray") || ends("zarr.json") || ends(".zattrs") || ends(".zgroup");
}

}  // namespace

Result<std::unique_ptr<PyTreeItem>> PyTreeItem::Open(const std::string& dir) {
  if (!IsDirectory(dir)) return NotFoundError("{} is not a directory", dir);
  std::unique_ptr<PyTreeItem> item(new PyTreeItem());
  item->dir_ = dir;
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));

  // _METADATA (optional).
  std::optional<TreeMetadata> tm;
  std::string tm_path = P(dir, kTreeMetadataFile);
  if (IsRegularFile(tm_path)) {
    OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(tm_path, uint64_t{1} << 30));
    auto decoded = DecodeTreeMetadata(text);
    if (!decoded.ok()) return std::move(decoded).status().WithContext(tm_path);
    tm = std::move(decoded).value();
    item->has_tree_metadata_ = true;
    item->custom_metadata_ = tm->custom_metadata;
    item->missing_chunks_are_errors_ = tm->store_array_data_equal_to_fill_value;
  }

  // Legacy msgpack aggregate (optional).
  std::optional<std::vector<LegacyLeaf>> legacy;
  std::string msgpack_path = P(dir, kLegacyMsgpackFile);
  if (IsRegularFile(msgpack_path)) {
    OCKPT_ASSIGN_OR_RETURN(Bytes data, ReadFile(msgpack_path, uint64_t{1} << 34));
    auto decoded = DecodeLegacyMsgpack(data);
    if (!decoded.ok()) return std::move(decoded).status().WithContext(msgpack_path);
    legacy = std::move(decoded).value();
  }

  // Storage: the root OCDBT database, else per-leaf zarr directories.
  bool has_manifest = IsRegularFile(P(dir, kManifestFile));
  bool want_ocdbt = (tm && tm->use_ocdbt.value_or(false)) || HasProcessDir(dir, names);
  if (has_manifest) {
    auto store = ocdbt::OcdbtKvStore::Open(dir);
    if (!store.ok())
      return std::move(store).status().WithContext(
          fmt::format("opening OCDBT database in {}", dir));
    item->store_ = std::move(store).value();
    item->ocdbt_ = true;
  } else if (want_ocdbt) {
    return DataLossError(
        "{} is missing: this item was written with OCDBT and its arrays cannot be read",
        P(dir, kManifestFile));
  } else {
    item->store_ = std::make_unique<FileKvStore>(dir);
  }

  // Keys of the store, for structure without _METADATA and stored sizes.
  OCKPT_ASSIGN_OR_RETURN(std::vector<KeyInfo> keys, item->store_->List(""));
  if (!item->ocdbt_) {
    // Per-leaf zarr dirs sit beside our own metadata files; ignore those.
    std::erase_if(keys, [](const KeyInfo& k) { return k.key.find('/') == std::string::npos; });
  }

  // Leaf list.
  std::map<std::string, const LegacyLeaf*> legacy_by_name;
  if (legacy) {
    for (const LegacyLeaf& l : *legacy) legacy_by_name[DottedName(l.keypath)] = &l;
  }
  if (tm) {
    for (const TreeMetadataEntry& e : tm->entries) {
      LeafRecord r;
      r.keypath = e.keypath;
      r.value_type = e.value_type;
      r.write_shape = e.write_shape;
      item->leaves_.push_back(std::move(r));
    }
  } else if (legacy) {
    for (const LegacyLeaf& l : *legacy) {
      LeafRecord r;
      r.keypath = l.keypath;
      switch (l.kind) {
        case LegacyLeaf::Kind::kString:
          r.value_type = std::string(kString);
          break;
        case LegacyLeaf::Kind::kNone:
          r.value_type = "None";
          break;
        case LegacyLeaf::Kind::kEmptyDict:
          r.value_type = "Dict";
          break;
        case LegacyLeaf::Kind::kEmptyList:
          r.value_type = "List";
          break;
        default:
          r.value_type = std::string(kNpArray);
          break;
      }
      item->leaves_.push_back(std::move(r));
    }
  } else {
    for (const KeyInfo& k : keys) {
      std::string_view key = k.key;
      std::string_view name;
      if (key == ".zarray" || key == "zarr.json") {
        name = "";
      } else if (key.size() > 8 && key.substr(key.size() - 8) == "/.zarray") {
        name = key.substr(0, key.size() - 8);
      } else if (key.size() > 10 && key.substr(key.size() - 10) == "/zarr.json") {
        name = key.substr(0, key.size() - 10);
      } else {
        continue;
      }
      // A zarr3 chunk key never ends in zarr.json, but nested names could.
      if (name.find('/') != std::string_view::npos) continue;
      LeafRecord r;
      r.keypath = KeyPathFromName(name);
      r.value_type = std::string(kNpArray);
      item->leaves_.push_back(std::move(r));
    }
    if (item->leaves_.empty()) {
      return NotFoundError("{} holds no _METADATA and no arrays", dir);
    }
  }
  SortLeaves(&item->leaves_);

  // _sharding and _strings.json.
  Json sharding, strings;
  std::string sharding_path = P(dir, kShardingFile);
  if (IsRegularFile(sharding_path)) {
    auto j = ReadJsonFile(sharding_path);
    Status s = j.ok() ? CheckShardingJson(*j, sharding_path, /*deep=*/false) : j.status();
    if (s.ok()) {
      sharding = std::move(j).value();
    } else {
      item->warnings_.push_back(fmt::format("{} (sharding left out)", s.message()));
    }
  }
  for (std::string& w : CheckArrayMetadatasDir(dir)) item->warnings_.push_back(std::move(w));
  std::string strings_path = P(dir, kStringsFile);
  if (IsRegularFile(strings_path)) {
    auto j = ReadJsonFile(strings_path);
    if (j.ok() && j->is_object()) {
      strings = std::move(j).value();
    } else {
      item->warnings_.push_back(fmt::format(
          "{} (string values left out)",
          j.ok() ? fmt::format("{}: expected a JSON object", strings_path) : std::string(j.status().message())));
    }
  }

  // Stored bytes per array prefix, from the one listing above.
  std::map<std::string, uint64_t, std::less<>> stored;
  for (const KeyInfo& k : keys) {
    if (IsZarrMetadataKey(k.key)) continue;
    size_t slash = k.key.find('/');
    std::string prefix = slash == std::string::npos ? "" : k.key.substr(0, slash);
    stored[prefix] += k.size;
  }

  // Per leaf: where its data is, and dtype / shape / chunks.
  std::optional<int> zarr_format;
  for (LeafRecord& r : item->leaves_) {
    auto src = std::make_unique<LeafSource>();
    std::string name = r.name();
    auto note_error = [&](const Status& s) {
      if (item->leaf_error_.ok()) item->leaf_error_ = s;
    };
    if (!sharding.is_null()) {
      std::string key = Base64Encode(name, /*url_safe=*/true);
      if (sharding.contains(key) && sharding[key].is_string()) {
        auto sj = ParseJson(sharding[key].get<std::string>());
        if (sj.ok()) r.sharding = std::move(sj).value();
      }
    }
    const LegacyLeaf* legacy_leaf = nullptr;
    if (auto it = legacy_by_name.find(name); it != legacy_by_name.end()) legacy_leaf = it->second;

    if (r.value_type == kString) {
      if (strings.is_object() && strings.contains(name) && strings[name].is_string()) {
        r.string_value = strings[name].get<std::string>();
      } else if (legacy_leaf && legacy_leaf->kind == LegacyLeaf::Kind::kString) {
        r.string_value = legacy_leaf->text;
      }
    } else if (IsEmptyNodeType(r.value_type) &&
               !(legacy_leaf && legacy_leaf->kind == LegacyLeaf::Kind::kInlineArray)) {
      // No data.
    } else if (legacy_leaf && legacy_leaf->kind == LegacyLeaf::Kind::kInlineArray) {
      src->kind = LeafSource::Kind::kInline;
      src->inline_data = legacy_leaf->data;
      r.dtype = legacy_leaf->dtype;
      r.shape = legacy_leaf->shape;
      r.stored_bytes = legacy_leaf->data.size();
      if (r.value_type == "Unknown" || IsEmptyNodeType(r.value_type))
        r.value_type = std::string(kNpArray);
    } else if (legacy_leaf && (legacy_leaf->kind == LegacyLeaf::Kind::kString ||
                               legacy_leaf->kind == LegacyLeaf::Kind::kNone ||
                               legacy_leaf->kind == LegacyLeaf::Kind::kEmptyDict ||
                               legacy_leaf->kind == LegacyLeaf::Kind::kEmptyList)) {
      // Legacy non-array value under an array-typed _METADATA entry.
    } else {
      std::string prefix = ArrayPrefix(name);
      Result<zarr::ZarrArray> array = Status(StatusCode::kNotFound, "");
      if (legacy_leaf && legacy_leaf->kind == LegacyLeaf::Kind::kZarrSpec) {
        prefix = legacy_leaf->zarr_path;
        array = zarr::ZarrArray::OpenWithMetadata(item->store_.get(), prefix,
                                                  legacy_leaf->zarray_json, 2);
      } else {
        if (legacy_leaf && legacy_leaf->kind == LegacyLeaf::Kind::kPlaceholder)
          prefix = legacy_leaf->zarr_path;
        array = zarr::ZarrArray::Open(item->store_.get(), prefix);
      }
      if (!array.ok()) {
        note_error(std::move(array).status().WithContext(fmt::format(
            "leaf '{}': zarr metadata under '{}' in {}", name, prefix, item->store_->Describe())));
      } else {
        const zarr::ArraySummary& s = array->summary();
        r.dtype = s.dtype;
        r.shape = s.shape;
        r.chunk_shape = s.chunk_shape;
        r.compressor = s.compressor;
        std::string stored_key = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
        auto it = stored.find(stored_key);
        r.stored_bytes = it == stored.end() ? 0 : it->second;
        if (!zarr_format) zarr_format = s.zarr_format;
        src->kind = LeafSource::Kind::kZarr;
        src->array = std::move(array).value();
      }
    }
    item->sources_.push_back(std::move(src));
  }
  if (tm) {
    item->zarr_format_ = tm->use_zarr3 ? 3 : 2;
  } else {
    item->zarr_format_ = zarr_format;
  }
  return item;
}

Status PyTreeItem::ReadLeaf(size_t i, ArrayWriter& out, int threads) const {
  if (i >= leaves_.size()) return InternalError("leaf index {} out of range", i);
  const LeafSource& src = *sources_[i];
  const LeafRecord& leaf = leaves_[i];
  switch (src.kind) {
    case LeafSource::Kind::kInline:
      return out.WriteAt(0, src.inline_data);
    case LeafSource::Kind::kZarr: {
      zarr::ReadOptions opts;
      opts.missing_chunks_are_errors = missing_chunks_are_errors_;
      opts.threads = threads;
      return src.array->Read(out, opts).WithContext(
          fmt::format("leaf '{}' in {}", leaf.name(), store_->Describe()));
    }
    case LeafSource::Kind::kNone:
      break;
  }
  if (!leaf_error_.ok() && !leaf.HasArrayData()) return leaf_error_;
  return NotFoundError("leaf '{}' in {} has no array data", leaf.name(), dir_);
}

PyTreeItem::ReadPlan PyTreeItem::LeafReadPlan(size_t i) const {
  ReadPlan plan;
  if (i >= sources_.size()) return plan;
  const LeafSource& src = *sources_[i];
  if (src.kind == LeafSource::Kind::kInline) {
    plan.chunks = 1;
    plan.chunk_bytes = src.inline_data.size();
  } else if (src.kind == LeafSource::Kind::kZarr) {
    plan.chunks = zarr::NumChunks(src.array->ChunkGridShape());
    plan.streamed = src.array->StreamsChunks(zarr::ReadOptions{});
    plan.chunk_bytes = src.array->ChunkBytes();
  }
  return plan;
}

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
    // Contiguous runs may cross rows when chunks cover whole trailing dims.
    full_trailing_ = true;
    for (size_t d = 1; d < shape_.size(); ++d) {
      if (chunk_[d] < shape_[d]) full_trailing_ = false;
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

Result<std::unique_ptr<ArraySource>> PyTreeItem::OpenLeafSource(size_t i, int threads) const {
  if (i >= leaves_.size()) return InternalError("leaf index {} out of range", i);
  const LeafSource& src = *sources_[i];
  switch (src.kind) {
    case LeafSource::Kind::kInline:
      return std::unique_ptr<ArraySource>(new MemoryArraySource(src.inline_data));
    case LeafSource::Kind::kZarr: {
      zarr::ReadOptions opts;
      opts.missing_chunks_are_errors = missing_chunks_are_errors_;
      opts.threads = threads;
      return std::unique_ptr<ArraySource>(new ZarrArraySource(&*src.array, opts));
    }
    case LeafSource::Kind::kNone:
      break;
  }
  if (!leaf_error_.ok()) return leaf_error_;
  return NotFoundError("leaf '{}' in {} has no array data", leaves_[i].name(), dir_);
}

// --- LeafStream ---

class LeafStream::Impl {
 public:
  Impl(const PyTreeItem& item, std::vector<size_t> order, int threads,
       const std::vector<const PyTreeItem::LeafSource*>& sources, bool missing_chunks_are_errors,
       std::string store)
      : item_(item), order_(std::move(order)), store_(std::move(store)) {
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
        // Streamed chunks (huge or uncompressed) are decoded on the calling
        // thread as they are written: they take no pipeline task.
        e.stream = e.array->StreamsChunks(opts_);
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
      for (uint64_t c = 0; c < e.chunks; ++c) {
        Status st = e.array->StreamChunk(zarr::GridIndex(e.grid, c), out, opts_);
        if (!st.ok()) {
          return std::move(st).WithContext(fmt::format("leaf '{}' in {}", leaf.name(), store_));
        }
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

// --- Discovery ---

std::string_view PathKindName(PathKind kind) {
  switch (kind) {
    case PathKind::kItem:
      return "item";
    case PathKind::kCheckpoint:
      return "checkpoint";
    case PathKind::kRoot:
      return "root";
  }
  return "?";
}

std::string_view ItemKindName(ItemKind kind) {
  switch (kind) {
    case ItemKind::kPyTree:
      return "pytree";
    case ItemKind::kJson:
      return "json";
    case ItemKind::kOpaque:
      return "opaque";
  }
  return "?";
}

bool IsTmpName(std::string_view name) { return name.find(kTmpSuffix) != std::string_view::npos; }

std::optional<int64_t> ParseStepName(std::string_view name) {
  if (IsTmpName(name)) return std::nullopt;
  size_t us = name.rfind('_');
  std::string_view digits = us == std::string_view::npos ? name : name.substr(us + 1);
  if (us != std::string_view::npos && us == 0) return std::nullopt;
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool LooksLikeItem(const std::string& dir) {
  if (!IsDirectory(dir)) return false;
  if (IsRegularFile(P(dir, kTreeMetadataFile)) || IsRegularFile(P(dir, kManifestFile)) ||
      IsRegularFile(P(dir, kLegacyMsgpackFile))) {
    return true;
  }
  auto names = ListDirectory(dir);
  if (!names.ok()) return false;
  return HasProcessDir(dir, *names) || HasZarrSubdir(dir, *names);
}

namespace {

// The JSON file of a JSON item, or "" (one of: metadata, data.json, <dir name>).
std::string JsonItemFile(const std::string& dir) {
  auto names = ListDirectory(dir);
  if (!names.ok()) return "";
  std::string base = Basename(dir);
  std::string found;
  for (const std::string& n : *names) {
    if (n == kCommitSuccessFile) continue;
    if ((n == "metadata" || n == "data.json" || n == base) && IsRegularFile(P(dir, n))) {
      if (!found.empty()) return "";
      found = n;
    } else {
      return "";
    }
  }
  return found;
}

}  // namespace

bool LooksLikeCheckpoint(const std::string& dir) {
  if (!IsDirectory(dir)) return false;
  if (IsRegularFile(P(dir, kCheckpointMetadataFile))) return true;
  if (LooksLikeItem(dir)) return false;
  auto names = ListDirectory(dir);
  if (!names.ok()) return false;
  bool any_pytree = false;
  for (const auto& n : *names) {
    std::string sub = P(dir, n);
    if (!IsDirectory(sub) || IsTmpName(n)) continue;
    if (ParseStepName(n) && LooksLikeCheckpoint(sub)) return false;  // a root
    if (LooksLikeItem(sub)) any_pytree = true;
  }
  return any_pytree || IsRegularFile(P(dir, kV1IndicatorFile));
}

Result<std::vector<StepName>> ListCommittedSteps(const std::string& root) {
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(root));
  std::vector<StepName> steps;
  for (const std::string& n : names) {
    auto step = ParseStepName(n);
    if (!step) continue;
    std::string sub = P(root, n);
    if (!IsDirectory(sub)) continue;
    if (!IsRegularFile(P(sub, kCheckpointMetadataFile)) && !LooksLikeCheckpoint(sub) &&
        !LooksLikeItem(sub)) {
      continue;
    }
    steps.push_back({*step, n});
  }
  std::sort(steps.begin(), steps.end(), [](const StepName& a, const StepName& b) {
    return a.step != b.step ? a.step < b.step : a.name < b.name;
  });
  return steps;
}

bool LooksLikeRoot(const std::string& dir) {
  if (!IsDirectory(dir) || IsRegularFile(P(dir, kCheckpointMetadataFile)) || LooksLikeItem(dir))
    return false;
  auto steps = ListCommittedSteps(dir);
  return steps.ok() && !steps->empty();
}

namespace {

Json HandlerFor(const Json& checkpoint_metadata, const std::string& item) {
  if (!checkpoint_metadata.is_object() || !checkpoint_metadata.contains("item_handlers"))
    return nullptr;
  const Json& h = checkpoint_metadata["item_handlers"];
  if (h.is_string()) return item.empty() ? h : Json(nullptr);
  if (h.is_object() && h.contains(item)) return h[item];
  return nullptr;
}

ItemEntry OpenPyTreeEntry(std::string name, std::string dir) {
  ItemEntry e;
  e.name = std::move(name);
  e.kind = ItemKind::kPyTree;
  e.dir = std::move(dir);
  auto item = PyTreeItem::Open(e.dir);
  if (item.ok()) {
    e.pytree = std::move(item).value();
  } else {
    e.error = item.status();
  }
  return e;
}

Status OpenCheckpointDir(const std::string& dir, const OpenOptions& options, Checkpoint* ckpt) {
  ckpt->dir = dir;
  std::string md_path = P(dir, kCheckpointMetadataFile);
  if (IsRegularFile(md_path)) {
    auto j = ReadJsonFile(md_path);
    if (j.ok()) {
      ckpt->checkpoint_metadata = std::move(j).value();
    } else {
      return j.status();
    }
  }
  if (LooksLikeItem(dir)) {
    if (options.item && !options.item->empty()) {
      return NotFoundError("{} holds a single unnamed item, not '{}'", dir, *options.item);
    }
    ItemEntry e = OpenPyTreeEntry("", dir);
    e.handler = HandlerFor(ckpt->checkpoint_metadata, "");
    if (!e.pytree) return e.error;
    ckpt->items.push_back(std::move(e));
    return Status::Ok();
  }
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(dir));
  for (const std::string& n : names) {
    std::string sub = P(dir, n);
    if (!IsDirectory(sub) || IsTmpName(n) || n.empty() || n[0] == '.') continue;
    if (options.item && *options.item != n) continue;
    ItemEntry e;
    if (LooksLikeItem(sub)) {
      e = OpenPyTreeEntry(n, sub);
    } else if (std::string f = JsonItemFile(sub); !f.empty()) {
      e.name = n;
      e.dir = sub;
      auto j = ReadJsonFile(P(sub, f));
      if (j.ok()) {
        e.kind = ItemKind::kJson;
        e.json_value = std::move(j).value();
        e.json_file = P(sub, f);
      } else {
        e.kind = ItemKind::kOpaque;
      }
    } else {
      e.name = n;
      e.dir = sub;
      e.kind = ItemKind::kOpaque;
    }
    e.handler = HandlerFor(ckpt->checkpoint_metadata, n);
    ckpt->items.push_back(std::move(e));
  }
  if (options.item && ckpt->items.empty()) {
    return NotFoundError("{} has no item '{}'", dir, *options.item);
  }
  return Status::Ok();
}

}  // namespace

Result<Checkpoint> OpenCheckpoint(const std::string& path, const OpenOptions& options) {
  Checkpoint ckpt;
  ckpt.path = path;
  if (!PathExists(path)) return NotFoundError("{} does not exist", path);
  if (!IsDirectory(path)) return NotFoundError("{} is not a checkpoint directory", path);
  if (LooksLikeRoot(path)) {
    ckpt.kind = PathKind::kRoot;
    OCKPT_ASSIGN_OR_RETURN(std::vector<StepName> steps, ListCommittedSteps(path));
    const StepName* chosen = nullptr;
    if (options.step) {
      for (const StepName& s : steps) {
        if (s.step == *options.step) chosen = &s;
      }
      if (!chosen) return NotFoundError("{} has no committed step {}", path, *options.step);
    } else {
      chosen = &steps.back();
    }
    ckpt.step = chosen->step;
    std::string root_md = P(P(path, kRootMetadataDir), kRootMetadataFile);
    if (IsRegularFile(root_md)) {
      auto j = ReadJsonFile(root_md);
      if (j.ok()) ckpt.root_metadata = std::move(j).value();
    }
    OCKPT_RETURN_IF_ERROR(OpenCheckpointDir(P(path, chosen->name), options, &ckpt));
    return ckpt;
  }
  if (options.step) {
    return NotFoundError("{} is not a manager root, so --step {} does not apply", path,
                         *options.step);
  }
  if (LooksLikeItem(path)) {
    ckpt.kind =
        IsRegularFile(P(path, kCheckpointMetadataFile)) ? PathKind::kCheckpoint : PathKind::kItem;
    OCKPT_RETURN_IF_ERROR(OpenCheckpointDir(path, options, &ckpt));
    return ckpt;
  }
  if (LooksLikeCheckpoint(path)) {
    ckpt.kind = PathKind::kCheckpoint;
    OCKPT_RETURN_IF_ERROR(OpenCheckpointDir(path, options, &ckpt));
    return ckpt;
  }
  return NotFoundError(
      "{} is not an Orbax checkpoint (no _CHECKPOINT_METADATA, _METADATA, "
      "manifest.ocdbt, item directories or steps)",
      path);
}

}  // namespace ockpt::orbax
