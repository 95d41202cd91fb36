// PyTreeItem: one item's metadata (_METADATA, _sharding, _strings.json, the
// legacy msgpack file, zarr metadata) and reads of its leaves.

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "formats/ocdbt/ocdbt_kvstore.h"
#include "formats/orbax/json_files.h"
#include "formats/orbax/layout.h"
#include "formats/orbax/leaf_source.h"
#include "formats/orbax/legacy_msgpack.h"
#include "formats/orbax/locator.h"
#include "formats/orbax/side_json.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/chunk_layout.h"
#include "lib/base/base64.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

PyTreeItem::~PyTreeItem() = default;

namespace {

std::string P(std::string_view dir, std::string_view name) { return JoinPath(dir, name); }

bool HasProcessDir(const std::string& dir, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (n.rfind(kProcessDirPrefix, 0) == 0 && IsDirectory(P(dir, n))) return true;
  }
  return false;
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
  return OpenImpl(dir, "");
}

Result<std::unique_ptr<PyTreeItem>> PyTreeItem::OpenMsgpackFile(const std::string& path) {
  if (!IsRegularFile(path)) return NotFoundError("{} is not a file", path);
  return OpenImpl(Dirname(path), path);
}

// With msgpack_file set, the item is that one file: no side files, no
// listing of its directory (which is not the item's), inline arrays.
Result<std::unique_ptr<PyTreeItem>> PyTreeItem::OpenImpl(const std::string& dir,
                                                         const std::string& msgpack_file) {
  const bool file_item = !msgpack_file.empty();
  std::unique_ptr<PyTreeItem> item(new PyTreeItem());
  item->dir_ = file_item ? msgpack_file : dir;
  std::vector<std::string> names;
  if (!file_item) {
    OCKPT_ASSIGN_OR_RETURN(names, ListDirectory(dir));
  }

  // _METADATA (optional).
  std::optional<TreeMetadata> tm;
  std::string tm_path = P(dir, kTreeMetadataFile);
  if (!file_item && IsRegularFile(tm_path)) {
    OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFileConfined(tm_path, uint64_t{1} << 30));
    auto decoded = DecodeTreeMetadata(text);
    if (!decoded.ok()) return std::move(decoded).status().WithContext(tm_path);
    tm = std::move(decoded).value();
    item->has_tree_metadata_ = true;
    item->custom_metadata_ = tm->custom_metadata;
    item->tree_metadata_extras_ = tm->extras;
    item->missing_chunks_are_errors_ = tm->store_array_data_equal_to_fill_value;
  }

  // Legacy msgpack aggregate (optional).
  std::optional<std::vector<LegacyLeaf>> legacy;
  std::string msgpack_path = file_item ? msgpack_file : P(dir, kLegacyMsgpackFile);
  if (IsRegularFile(msgpack_path)) {
    OCKPT_ASSIGN_OR_RETURN(Bytes data, file_item ? ReadFile(msgpack_path, uint64_t{1} << 34)
                                                 : ReadFileConfined(msgpack_path, uint64_t{1} << 34));
    auto decoded = DecodeLegacyMsgpack(data);
    if (!decoded.ok()) return std::move(decoded).status().WithContext(msgpack_path);
    legacy = std::move(decoded).value();
  }

  // Storage: the root OCDBT database, else per-leaf zarr directories.
  bool has_manifest = !file_item && IsRegularFile(P(dir, kManifestFile));
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
  std::vector<KeyInfo> keys;
  if (!file_item) {
    OCKPT_ASSIGN_OR_RETURN(keys, item->store_->List(""));
  }
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
  if (!file_item && IsRegularFile(sharding_path)) {
    auto j = ReadSideJson(sharding_path, uint64_t{1} << 30);
    Status s = j.ok() ? CheckShardingJson(*j, sharding_path, /*deep=*/false) : j.status();
    if (s.ok()) {
      sharding = std::move(j).value();
    } else {
      item->warnings_.push_back(fmt::format("{} (sharding left out)", s.message()));
    }
  }
  std::map<std::string, Json> ext_metadata;
  if (!file_item) {
    ext_metadata = ReadArrayMetadatasDir(dir, &item->warnings_);
  }
  std::string strings_path = P(dir, kStringsFile);
  if (!file_item && IsRegularFile(strings_path)) {
    auto j = ReadSideJson(strings_path, uint64_t{1} << 30);
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
    if (auto it = ext_metadata.find(name); it != ext_metadata.end()) r.ext_metadata = it->second;
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

Status PyTreeItem::ReadLeafBox(size_t i, const Shape& origin, const Shape& extent,
                               ArrayWriter& out, int threads) const {
  if (i >= leaves_.size()) return InternalError("leaf index {} out of range", i);
  const LeafRecord& leaf = leaves_[i];
  if (!leaf.HasArrayData()) return ReadLeaf(i, out, threads);  // the leaf's own error
  const Shape& shape = *leaf.shape;
  const size_t rank = shape.size();
  if (origin.size() != rank || extent.size() != rank) {
    return InternalError("box of rank {} for leaf '{}' of rank {}", origin.size(), leaf.name(), rank);
  }
  bool whole = true;
  for (size_t d = 0; d < rank; ++d) {
    if (origin[d] < 0 || extent[d] < 0 || origin[d] > shape[d] || extent[d] > shape[d] - origin[d]) {
      return InternalError("box start {} shape {} outside leaf '{}' of shape {}", ShapeString(origin),
                           ShapeString(extent), leaf.name(), ShapeString(shape));
    }
    if (origin[d] != 0 || extent[d] != shape[d]) whole = false;
  }
  if (whole) return ReadLeaf(i, out, threads);
  for (int64_t e : extent) {
    if (e == 0) return Status::Ok();
  }
  // The chunk grid the box is walked over: the stored chunks (the whole
  // array when unknown, e.g. inline values).
  Shape chunk = shape;
  if (leaf.chunk_shape && leaf.chunk_shape->size() == rank &&
      std::all_of(leaf.chunk_shape->begin(), leaf.chunk_shape->end(), [](int64_t c) { return c > 0; })) {
    chunk = *leaf.chunk_shape;
  }
  const size_t elem = SizeOf(*leaf.dtype);
  // One thread: no read-ahead of chunks outside the box.
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> source, OpenLeafSource(i, 1));
  const std::vector<uint64_t> box_strides = zarr::CStrides(extent);
  constexpr uint64_t kPiece = uint64_t{1} << 20;
  const uint64_t piece = std::max<uint64_t>(kPiece / elem, 1) * elem;
  std::string buffer;
  Shape first(rank), last(rank), cell(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t c = std::max<int64_t>(chunk[d], 1);
    first[d] = origin[d] / c;
    last[d] = (origin[d] + extent[d] - 1) / c;
    cell[d] = first[d];
  }
  while (true) {
    Shape sub_origin(rank), sub_extent(rank);
    uint64_t box_base = 0;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t c = std::max<int64_t>(chunk[d], 1);
      const int64_t lo = std::max(origin[d], cell[d] * c);
      const int64_t hi = std::min(origin[d] + extent[d], (cell[d] + 1) * c);
      sub_origin[d] = lo;
      sub_extent[d] = hi - lo;
      box_base += static_cast<uint64_t>(lo - origin[d]) * box_strides[d];
    }
    box_base *= elem;
    OCKPT_RETURN_IF_ERROR(zarr::ForEachRun(
        extent, shape, sub_origin, sub_extent, elem,
        [&](uint64_t box_off, uint64_t array_off, uint64_t n) -> Status {
          for (uint64_t done = 0; done < n;) {
            const uint64_t len = std::min(piece, n - done);
            if (buffer.size() < len) buffer.resize(len);
            OCKPT_RETURN_IF_ERROR(source->ReadAt(array_off + done, len, buffer.data())
                                      .WithContext(fmt::format("leaf '{}' in {}", leaf.name(), dir_)));
            OCKPT_RETURN_IF_ERROR(out.WriteAt(box_base + box_off + done, ByteView(buffer.data(), len)));
            done += len;
          }
          return Status::Ok();
        }));
    size_t d = rank;
    while (d > 0) {
      --d;
      if (++cell[d] <= last[d]) break;
      cell[d] = first[d];
      if (d == 0) return Status::Ok();
    }
    if (rank == 0) return Status::Ok();
  }
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
    plan.streamed = src.array->ReadStreamsChunks(zarr::ReadOptions{});
    plan.chunk_bytes = src.array->ChunkBytes();
  }
  return plan;
}

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
      // Random access keeps chunks up to 64 MiB whole in its cache (a
      // streamed chunk's cursor re-decodes from the chunk's start when a
      // reader goes back).
      opts.stream_chunks_above = uint64_t{64} << 20;
      return std::unique_ptr<ArraySource>(NewZarrArraySource(&*src.array, opts).release());
    }
    case LeafSource::Kind::kNone:
      break;
  }
  if (!leaf_error_.ok()) return leaf_error_;
  return NotFoundError("leaf '{}' in {} has no array data", leaves_[i].name(), dir_);
}

}  // namespace ockpt::orbax
