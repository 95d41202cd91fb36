// Writing Orbax checkpoints.

#include "formats/orbax/save.h"
#include "lib/base/json.h"
#include "lib/base/utf8.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>
#include <unistd.h>

#include "formats/orbax/checkpoint_reader.h"
#include "formats/orbax/format/array_metadatas_file.h"
#include "formats/orbax/format/checkpoint_metadata_file.h"
#include "formats/orbax/format/metrics_file.h"
#include "formats/orbax/format/sharding_file.h"
#include "formats/orbax/format/tree_metadata_file.h"
#include "formats/orbax/layout.h"
#include "formats/ocdbt/ocdbt_writer.h"
#include "formats/orbax/steps.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/zarr_writer.h"
#include "lib/base/base64.h"
#include "lib/base/commit.h"
#include "lib/base/file.h"
#include "lib/base/pyjson.h"
#include "lib/checkpoint/progress.h"

namespace ockpt::orbax {
namespace {

constexpr uint64_t kTargetDataFileSize = uint64_t{1} << 31;  // Orbax's 2 GiB
constexpr std::string_view kProcessDir = "ocdbt.process_0";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::vector<int64_t>> Divisors(const Shape& shape) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t n : shape) {
    std::vector<int64_t> d;
    for (int64_t i = 1; i * i <= n; ++i) {
      if (n % i == 0) {
        d.push_back(i);
        if (i != n / i) d.push_back(n / i);
      }
    }
    std::sort(d.begin(), d.end());
    if (d.empty()) d.push_back(1);
    out.push_back(std::move(d));
  }
  return out;
}

// The value_metadata of one leaf.
format::ValueMetadata ValueMetadata(const LeafRecord& r, const std::optional<Shape>& write_shape) {
  format::ValueMetadata vm;
  std::string type = r.value_type;
  if (type.empty() || type == "Unknown") type = std::string(kNpArray);
  vm.value_type = type;
  vm.skip_deserialize = IsEmptyNodeType(type);
  if (type == kJaxArray && write_shape) vm.write_shape = *write_shape;
  return vm;
}

Status CheckFileKey(std::string_view key) {
  if (!IsSafeRelativeKey(key)) return InvalidArgumentError("key '{}' cannot be stored as a file", key);
  return Status::Ok();
}

}  // namespace

Shape ChooseChunkShape(const Shape& write_shape, size_t item_size, uint64_t target_bytes) {
  auto factors = Divisors(write_shape);
  uint64_t target_elements = std::max<uint64_t>(1, target_bytes / std::max<size_t>(1, item_size));
  uint64_t total = 1;
  for (int64_t d : write_shape) total *= static_cast<uint64_t>(std::max<int64_t>(d, 1));
  while (total > target_elements) {
    // Reduce the largest dimension (first on ties) to its next divisor.
    int best = -1;
    int64_t best_size = 1;
    for (size_t i = 0; i < factors.size(); ++i) {
      if (factors[i].back() > best_size) {
        best_size = factors[i].back();
        best = static_cast<int>(i);
      }
    }
    if (best < 0) break;
    int64_t cur = factors[best].back();
    factors[best].pop_back();
    total = total / static_cast<uint64_t>(cur) * static_cast<uint64_t>(factors[best].back());
  }
  Shape out;
  for (const auto& f : factors) out.push_back(f.back());
  return out;
}

std::string TreeMetadataKey(const KeyPath& path) {
  std::string s = "(";
  for (size_t i = 0; i < path.size(); ++i) {
    if (i) s += ", ";
    s += PyRepr(path[i].key);
  }
  if (path.size() == 1) s += ",";
  s += ")";
  return s;
}

