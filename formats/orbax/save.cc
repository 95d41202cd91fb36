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
#include "formats/orbax/restored_composite.h"
#include "formats/orbax/side_json.h"
#include "formats/ocdbt/ocdbt_writer.h"
#include "formats/orbax/steps.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/zarr_writer.h"
#include "lib/base/base64.h"
#include "lib/base/commit.h"
#include "lib/base/file.h"
#include "lib/base/pyjson.h"
#include "lib/checkpoint/progress.h"
#include "lib/parallel/process_group.h"

namespace ockpt::orbax {
namespace {

constexpr uint64_t kTargetDataFileSize = uint64_t{1} << 31;  // Orbax's 2 GiB
constexpr std::string_view kProcessDirPrefix = "ocdbt.process_";

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

Shape ChooseChunkShape(const Shape& write_shape, size_t item_size, uint64_t target_bytes,
                       const Shape& global_shape) {
  auto factors = Divisors(write_shape);
  uint64_t target_elements = std::max<uint64_t>(1, target_bytes / std::max<size_t>(1, item_size));
  uint64_t total = 1;
  for (int64_t d : write_shape) total *= static_cast<uint64_t>(std::max<int64_t>(d, 1));
  std::vector<bool> sharded(write_shape.size(), false);
  if (global_shape.size() == write_shape.size()) {
    for (size_t i = 0; i < write_shape.size(); ++i) sharded[i] = global_shape[i] != write_shape[i];
  }
  while (total > target_elements) {
    // The largest sharded dimension (first on ties) goes to its next divisor;
    // when none can be reduced, every dimension counts as sharded.
    int best = -1;
    int64_t best_size = 1;
    for (size_t i = 0; i < factors.size(); ++i) {
      if (sharded[i] && factors[i].back() > best_size) {
        best_size = factors[i].back();
        best = static_cast<int>(i);
      }
    }
    if (best < 0) {
      if (std::all_of(sharded.begin(), sharded.end(), [](bool b) { return b; })) break;
      sharded.assign(sharded.size(), true);
      continue;
    }
    int64_t cur = factors[best].back();
    factors[best].pop_back();
    total = total / static_cast<uint64_t>(cur) * static_cast<uint64_t>(factors[best].back());
    sharded[best] = true;
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

namespace {

// What an item's save writes, decided from its source alone (so that every
// process of a multi-process save decides the same).
struct ItemPlan {
  std::vector<zarr::ArrayToWrite> arrays;
  format::TreeMetadataFile tree_metadata;
  format::ShardingFile sharding;
  format::ArrayMetadatasFile array_metadatas;
  nlohmann::json strings = nlohmann::json::object();
  size_t unknown_shardings = 0;  // jax.Array leaves given SingleDeviceSharding cpu:0
  size_t dropped_shardings = 0;  // recorded shardings left out (--sharding none)
  size_t piece_shardings = 0;    // whole-array shardings of sharded-restore pieces, left out
};

Status PlanItem(const CheckpointSource& source, const ArrayLayout& layout, ItemPlan* plan) {
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
        spec.chunk_shape = ChooseChunkShape(base, SizeOf(*r.dtype), target, shape);
      } else {
        spec.chunk_shape = base;
      }
      OCKPT_RETURN_IF_ERROR(zarr::ValidateWriteSpec(spec));
      std::string prefix = name.empty() ? "" : name + "/";
      // Written after planning, all leaves in one pipeline (in this order).
      plan->arrays.push_back({spec, prefix, name, [&source, i] { return source.OpenArray(i); }});
      if (r.value_type == kJaxArray) {
        Json sh = r.sharding;
        // A piece of a sharded restore is an array of its own: the recorded
        // sharding lays out the whole array (global_shape) over a mesh, so
        // Orbax would build an array of the wrong shape from it.
        if (sh.is_object() && r.global_shape && *r.global_shape != shape) {
          ++plan->piece_shardings;
          sh = Json();
        }
        if (layout.sharding == ArrayLayout::Sharding::kNone) {
          if (sh.is_object()) ++plan->dropped_shardings;
        } else {
          if (!sh.is_object()) {
            ++plan->unknown_shardings;
            sh = Json::object();
            sh["sharding_type"] = "SingleDeviceSharding";
            sh["device_str"] = "cpu:0";
          }
          plan->sharding.entries[format::ShardingKey(name)] = PyJsonDumps(sh);
        }
        format::ArrayMetadatasEntry am;
        am.array_metadata.param_name = name;
        am.array_metadata.write_shape = base;
        am.array_metadata.chunk_shape = spec.chunk_shape;
        am.array_metadata.ext_metadata = r.ext_metadata;  // null unless the source had one (PRNG keys)
        plan->array_metadatas.array_metadatas.push_back(std::move(am));
      }
    } else if (r.value_type == kString) {
      plan->strings[name] = r.string_value.value_or("");
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
    plan->tree_metadata.tree_metadata.push_back(std::move(entry));
  }
  plan->tree_metadata.use_ocdbt = layout.ocdbt;
  plan->tree_metadata.use_zarr3 = layout.zarr3;
  plan->tree_metadata.store_array_data_equal_to_fill_value = true;
  plan->tree_metadata.custom_metadata = source.custom_metadata();
  // _METADATA members ockpt does not model (value_metadata_tree, ...), as
  // the source checkpoint had them.
  if (Json fm = source.format_metadata(); fm.is_object()) {
    auto extras = fm.find(std::string(kTreeMetadataExtrasKey));
    if (extras != fm.end() && extras->is_object()) {
      for (const auto& [k, v] : extras->items()) {
        if (k == "value_metadata_tree") {
          plan->tree_metadata.value_metadata_tree = v;
        } else {
          plan->tree_metadata.fields.unknown[k] = v;
        }
      }
    }
  }
  return Status::Ok();
}

// The warnings planning leaves for the primary process to print.
void WarnPlan(const CheckpointSource& source, const ItemPlan& plan, const ArrayLayout& layout,
              const Context& ctx) {
  if (plan.piece_shardings > 0) {
    ctx.Warn(fmt::format(
        "{}: {} jax.Array {} of a sharded restore (shape differs from global_shape); {} recorded "
        "sharding describes the whole array, not the piece, and is left out",
        source.Describe(), plan.piece_shardings, plan.piece_shardings == 1 ? "leaf is a piece" : "leaves are pieces",
        plan.piece_shardings == 1 ? "its" : "their"));
  }
  if (plan.unknown_shardings > 0 && !layout.sharding) {
    ctx.Warn(fmt::format(
        "{}: {} jax.Array {} no recorded sharding; _sharding gives {} SingleDeviceSharding "
        "cpu:0, which Orbax refuses to restore without a target on a host whose devices differ",
        source.Describe(), plan.unknown_shardings, plan.unknown_shardings == 1 ? "leaf has" : "leaves have",
        plan.unknown_shardings == 1 ? "it" : "them"));
  }
  if (plan.dropped_shardings > 0) {
    ctx.Warn(fmt::format("{}: the recorded sharding{} of {} {} left out (no _sharding written)",
                         source.Describe(), plan.dropped_shardings == 1 ? "" : "s", plan.dropped_shardings,
                         plan.dropped_shardings == 1 ? "leaf is" : "leaves are"));
  }
}

std::string ProcessDir(int rank) { return fmt::format("{}{}", kProcessDirPrefix, rank); }

ocdbt::WriterOptions ProcessWriterOptions() {
  ocdbt::WriterOptions wopts;
  wopts.target_data_file_size = kTargetDataFileSize;
  return wopts;
}

// Writes this process's part of the item's arrays: its run of the chunks
// (all of them in a run of one process), and on the primary process the
// zarr metadata of every array; into ocdbt.process_<rank>/ with OCDBT, else
// as files in dir. *wrote_database: whether the process database exists.
Status WriteProcessPart(const std::string& dir, const ItemPlan& plan, const ArrayLayout& layout, int rank,
                        int size, const Context& ctx, bool* wrote_database) {
  *wrote_database = false;
  OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));
  std::vector<zarr::WriteSpec> specs;
  for (const zarr::ArrayToWrite& a : plan.arrays) specs.push_back(a.spec);
  const zarr::ChunkRun run = zarr::ChunkPart(specs, rank, size);
  std::unique_ptr<ocdbt::OcdbtWriter> writer;
  const ocdbt::WriterOptions wopts = ProcessWriterOptions();
  // The primary process always has a database (the metadata keys); the
  // others only when they have chunks to write.
  if (layout.ocdbt && (rank == 0 || run.end > run.first)) {
    OCKPT_ASSIGN_OR_RETURN(writer, ocdbt::OcdbtWriter::Create(JoinPath(dir, ProcessDir(rank)), wopts));
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
  // Each streamed value goes to a data file of its own while it is
  // written (OcdbtWriter), or is a file of its own.
  sink.streams_side_by_side = true;
  zarr::WriteOptions write_options;
  write_options.threads = ctx.threads;
  write_options.part = rank;
  write_options.parts = size;
  write_options.write_metadata = rank == 0;
  if (!layout.ocdbt || writer) OCKPT_RETURN_IF_ERROR(zarr::WriteArrays(plan.arrays, sink, write_options));
  if (writer) {
    OCKPT_RETURN_IF_ERROR(writer->Commit(static_cast<uint64_t>(NowNs())));
    *wrote_database = true;
  }
  return Status::Ok();
}

// The primary process's part after every process wrote its arrays: the
// merged root database over the process databases that exist, then the
// side files and _METADATA.
Status FinishItem(const std::string& dir, const ItemPlan& plan, const ArrayLayout& layout,
                  const std::vector<int>& process_databases) {
  if (layout.ocdbt) {
    std::vector<std::string> children;
    for (int r : process_databases) children.push_back(ProcessDir(r));
    OCKPT_RETURN_IF_ERROR(
        ocdbt::WriteMergedRoot(dir, children, static_cast<uint64_t>(NowNs()), ProcessWriterOptions()));
  }
  if (!plan.sharding.entries.empty()) {
    OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(dir, kShardingFile), format::EncodeShardingFile(plan.sharding)));
  }
  if (!plan.strings.empty()) OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(dir, kStringsFile), DumpJson(plan.strings)));
  if (!plan.array_metadatas.array_metadatas.empty()) {
    // The primary process's file, listing every jax.Array (each process's
    // array_metadatas/process_<i> lists the arrays it handled; in ockpt's
    // multi-process save that is the primary, which planned them all).
    std::string amdir = JoinPath(dir, kArrayMetadatasDir);
    OCKPT_RETURN_IF_ERROR(MakeDirectories(amdir));
    OCKPT_RETURN_IF_ERROR(
        WriteFile(JoinPath(amdir, "process_0"), format::EncodeArrayMetadatasFile(plan.array_metadatas)));
  }
  return WriteFile(JoinPath(dir, kTreeMetadataFile), format::EncodeTreeMetadataFile(plan.tree_metadata));
}

}  // namespace