Status WritePyTreeItem(const std::string& dir, const CheckpointSource& source, const ArrayLayout& layout,
                       const Context& ctx) {
  for (const std::string& w : source.warnings()) ctx.Warn(w);
  const std::vector<LeafRecord>& leaves = source.leaves();
  if (leaves.empty()) return InvalidArgumentError("{}: an empty tree cannot be saved (Orbax refuses it)", source.Describe());
  std::set<std::string> names;
  for (const LeafRecord& r : leaves) {
    // Orbax keys are Python str: bytes that are not UTF-8 cannot be written
    // into _METADATA without changing the name (and the leaf's OCDBT key).
    for (const PathKey& k : r.keypath) {
      if (!IsValidUtf8(k.key)) {
        return UnimplementedError("{}: leaf '{}': key '{}' is not valid UTF-8, which Orbax keys must be",
                                  source.Describe(), EscapeBytes(r.name()), EscapeBytes(k.key));
      }
    }
    if (!names.insert(r.name()).second) {
      return InvalidArgumentError("{}: two leaves share the parameter name '{}'", source.Describe(), r.name());
    }
  }
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));

  std::unique_ptr<ocdbt::OcdbtWriter> writer;
  ocdbt::WriterOptions wopts;
  wopts.target_data_file_size = kTargetDataFileSize;
  if (layout.ocdbt) {
    OCKPT_ASSIGN_OR_RETURN(writer, ocdbt::OcdbtWriter::Create(JoinPath(dir, kProcessDir), wopts));
  }
  zarr::ValueSink sink;
  if (writer) {
    sink.put = [&](const std::string& key, ByteView value) { return writer->Put(key, value); };
    sink.put_streamed = [&](const std::string& key, uint64_t size_bound,
                            const std::function<Status(const zarr::ValueSink::Append&)>& produce) {
      return writer->PutStreamed(key, size_bound, produce);
    };
  } else {
    sink.put = [&](const std::string& key, ByteView value) -> Status {
      OCKPT_RETURN_IF_ERROR(CheckFileKey(key));
      std::string path = JoinPath(dir, key);
      OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(path)));
      return WriteFile(path, value);
    };
    sink.put_streamed = [&](const std::string& key, uint64_t,
                            const std::function<Status(const zarr::ValueSink::Append&)>& produce)
        -> Status {
      OCKPT_RETURN_IF_ERROR(CheckFileKey(key));
      std::string path = JoinPath(dir, key);
      OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(path)));
      OCKPT_ASSIGN_OR_RETURN(WritableFile file, WritableFile::Create(path));
      OCKPT_RETURN_IF_ERROR(produce([&](ByteView piece) { return file.Append(piece); }));
      return file.Close();
    };
  }

  std::vector<zarr::ArrayToWrite> arrays;
  format::TreeMetadataFile tree_metadata;
  format::ShardingFile sharding;
  format::ArrayMetadatasFile array_metadatas;
  nlohmann::json strings = nlohmann::json::object();
  for (size_t i = 0; i < leaves.size(); ++i) {
    const LeafRecord& r = leaves[i];
    std::string name = r.name();
    std::optional<Shape> write_shape;
    if (r.HasArrayData()) {
      const Shape& shape = *r.shape;
      for (int64_t d : shape) {
        if (d == 0) {
          return InvalidArgumentError("{}: leaf '{}' has shape {}: Orbax does not save zero-size arrays",
                                      source.Describe(), name, ShapeString(shape));
        }
      }
      Shape base = shape;
      if (r.write_shape && r.write_shape->size() == shape.size()) {
        bool divides = true;
        for (size_t k = 0; k < shape.size(); ++k) {
          if ((*r.write_shape)[k] <= 0 || shape[k] % (*r.write_shape)[k] != 0) divides = false;
        }
        if (divides) base = *r.write_shape;
      }
      write_shape = base;
      zarr::WriteSpec spec;
      spec.zarr_format = layout.zarr3 ? 3 : 2;
      spec.dtype = *r.dtype;
      spec.shape = shape;
      if (layout.compress) spec.zstd_level = layout.zstd_level.value_or(layout.zarr3 ? 3 : 1);
      spec.zstd_checksum = layout.zstd_checksum;
      uint64_t base_bytes = static_cast<uint64_t>(NumElements(base)) * SizeOf(*r.dtype);
      if (layout.chunk_shape) {
        if (layout.chunk_shape->size() != shape.size()) {
          if (shape.empty()) {
            spec.chunk_shape = {};
          } else {
            return InvalidArgumentError("chunk shape {} has rank {}, leaf '{}' has rank {}",
                                        ShapeString(*layout.chunk_shape), layout.chunk_shape->size(), name,
                                        shape.size());
          }
        } else {
          spec.chunk_shape = *layout.chunk_shape;
        }
      } else if (layout.chunk_bytes || base_bytes > kTargetDataFileSize) {
        uint64_t target = std::min(layout.chunk_bytes.value_or(kTargetDataFileSize), kTargetDataFileSize);
        spec.chunk_shape = ChooseChunkShape(base, SizeOf(*r.dtype), target);
      } else {
        spec.chunk_shape = base;
      }
      OCKPT_RETURN_IF_ERROR(zarr::ValidateWriteSpec(spec));
      std::string prefix = name.empty() ? "" : name + "/";
      // Written after the loop, all leaves in one pipeline (in this order).
      arrays.push_back({spec, prefix, name, [&source, i] { return source.OpenArray(i); }});
      if (r.value_type == kJaxArray) {
        Json sh = r.sharding;
        if (!sh.is_object()) {
          sh = Json::object();
          sh["sharding_type"] = "SingleDeviceSharding";
          sh["device_str"] = "cpu:0";
        }
        sharding.entries[format::ShardingKey(name)] = PyJsonDumps(sh);
        format::ArrayMetadatasEntry am;
        am.array_metadata.param_name = name;
        am.array_metadata.write_shape = base;
        am.array_metadata.chunk_shape = spec.chunk_shape;
        am.array_metadata.ext_metadata = r.ext_metadata;  // null unless the source had one (PRNG keys)
        array_metadatas.array_metadatas.push_back(std::move(am));
      }
    } else if (r.value_type == kString) {
      strings[name] = r.string_value.value_or("");
    } else if (!IsEmptyNodeType(r.value_type)) {
      return InvalidArgumentError("{}: leaf '{}' ({}) has no array data to save", source.Describe(), name,
                                  r.value_type);
    }
    format::TreeMetadataFileEntry entry;
    entry.key = TreeMetadataKey(r.keypath);
    for (const PathKey& k : r.keypath) {
      format::KeyMetadata km;
      km.key = k.key;
      km.key_type = static_cast<int>(k.type);
      entry.key_metadata.push_back(std::move(km));
    }
    entry.value_metadata = ValueMetadata(r, write_shape);
    tree_metadata.tree_metadata.push_back(std::move(entry));
  }

  zarr::WriteOptions write_options;
  write_options.threads = ctx.threads;
  OCKPT_RETURN_IF_ERROR(zarr::WriteArrays(arrays, sink, write_options));

  int64_t commit_time = NowNs();
  if (writer) {
    OCKPT_RETURN_IF_ERROR(writer->Commit(static_cast<uint64_t>(commit_time)));
    writer.reset();
    OCKPT_RETURN_IF_ERROR(ocdbt::WriteMergedRoot(dir, std::string(kProcessDir), static_cast<uint64_t>(commit_time) + 1, wopts));
  }
  if (!sharding.entries.empty()) {
    OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(dir, kShardingFile), format::EncodeShardingFile(sharding)));
  }
  if (!strings.empty()) OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(dir, kStringsFile), DumpJson(strings)));
  if (!array_metadatas.array_metadatas.empty()) {
    std::string amdir = JoinPath(dir, kArrayMetadatasDir);
    OCKPT_RETURN_IF_ERROR(MakeDirectories(amdir));
    OCKPT_RETURN_IF_ERROR(
        WriteFile(JoinPath(amdir, "process_0"), format::EncodeArrayMetadatasFile(array_metadatas)));
  }
  tree_metadata.use_ocdbt = layout.ocdbt;
  tree_metadata.use_zarr3 = layout.zarr3;
  tree_metadata.store_array_data_equal_to_fill_value = true;
  tree_metadata.custom_metadata = source.custom_metadata();
  return WriteFile(JoinPath(dir, kTreeMetadataFile), format::EncodeTreeMetadataFile(tree_metadata));
}

namespace {

struct PlannedItem {
  std::string name;
  std::unique_ptr<CheckpointSource> source;  // PyTree
  Json json;                                 // JSON item
  bool is_json = false;
};

format::CheckpointMetadataFile CheckpointMetadata(const Json& item_handlers, int64_t init_ns, int64_t commit_ns,
                                                  const Json& custom) {
  format::CheckpointMetadataFile f;
  f.item_handlers = item_handlers;
  f.metrics = Json::object();
  f.performance_metrics = Json::object();
  f.init_timestamp_nsecs = init_ns;
  f.commit_timestamp_nsecs = commit_ns;
  f.custom_metadata = custom.is_null() ? Json::object() : custom;
  return f;
}

// As Orbax writes it: the checkpoint's final path, which Orbax holds as an
// absolute path.
Status WriteCommitSuccess(const std::string& dir, const std::string& final_path) {
  std::string abs = final_path;
  if (!IsRemotePath(abs) && (abs.empty() || abs[0] != '/')) {
    char cwd[4096];
    std::string_view rel = final_path;
    while (rel.substr(0, 2) == "./") rel.remove_prefix(2);
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) abs = JoinPath(cwd, rel);
  }
  return WriteFile(JoinPath(dir, kCommitSuccessFile),
                   fmt::format("Checkpoint commit was successful to {}", abs));
}