Status WritePyTreeItem(const std::string& dir, const CheckpointSource& source, const ArrayLayout& layout,
                       const Context& ctx) {
  SingleProcessGroup single;
  ProcessGroup& group = ctx.process_group != nullptr ? *ctx.process_group : single;
  const int rank = group.rank();
  if (rank == 0) {
    for (const std::string& w : source.warnings()) ctx.Warn(w);
  }
  ItemPlan plan;
  bool wrote_database = false;
  Status s = PlanItem(source, layout, &plan);
  if (s.ok() && rank == 0) WarnPlan(source, plan, layout, ctx);
  if (s.ok()) s = WriteProcessPart(dir, plan, layout, rank, group.size(), ctx, &wrote_database);
  // Every process's arrays are written (or one failed, and all stop here).
  OCKPT_RETURN_IF_ERROR(group.AllOk(s));
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> wrote, group.AllGather(wrote_database ? "1" : "0"));
  if (rank == 0) {
    std::vector<int> databases;
    for (size_t r = 0; r < wrote.size(); ++r) {
      if (wrote[r] == "1") databases.push_back(static_cast<int>(r));
    }
    s = FinishItem(dir, plan, layout, databases);
  }
  return group.ShareStatus(0, s);
}

namespace {

struct PlannedItem {
  std::string name;
  std::unique_ptr<CheckpointSource> source;  // PyTree
  Json json;                                 // JSON item
  bool is_json = false;
  std::string copy_dir;  // an opaque item of a source checkpoint, copied byte for byte
  Json handler;          // its item_handlers typestr (null: none recorded)
};

// Whether Orbax's StandardCheckpointHandler takes the tree: arrays and
// scalars only; strings need the PyTree handler.
bool StandardHandlerTakes(const CheckpointSource& source) {
  for (const LeafRecord& r : source.leaves()) {
    if (r.value_type == kString) return false;
  }
  return true;
}

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

// Writes the whole checkpoint into tmp (which exists); the caller renames
// it. Every process of the group writes its part of each PyTree item; the
// primary process writes the rest. Returns early only where every process
// does (WritePyTreeItem's status is shared).
Status WriteCheckpointDir(const std::string& tmp, const std::string& final_path, std::vector<PlannedItem>& items,
                          bool composite, bool step, const Json& custom_metadata, const SaveOptions& opt,
                          bool primary, const Context& ctx) {
  int64_t init_ns = NowNs();
  const bool v1 = opt.layout.v1;
  Json handlers;
  if (!composite) {
    OCKPT_RETURN_IF_ERROR(WritePyTreeItem(tmp, *items[0].source, opt.layout, ctx));
    handlers = std::string(StandardHandlerTakes(*items[0].source) ? kStandardHandler : kPyTreeHandler);
  } else {
    handlers = Json::object();
    // v1's save_checkpointables keeps the caller's item order; v0 and
    // CheckpointManager steps list items sorted.
    if (!v1 || step) {
      std::sort(items.begin(), items.end(), [](const PlannedItem& a, const PlannedItem& b) { return a.name < b.name; });
    }
    for (PlannedItem& it : items) {
      if (it.source) OCKPT_RETURN_IF_ERROR(WritePyTreeItem(JoinPath(tmp, it.name), *it.source, opt.layout, ctx));
    }
    if (!primary) return Status::Ok();
    for (PlannedItem& it : items) {
      std::string dir = JoinPath(tmp, it.name);
      if (!it.copy_dir.empty()) {
        OCKPT_RETURN_IF_ERROR(CopyItemFiles(it.copy_dir, dir, ctx));
        if (!it.handler.is_null()) handlers[it.name] = it.handler;
      } else if (it.is_json) {
        // CheckpointManager registers its metrics item with the file name
        // "metrics"; every other JSON item (and "metrics" outside a step,
        // which CompositeCheckpointHandler restores with a default
        // JsonCheckpointHandler) uses JsonCheckpointHandler's "metadata"
        // (v1's JsonHandler: "data.json").
        bool metrics = step && it.name == kMetricsItem;
        std::string file = metrics ? "metrics" : std::string(v1 ? kV1JsonFile : "metadata");
        OCKPT_RETURN_IF_ERROR(WriteJsonItem(dir, file, it.json));
        handlers[it.name] =
            std::string(v1 ? (metrics ? kV1MetricsHandler : kV1JsonHandler) : kJsonHandler);
      } else {
        bool standard = step && it.name == kDefaultItem && StandardHandlerTakes(*it.source);
        handlers[it.name] = std::string(v1 ? kV1PyTreeHandler : standard ? kStandardHandler : kPyTreeHandler);
      }
      OCKPT_RETURN_IF_ERROR(WriteCommitSuccess(dir, JoinPath(final_path, it.name)));
    }
    if (v1) {
      // The v1 API of orbax-checkpoint 0.11.39 lists a descriptor item
      // that writes no directory (as in the golden v1 checkpoints).
      handlers[std::string(kDescriptorItem)] = std::string(kV1DescriptorHandler);
      if (step) {
        Json sorted = Json::object();
        std::vector<std::string> names;
        for (const auto& [k, v] : handlers.items()) names.push_back(k);
        std::sort(names.begin(), names.end());
        for (const std::string& k : names) sorted[k] = handlers[k];
        handlers = std::move(sorted);
      } else {
        OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(tmp, kV1IndicatorFile), ByteView()));
      }
    }
  }
  if (!primary) return Status::Ok();
  format::CheckpointMetadataFile md = CheckpointMetadata(handlers, init_ns, NowNs(), custom_metadata);
  OCKPT_RETURN_IF_ERROR(
      WriteFile(JoinPath(tmp, kCheckpointMetadataFile), format::EncodeCheckpointMetadataFile(md)));
  OCKPT_RETURN_IF_ERROR(WriteCommitSuccess(tmp, final_path));
  return SyncTree(tmp);
}