// A JSON item (metrics/metrics through its struct), as Python's json.dumps.
Status WriteJsonItem(const std::string& dir, const std::string& file, const Json& value) {
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));
  if (file == kMetricsItem && value.is_object()) {
    return WriteFile(JoinPath(dir, file), format::EncodeMetricsFile(format::MetricsFile{value}));
  }
  return WriteFile(JoinPath(dir, file), PyJsonDumps(value));
}

Result<Json> ReadJsonArg(const std::string& path) {
  OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFile(path, uint64_t{1} << 30));
  auto j = ParseJson(text);
  if (!j.ok()) return Status(StatusCode::kInvalidArgument, j.status().message()).WithContext(path);
  return j;
}

// Writes the whole checkpoint into tmp; the caller renames it.
Status WriteCheckpointDir(const std::string& tmp, const std::string& final_path, std::vector<PlannedItem>& items,
                          bool composite, bool step, const SaveOptions& opt, const Context& ctx) {
  int64_t init_ns = NowNs();
  OCKPT_RETURN_IF_ERROR(MakeDirectories(tmp));
  Json handlers;
  if (!composite) {
    OCKPT_RETURN_IF_ERROR(WritePyTreeItem(tmp, *items[0].source, opt.layout, ctx));
    handlers = std::string(kStandardHandler);
  } else {
    handlers = Json::object();
    std::sort(items.begin(), items.end(), [](const PlannedItem& a, const PlannedItem& b) { return a.name < b.name; });
    for (PlannedItem& it : items) {
      std::string dir = JoinPath(tmp, it.name);
      if (it.is_json) {
        // CheckpointManager registers its metrics item with the file name
        // "metrics"; every other JSON item (and "metrics" outside a step,
        // which CompositeCheckpointHandler restores with a default
        // JsonCheckpointHandler) uses JsonCheckpointHandler's "metadata".
        OCKPT_RETURN_IF_ERROR(
            WriteJsonItem(dir, step && it.name == kMetricsItem ? "metrics" : "metadata", it.json));
        handlers[it.name] = std::string(kJsonHandler);
      } else {
        OCKPT_RETURN_IF_ERROR(WritePyTreeItem(dir, *it.source, opt.layout, ctx));
        handlers[it.name] = std::string(step && it.name == kDefaultItem ? kStandardHandler : kPyTreeHandler);
      }
      OCKPT_RETURN_IF_ERROR(WriteCommitSuccess(dir, JoinPath(final_path, it.name)));
    }
  }
  format::CheckpointMetadataFile md = CheckpointMetadata(handlers, init_ns, NowNs(), opt.custom_metadata);
  OCKPT_RETURN_IF_ERROR(
      WriteFile(JoinPath(tmp, kCheckpointMetadataFile), format::EncodeCheckpointMetadataFile(md)));
  OCKPT_RETURN_IF_ERROR(WriteCommitSuccess(tmp, final_path));
  return SyncTree(tmp);
}

}  // namespace