// One planned item per item of the source checkpoint: PyTree items opened as
// sources, JSON items with their values, every other item copied as it is
// (with its handler typestr).
Status PlanSourceItems(const Checkpoint& ckpt, const SourceOpener& open, std::vector<PlannedItem>* items,
                       std::set<std::string>* seen) {
  for (const ItemEntry& e : ckpt.items) {
    if (e.name.empty()) return InternalError("{}: an unnamed item beside others", ckpt.dir);
    seen->insert(e.name);
    PlannedItem it;
    it.name = e.name;
    switch (e.kind) {
      case ItemKind::kPyTree: {
        if (!e.pytree) return e.error;
        OCKPT_ASSIGN_OR_RETURN(it.source, open(e.dir));
        break;
      }
      case ItemKind::kJson:
        it.is_json = true;
        it.json = e.json_value;
        break;
      case ItemKind::kOpaque:
        if (!IsDirectory(e.dir)) {
          return UnimplementedError("{}: item '{}' is not a directory and cannot be carried", ckpt.dir, e.name);
        }
        it.copy_dir = e.dir;
        it.handler = e.handler;
        break;
    }
    items->push_back(std::move(it));
  }
  return Status::Ok();
}

// The same from the restore output of a composite (restored_composite.h):
// PyTree items from their .npy directories (with _tree.json), JSON items
// from OUT/<item>.json, opaque items copied from OUT/<item>/.
Status PlanRestoredItems(const std::string& dir, const RestoredCheckpoint& restored, const SourceOpener& open,
                         std::vector<PlannedItem>* items, std::set<std::string>* seen) {
  if (restored.items.empty()) return NotFoundError("{}: {} lists no items", dir, kRestoredCheckpointFile);
  for (const RestoredItem& r : restored.items) {
    seen->insert(r.name);
    PlannedItem it;
    it.name = r.name;
    const std::string rel = RestoredItemPath(r.name, r.kind);
    const std::string path = JoinPath(dir, rel);
    OCKPT_RETURN_IF_ERROR(CheckConfined(dir, rel));
    bool present = r.kind == ItemKind::kJson ? IsRegularFile(path) : IsDirectory(path);
    if (!present) {
      return NotFoundError("{}: item '{}' is listed in {} but {} is missing", dir, r.name, kRestoredCheckpointFile,
                           path);
    }
    switch (r.kind) {
      case ItemKind::kPyTree: {
        OCKPT_ASSIGN_OR_RETURN(it.source, open(path));
        break;
      }
      case ItemKind::kJson: {
        it.is_json = true;
        OCKPT_ASSIGN_OR_RETURN(it.json, ReadSideJson(path));
        break;
      }
      case ItemKind::kOpaque:
        it.copy_dir = path;
        it.handler = r.handler;
        break;
    }
    items->push_back(std::move(it));
  }
  return Status::Ok();
}

// Plans the items of a source that is carried whole, as a composite:
// * the restore output of a composite or step (OUT/_checkpoint.json);
// * a checkpoint or manager step with named items (item_handlers a dict):
//   several items, JSON or opaque items beside its PyTree item, or one
//   PyTree item with a name of its own (the name is kept). A checkpoint of
//   one unnamed item, or a step whose only item is `default` (a step saved
//   from one tree), is one tree.
// Returns false, planning nothing, when the source is one tree (a .npy
// directory, an item, such a checkpoint, or one item picked with src_item).
// *custom_metadata: the source's _CHECKPOINT_METADATA custom_metadata.
Result<bool> PlanWholeSource(const SaveOptions& opt, const SourceOpener& open, std::vector<PlannedItem>* items,
                             std::set<std::string>* seen, Json* custom_metadata) {
  if (opt.src_item || !IsDirectory(opt.src)) return false;
  OCKPT_ASSIGN_OR_RETURN(std::optional<RestoredCheckpoint> restored, ReadRestoredCheckpoint(opt.src));
  if (restored) {
    OCKPT_RETURN_IF_ERROR(PlanRestoredItems(opt.src, *restored, open, items, seen));
    *custom_metadata = restored->custom_metadata;
    return true;
  }
  if (IsRegularFile(JoinPath(opt.src, "_tree.json"))) return false;
  OCKPT_ASSIGN_OR_RETURN(LocationKind kind, Classify(opt.src));
  if (kind != LocationKind::kCheckpoint && kind != LocationKind::kRoot) return false;
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(opt.src));
  if (ckpt.items.empty()) return false;
  if (ckpt.items.size() == 1 && ckpt.items[0].kind == ItemKind::kPyTree &&
      (ckpt.items[0].name.empty() || ckpt.items[0].name == kDefaultItem)) {
    return false;
  }
  OCKPT_RETURN_IF_ERROR(PlanSourceItems(ckpt, open, items, seen));
  if (ckpt.checkpoint_metadata.is_object()) {
    *custom_metadata = ckpt.checkpoint_metadata.value("custom_metadata", Json());
  }
  return true;
}