Status Save(const SaveOptions& opt, const Context& ctx) {
  if (opt.dest.empty()) return InvalidArgumentError("no destination given");
  if (!opt.items.empty() || !opt.json_items.empty()) {
    if (!opt.src.empty()) return InvalidArgumentError("give either one source or named items, not both");
  } else if (opt.src.empty()) {
    return InvalidArgumentError("nothing to save: no source and no named items");
  }
  // Open every source first: a bad source fails before anything is written.
  SourceOpener open = opt.open_source;
  if (!open) open = [](const std::string& path) { return OpenSource(path); };
  if (ctx.progress_sink != nullptr) {  // every array byte read from a source counts as done
    open = [inner = std::move(open), &ctx](const std::string& path) -> Result<std::unique_ptr<CheckpointSource>> {
      OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointSource> source, inner(path));
      return WithProgress(std::move(source), ctx);
    };
  }
  std::vector<PlannedItem> items;
  std::set<std::string> seen;
  auto add_name = [&](const std::string& name) -> Status {
    if (name.empty() || !IsSafeRelativeKey(name) || name.find('/') != std::string::npos || IsTmpName(name)) {
      return InvalidArgumentError("item name '{}' is not a valid directory name", name);
    }
    if (!seen.insert(name).second) return InvalidArgumentError("item '{}' given twice", name);
    return Status::Ok();
  };
  if (!opt.src.empty()) {
    PlannedItem it;
    it.name = std::string(kDefaultItem);
    OCKPT_ASSIGN_OR_RETURN(it.source, open(opt.src));
    items.push_back(std::move(it));
  }
  for (const auto& [name, src] : opt.items) {
    OCKPT_RETURN_IF_ERROR(add_name(name));
    PlannedItem it;
    it.name = name;
    OCKPT_ASSIGN_OR_RETURN(it.source, open(src));
    items.push_back(std::move(it));
  }
  for (const auto& [name, file] : opt.json_items) {
    OCKPT_RETURN_IF_ERROR(add_name(name));
    PlannedItem it;
    it.name = name;
    it.is_json = true;
    OCKPT_ASSIGN_OR_RETURN(it.json, ReadJsonArg(file));
    items.push_back(std::move(it));
  }
  bool step = opt.step.has_value();
  if (!opt.metrics.is_null()) {
    if (!step) return InvalidArgumentError("metrics need a step (metrics belong to manager steps)");
    if (seen.count(std::string(kMetricsItem))) return InvalidArgumentError("metrics given and also an item named 'metrics'");
    PlannedItem it;
    it.name = std::string(kMetricsItem);
    it.is_json = true;
    it.json = opt.metrics;
    items.push_back(std::move(it));
  }
  bool composite = step || !opt.items.empty() || !opt.json_items.empty();

  std::string final_path = opt.dest;
  while (final_path.size() > 1 && final_path.back() == '/') final_path.pop_back();
  std::optional<RootLock> root_lock;  // writers of a manager root take its lock (steps.h)
  if (opt.retention && !step) return InvalidArgumentError("a retention policy needs a step (it applies to manager roots)");
  if (opt.retention) OCKPT_RETURN_IF_ERROR(opt.retention->Validate());
  if (step) {
    if (*opt.step < 0) return InvalidArgumentError("the step must be >= 0");
    if (PathExists(opt.dest) && !IsDirectory(opt.dest)) {
      return AlreadyExistsError("{} exists and is not a directory", opt.dest);
    }
    OCKPT_RETURN_IF_ERROR(MakeDirectories(opt.dest));
    OCKPT_ASSIGN_OR_RETURN(root_lock, LockRoot(opt.dest, /*wait=*/true));
    OCKPT_ASSIGN_OR_RETURN(RootSteps existing, ScanRootSteps(opt.dest));
    for (const auto& [name, state] : existing.steps) {
      if (name.step == *opt.step) {
        return AlreadyExistsError("step {} already exists in {} ({}, {})", *opt.step, opt.dest, name.name,
                                  StepStatusName(state.status));
      }
    }
    final_path = JoinPath(final_path, std::to_string(*opt.step));
  }
  if (PathExists(final_path)) return AlreadyExistsError("{} already exists; save will not overwrite it", final_path);
  Status s;
  {
    // Orbax's own in-progress name, so that Orbax and ls-steps see the save as in progress.
    OCKPT_ASSIGN_OR_RETURN(StagedOutput staged, StagedOutput::Begin(final_path, std::string(kTmpSuffix)));
    s = WriteCheckpointDir(staged.tmp_path(), final_path, items, composite, step, opt, ctx);
    if (s.ok()) s = staged.Commit({.sync_parent = true});
  }
  // --- Retention after the new step committed (save with a step and a policy) ---
  if (s.ok() && step && opt.retention) {
    GcObserver observer;
    observer.finished_interrupted = [&](const std::vector<std::string>& names) {
      ctx.Warn(fmt::format("{}: finished {} interrupted deletion{}", opt.dest, names.size(),
                           names.size() == 1 ? "" : "s"));
    };
    observer.deleted = [&](const std::string& name) {
      ctx.Warn(fmt::format("{}: retention policy deleted {}", opt.dest, name));
    };
    auto pruned = ApplyRetention(*root_lock, *opt.retention, observer);
    if (!pruned.ok()) return pruned.status().WithContext(fmt::format("step {} saved, but pruning old steps", *opt.step));
  }
  return s;
}

}  // namespace ockpt::orbax