// The one tree to open for src: src itself, or with src_item and src the
// restore output of a composite, that item's directory.
Result<std::string> OneTreePath(const SaveOptions& opt) {
  if (!opt.src_item || !IsDirectory(opt.src)) return opt.src;
  OCKPT_ASSIGN_OR_RETURN(std::optional<RestoredCheckpoint> restored, ReadRestoredCheckpoint(opt.src));
  if (!restored) return opt.src;
  for (const RestoredItem& r : restored->items) {
    if (r.name != *opt.src_item) continue;
    if (r.kind != ItemKind::kPyTree) {
      return InvalidArgumentError("item '{}' of {} is not a PyTree item (it is {})", r.name, opt.src,
                                  ItemKindName(r.kind));
    }
    return JoinPath(opt.src, RestoredItemPath(r.name, r.kind));
  }
  return NotFoundError("{} has no item '{}'", opt.src, *opt.src_item);
}

}  // namespace

// In a multi-process save (ctx.process_group) every process opens the
// sources and plans the same items; the primary process (rank 0) alone
// takes the root's lock, checks the destination, stages, commits and
// prunes. Each step that can fail on one process ends in an agreement, so
// that all processes fail together and only the primary's commit publishes.
Status Save(const SaveOptions& opt, const Context& ctx) {
  if (opt.dest.empty()) return InvalidArgumentError("no destination given");
  if (!opt.items.empty() || !opt.json_items.empty()) {
    if (!opt.src.empty()) return InvalidArgumentError("give either one source or named items, not both");
  } else if (opt.src.empty()) {
    return InvalidArgumentError("nothing to save: no source and no named items");
  }
  SingleProcessGroup single;
  ProcessGroup& group = ctx.process_group != nullptr ? *ctx.process_group : single;
  const bool primary = group.rank() == 0;
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
  const bool step = opt.step.has_value();
  // _CHECKPOINT_METADATA's custom_metadata: --custom-metadata, else the
  // source checkpoint's (through its format metadata, also from _tree.json).
  Json custom_metadata = opt.custom_metadata;
  bool source_composite = false;  // the source's items are carried as they are
  auto open_items = [&]() -> Status {
    auto add_name = [&](const std::string& name) -> Status {
      if (name.empty() || !IsSafeRelativeKey(name) || name.find('/') != std::string::npos || IsTmpName(name)) {
        return InvalidArgumentError("item name '{}' is not a valid directory name", name);
      }
      if (!seen.insert(name).second) return InvalidArgumentError("item '{}' given twice", name);
      return Status::Ok();
    };
    if (!opt.src.empty()) {
      Json source_custom;
      OCKPT_ASSIGN_OR_RETURN(source_composite, PlanWholeSource(opt, open, &items, &seen, &source_custom));
      if (source_composite) {
        if (custom_metadata.is_null()) custom_metadata = std::move(source_custom);
      } else {
        PlannedItem it;
        it.name = std::string(opt.layout.v1 ? kV1PyTreeItem : kDefaultItem);
        OCKPT_ASSIGN_OR_RETURN(std::string path, OneTreePath(opt));
        OCKPT_ASSIGN_OR_RETURN(it.source, open(path));
        if (custom_metadata.is_null()) {
          Json fm = it.source->format_metadata();
          if (fm.is_object()) custom_metadata = fm.value(std::string(kCheckpointCustomMetadataKey), Json());
        }
        items.push_back(std::move(it));
      }
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
    if (!opt.metrics.is_null()) {
      if (!step) return InvalidArgumentError("metrics need a step (metrics belong to manager steps)");
      if (source_composite) {  // the given metrics replace the source step's
        std::erase_if(items, [](const PlannedItem& it) { return it.name == kMetricsItem && it.is_json; });
        seen.erase(std::string(kMetricsItem));
      }
      if (seen.count(std::string(kMetricsItem))) return InvalidArgumentError("metrics given and also an item named 'metrics'");
      PlannedItem it;
      it.name = std::string(kMetricsItem);
      it.is_json = true;
      it.json = opt.metrics;
      items.push_back(std::move(it));
    }
    if (opt.retention && !step) return InvalidArgumentError("a retention policy needs a step (it applies to manager roots)");
    if (opt.retention) OCKPT_RETURN_IF_ERROR(opt.retention->Validate());
    if (step && *opt.step < 0) return InvalidArgumentError("the step must be >= 0");
    return Status::Ok();
  };

  std::string final_path = opt.dest;
  while (final_path.size() > 1 && final_path.back() == '/') final_path.pop_back();
  if (step) final_path = JoinPath(final_path, std::to_string(*opt.step));
  std::optional<RootLock> root_lock;  // writers of a manager root take its lock (steps.h)
  std::optional<StagedOutput> staged;
  // The primary process's checks of the destination, then the staging
  // directory (Orbax's own in-progress name, so that Orbax and ls-steps see
  // the save as in progress).
  auto prepare_dest = [&]() -> Status {
    if (step) {
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
    }
    if (PathExists(final_path)) return AlreadyExistsError("{} already exists; save will not overwrite it", final_path);
    OCKPT_ASSIGN_OR_RETURN(StagedOutput begun, StagedOutput::Begin(final_path, std::string(kTmpSuffix)));
    staged.emplace(std::move(begun));
    return MakeDirectories(staged->tmp_path());
  };
  Status s = open_items();
  const bool composite =
      step || source_composite || opt.layout.v1 || !opt.items.empty() || !opt.json_items.empty();
  if (s.ok() && primary) s = prepare_dest();
  OCKPT_RETURN_IF_ERROR(group.AllOk(s));
  std::string tmp = primary ? staged->tmp_path() : std::string();
  OCKPT_RETURN_IF_ERROR(group.Broadcast(0, &tmp));
  s = WriteCheckpointDir(tmp, final_path, items, composite, step, custom_metadata, opt, primary, ctx);
  if (primary) {
    if (s.ok()) s = staged->Commit({.sync_parent = true});
    staged.reset();  // removes the staging directory unless it was committed
  }
  OCKPT_RETURN_IF_ERROR(group.ShareStatus(0, s));
  // --- Retention after the new step committed (save with a step and a policy) ---
  if (step && opt.retention) {
    Status pruned_status;
    if (primary) {
      GcObserver observer;
      observer.finished_interrupted = [&](const std::vector<std::string>& names) {
        ctx.Warn(fmt::format("{}: finished {} interrupted deletion{}", opt.dest, names.size(),
                             names.size() == 1 ? "" : "s"));
      };
      observer.deleted = [&](const std::string& name) {
        ctx.Warn(fmt::format("{}: retention policy deleted {}", opt.dest, name));
      };
      auto pruned = ApplyRetention(*root_lock, *opt.retention, observer);
      if (!pruned.ok()) {
        pruned_status = pruned.status().WithContext(fmt::format("step {} saved, but pruning old steps", *opt.step));
      }
    }
    return group.ShareStatus(0, pruned_status);
  }
  return Status::Ok();
}

}  // namespace ockpt::orbax
