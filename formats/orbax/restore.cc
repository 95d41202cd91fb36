// Restore through a CheckpointSink.

#include "formats/orbax/restore.h"
#include "lib/parallel/process_group.h"

#include <algorithm>

#include <fmt/format.h>
#include <unistd.h>

#include "formats/npy/npy_dir.h"
#include "formats/orbax/layout.h"
#include "formats/orbax/restored_composite.h"
#include "formats/zarr/zarr_array.h"
#include "lib/base/commit.h"
#include "lib/base/file.h"
#include "lib/base/thread_pool.h"
#include "lib/checkpoint/casting_writer.h"
#include "lib/checkpoint/progress.h"
#include "lib/dtype/cast.h"

namespace ockpt::orbax {

bool MatchesSelect(const std::vector<std::string>& globs, const std::string& name) {
  if (globs.empty()) return true;
  for (const std::string& g : globs) {
    if (MatchesGlob(g, name)) return true;
  }
  return false;
}

namespace {

Status CheckItemName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return DataLossError("item '{}' cannot be used as a file name", name);
  }
  return Status::Ok();
}

// Streams the selected leaves of one item into sink. `prefix` is prepended to
// every key path (the item name when several items share one file).
//
// Leaves are written in tree order. Leaves of many chunks go through a
// LeafStream (their chunks decoded on ctx.threads workers while earlier
// leaves are written). When the sink takes several arrays at once
// (concurrent_arrays: the .npy directory), leaves of one chunk or of
// streamed chunks (Orbax's default one chunk per array) are each decoded and
// written by one worker, several leaves at once, so that a checkpoint of many
// large one-chunk arrays uses every core; their records are completed in
// order. One-chunk leaves of a MiB or less stay in the LeafStream, which
// reads their chunks in batches.
// A leaf that should hold array data but has none (its metadata could not
// be read): the cause found while reading, the same whatever the sink, and
// before any sink sees the tree (exit 4, not the sink's own complaint).
Status CheckLeafReadable(const PyTreeItem& item, const LeafRecord& r) {
  if (r.HasArrayData() || IsEmptyNodeType(r.value_type) || r.value_type == kString) {
    return Status::Ok();
  }
  // Data that the metadata promises but that is missing is damage (4),
  // not a "not found" of what the user asked for (3).
  const Status& cause = item.leaf_error();
  if (!cause.ok() && cause.code() != StatusCode::kNotFound) return cause;
  if (!cause.ok()) return Status(StatusCode::kDataLoss, std::string(cause.message()));
  return DataLossError("leaf '{}' in {} has no readable array data", r.name(), item.dir());
}

// One device of a sharded restore.
struct DeviceShard {
  const ShardingOptions* sharding = nullptr;
  int64_t device = 0;
};

// The piece of leaf r that the device holds: fills out's shape,
// global_shape and index; returns the box when it is not the whole array.
// kInvalidArgument naming the leaf when its spec does not fit it.
Result<std::optional<Box>> CutPiece(const DeviceShard& shard, const LeafRecord& r, LeafRecord* out) {
  const std::string name = r.name();
  const PartitionSpec* spec = FindSpec(shard.sharding->specs, name);
  auto box = DeviceBox(shard.sharding->mesh, spec, *r.shape, shard.device);
  if (!box.ok()) return std::move(box).status().WithContext(fmt::format("leaf '{}'", name));
  out->global_shape = *r.shape;
  out->index = box->Index();
  if (box->Covers(*r.shape)) return std::optional<Box>();
  // The stored chunking describes the whole array, not the piece.
  out->shape = box->extent;
  out->chunk_shape.reset();
  out->write_shape.reset();
  out->stored_bytes.reset();
  return std::optional<Box>(std::move(box).value());
}

Status RestoreItem(const PyTreeItem& item, CheckpointSink& sink, const KeyPath& prefix,
                   const RestoreOptions& opt, const DeviceShard* shard, const Context& ctx,
                   size_t* selected) {
  const auto& records = item.leaves();
  // kLeaf: no array data; kStream: through the LeafStream; kByLeaf: on a
  // worker (sink.concurrent_arrays()); kBox: a piece of a sharded restore,
  // in order (without concurrent_arrays).
  enum class How { kLeaf, kStream, kByLeaf, kBox };
  struct Step {
    size_t i = 0;
    LeafRecord out;
    How how = How::kLeaf;
    DType stored = DType::kUInt8, target = DType::kUInt8;
    uint64_t bytes = 0;  // memory while a worker writes it (kByLeaf)
    std::optional<Box> box;  // a piece that is not the whole leaf
    int threads = 1;         // the worker's own threads for the leaf (kByLeaf)
  };
  const bool by_leaf = sink.concurrent_arrays() && ResolveThreads(ctx.threads) > 1;
  std::vector<Step> steps;
  std::vector<size_t> stream_reads;
  for (size_t i = 0; i < records.size(); ++i) {
    const LeafRecord& r = records[i];
    std::string name = r.name();
    if (!MatchesSelect(opt.select, name)) continue;
    ++*selected;
    Step step;
    step.i = i;
    step.out = r;
    step.out.keypath.insert(step.out.keypath.begin(), prefix.begin(), prefix.end());
    bool wants_data =
        r.HasArrayData() || (!IsEmptyNodeType(r.value_type) && r.value_type != kString);
    if (!wants_data) {
      steps.push_back(std::move(step));
      continue;
    }
    OCKPT_RETURN_IF_ERROR(CheckLeafReadable(item, r));
    if (shard != nullptr) {
      OCKPT_ASSIGN_OR_RETURN(step.box, CutPiece(*shard, r, &step.out));
    }
    step.stored = *r.dtype;
    step.target = opt.dtype.value_or(step.stored);
    if (step.target != step.stored) {
      OCKPT_RETURN_IF_ERROR(CheckCast(step.stored, step.target));
      if (CastIsLossy(step.stored, step.target)) {
        ctx.Warn(fmt::format("leaf '{}': casting {} to {} may lose information", name,
                             Name(step.stored), Name(step.target)));
      }
      step.out.dtype = step.target;
    }
    const PyTreeItem::ReadPlan plan = item.LeafReadPlan(i);
    // Small one-chunk leaves go through the stream instead: their chunks
    // are read in batches there (one read for many leaves) and decoded
    // ahead, and a worker per leaf would only add file creations from two
    // threads (measured: 2,000 leaves of 4 KiB took 0.63 s instead of
    // 0.35 s with 2 threads).
    if (step.box) {
      // Pieces read only the chunks they overlap (PyTreeItem::ReadLeafBox):
      // on a worker each when the sink allows, else in order.
      step.how = by_leaf ? How::kByLeaf : How::kBox;
      step.bytes = plan.streamed ? uint64_t{4} << 20 : 2 * std::max<uint64_t>(plan.chunk_bytes, 1);
    } else if (by_leaf && (plan.streamed || (plan.chunks <= 1 &&
                                             plan.chunk_bytes > zarr::ZarrArray::kReadBatchChunkBytes))) {
      step.how = How::kByLeaf;
      step.bytes = 2 * std::max<uint64_t>(plan.chunk_bytes, 1);
      if (plan.streamed) {
        // Streamed chunks of one leaf are decoded by several threads at once
        // (each into its place), or one chunk with read-ahead and
        // write-behind beside its decoder (ZarrArray::Read).
        step.threads = ctx.threads;
        zarr::ReadOptions ro;
        ro.overlap_io = true;
        step.bytes = static_cast<uint64_t>(ResolveThreads(ctx.threads)) *
                     zarr::ZarrArray::StreamChunkBytes(ro);
      }
    } else {
      step.how = How::kStream;
      stream_reads.push_back(i);
    }
    ctx.AddProgressTotal(LeafBytes(step.out));
    steps.push_back(std::move(step));
  }
  std::unique_ptr<LeafStream> stream = item.StreamLeaves(std::move(stream_reads), ctx.threads);
  // Fills w with leaf `step`'s values, cast when asked.
  // (bytes written out count as progress)
  auto fill_from = [&ctx](const Step& step, ArrayWriter& out,
                          const std::function<Status(ArrayWriter&)>& read) {
    ProgressWriter counted(&out, ctx.progress_sink);
    ArrayWriter& w = ctx.progress_sink != nullptr ? static_cast<ArrayWriter&>(counted) : out;
    if (step.target == step.stored) return read(w);
    CastingWriter caster(&w, step.stored, step.target);
    return read(caster);
  };
  // Leaf `step`'s values (its piece, in a sharded restore) read on this thread.
  auto read_alone = [&item](const Step& step, ArrayWriter& x) {
    if (step.box) return item.ReadLeafBox(step.i, step.box->start, step.box->extent, x);
    return item.ReadLeaf(step.i, x, step.threads);
  };
  auto write_in_order = [&](const Step& step) -> Status {
    switch (step.how) {
      case How::kLeaf:
        return sink.WriteLeaf(step.out);
      case How::kStream:
        return sink.WriteArray(step.out, [&](ArrayWriter& w) {
          return fill_from(step, w, [&](ArrayWriter& x) { return stream->ReadLeaf(step.i, x); });
        });
      case How::kByLeaf:
        return sink.RecordArray(step.out);
      case How::kBox:
        return sink.WriteArray(step.out, [&](ArrayWriter& w) {
          return fill_from(step, w, [&](ArrayWriter& x) { return read_alone(step, x); });
        });
    }
    return InternalError("unknown restore step");
  };
  if (!by_leaf) {
    for (const Step& step : steps) OCKPT_RETURN_IF_ERROR(write_in_order(step));
    return Status::Ok();
  }
  PipelineOptions po;
  po.threads = ctx.threads;
  po.max_bytes_in_flight = uint64_t{128} << 20;
  po.task_bytes = [&](size_t k) { return steps[k].how == How::kByLeaf ? steps[k].bytes : 0; };
  return RunOrderedPipeline<bool>(
      steps.size(), po,
      [&](size_t k) -> Result<PipelineWork<bool>> {
        const Step& step = steps[k];
        if (step.how != How::kByLeaf) return PipelineWork<bool>([] { return Result<bool>(true); });
        return PipelineWork<bool>([&sink, &step, &fill_from, &read_alone]() -> Result<bool> {
          OCKPT_RETURN_IF_ERROR(sink.WriteArrayData(step.out, [&](ArrayWriter& w) {
            return fill_from(step, w, [&](ArrayWriter& x) { return read_alone(step, x); });
          }));
          return true;
        });
      },
      [&](size_t k, bool) -> Status { return write_in_order(steps[k]); });
}

Result<std::unique_ptr<CheckpointSink>> MakeSink(const RestoreOptions& opt,
                                                 const std::string& path) {
  if (opt.sink_factory) return opt.sink_factory(path);
  return npy::CreateNpyDirectorySink(path);
}

// What goes into the output beside the tree (FormatMetadataOf): with
// --select, not the _METADATA members that describe the whole tree (named
// in a warning).
Json ItemFormatMetadata(const Checkpoint* ckpt, const PyTreeItem& item, const RestoreOptions& opt,
                        const Context& ctx) {
  bool whole = opt.select.empty();
  if (!whole && !item.tree_metadata_extras().empty()) {
    std::string names;
    for (const auto& [k, v] : item.tree_metadata_extras().items()) names += (names.empty() ? "" : ", ") + k;
    ctx.Warn(fmt::format("{}: _METADATA's {} left out: it describes the whole tree, not a selection",
                         item.dir(), names));
  }
  return FormatMetadataOf(ckpt, item, whole);
}

Status RestoreInto(const Checkpoint& ckpt, const std::string& root, const RestoreOptions& opt,
                   const DeviceShard* shard, const Context& ctx) {
  size_t selected = 0;
  // A step saved with a single unnamed item restores straight into OUT.
  bool default_only = false;
  if (!opt.open.item) {
    bool has_default = false, others = false;
    for (const ItemEntry& e : ckpt.items) {
      if (e.name == kDefaultItem && e.kind == ItemKind::kPyTree)
        has_default = true;
      else if (e.name != kMetricsItem)
        others = true;
    }
    default_only = has_default && !others;
  }
  bool single = ckpt.items.size() == 1 && (ckpt.items[0].name.empty() || opt.open.item);
  bool flat = single || default_only;  // items' leaves go to OUT itself
  if (default_only) {
    for (const ItemEntry& e : ckpt.items) {
      if (e.name == kDefaultItem) continue;
      ctx.Warn(fmt::format("{}: item '{}' left out: the step's only PyTree item, '{}', restores straight into "
                           "the output (restore it with --item {})",
                           ckpt.dir, e.name, kDefaultItem, e.name));
    }
  }
  // A composite restored into .npy directories: what save needs to rebuild
  // it (restored_composite.h), written last.
  const bool record_items = !flat && !opt.single_file;
  RestoredCheckpoint restored_items;
  if (ckpt.checkpoint_metadata.is_object()) {
    restored_items.custom_metadata = ckpt.checkpoint_metadata.value("custom_metadata", Json());
  }

  std::vector<const ItemEntry*> items;
  for (const ItemEntry& e : ckpt.items) {
    if (default_only && e.name != kDefaultItem) continue;
    if (e.kind == ItemKind::kPyTree && !e.pytree) return e.error;
    items.push_back(&e);
  }

  std::unique_ptr<CheckpointSink> file_sink;
  if (opt.single_file) {
    OCKPT_ASSIGN_OR_RETURN(file_sink, MakeSink(opt, root));
    std::vector<LeafRecord> all;
    for (const ItemEntry* e : items) {
      if (e->kind != ItemKind::kPyTree) continue;
      for (const LeafRecord& r : e->pytree->leaves()) {
        if (!MatchesSelect(opt.select, r.name())) continue;
        OCKPT_RETURN_IF_ERROR(CheckLeafReadable(*e->pytree, r));
        LeafRecord copy = r;
        if (!flat) copy.keypath.insert(copy.keypath.begin(), PathKey{e->name, KeyType::kDict});
        if (opt.dtype && copy.dtype) copy.dtype = opt.dtype;
        all.push_back(std::move(copy));
      }
    }
    OCKPT_RETURN_IF_ERROR(file_sink->Begin(all));
  }
  Json custom = nullptr;
  size_t restored = 0;  // items written
  for (const ItemEntry* e : items) {
    switch (e->kind) {
      case ItemKind::kPyTree: {
        ++restored;
        KeyPath prefix;
        if (opt.single_file) {
          if (!flat) prefix.push_back({e->name, KeyType::kDict});
          OCKPT_RETURN_IF_ERROR(RestoreItem(*e->pytree, *file_sink, prefix, opt, shard, ctx, &selected));
          if (flat) {
            custom = e->pytree->custom_metadata();
            CarryFormatMetadata(ItemFormatMetadata(&ckpt, *e->pytree, opt, ctx), *file_sink,
                                /*partial=*/false, e->pytree->dir(), ctx);
          }
        } else {
          std::string dir = root;
          if (!flat) {
            OCKPT_RETURN_IF_ERROR(CheckItemName(e->name));
            dir = JoinPath(root, e->name);
          }
          OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointSink> sink, MakeSink(opt, dir));
          const size_t selected_before = selected;
          OCKPT_RETURN_IF_ERROR(RestoreItem(*e->pytree, *sink, prefix, opt, shard, ctx, &selected));
          // An item none of whose leaves is selected is not part of the
          // rebuilt composite (save refuses empty trees).
          if (selected > selected_before) restored_items.items.push_back({e->name, e->kind, e->handler});
          // The checkpoint's own metadata goes with the item only when the
          // item is all that is restored (OUT is then that checkpoint).
          CarryFormatMetadata(ItemFormatMetadata(flat ? &ckpt : nullptr, *e->pytree, opt, ctx), *sink,
                              /*partial=*/false, e->pytree->dir(), ctx);
          OCKPT_RETURN_IF_ERROR(sink->Finish(e->pytree->custom_metadata()));
        }
        break;
      }
      case ItemKind::kJson: {
        if (opt.single_file) {
          ctx.Warn(fmt::format("JSON item '{}' is not written to a single-file output", e->name));
          break;
        }
        OCKPT_RETURN_IF_ERROR(CheckItemName(e->name));
        OCKPT_ASSIGN_OR_RETURN(Bytes text, ReadFileConfined(e->json_file));
        OCKPT_RETURN_IF_ERROR(MakeDirectories(root));
        OCKPT_RETURN_IF_ERROR(WriteFile(JoinPath(root, RestoredItemPath(e->name, e->kind)), text));
        restored_items.items.push_back({e->name, e->kind, e->handler});
        ++selected;
        ++restored;
        break;
      }
      case ItemKind::kOpaque:
        if (opt.single_file) {
          ctx.Warn(fmt::format("item '{}' ({}) is not an Orbax PyTree or JSON item; skipped (a single-file "
                               "output has no place for it)",
                               e->name, e->dir));
          break;
        }
        if (!IsDirectory(e->dir)) {
          ctx.Warn(fmt::format("item '{}' ({}) is not an Orbax PyTree or JSON item, and its files cannot be "
                               "listed (not a directory, or a URL without listings); skipped",
                               e->name, e->dir));
          break;
        }
        // A custom handler's files, copied byte for byte (save copies them back).
        OCKPT_RETURN_IF_ERROR(CheckItemName(e->name));
        OCKPT_RETURN_IF_ERROR(CheckConfined(ckpt.dir, e->name));
        if (Status copied = CopyItemFiles(e->dir, JoinPath(root, RestoredItemPath(e->name, e->kind)), ctx);
            !copied.ok()) {
          if (copied.code() != StatusCode::kUnimplemented) return copied;
          ctx.Warn(fmt::format("item '{}' is not an Orbax PyTree or JSON item, and its files cannot be "
                               "copied: {}; skipped",
                               e->name, copied.message()));
          break;
        }
        restored_items.items.push_back({e->name, e->kind, e->handler});
        ++restored;
        break;
    }
  }
  if (file_sink) OCKPT_RETURN_IF_ERROR(file_sink->Finish(custom));
  if (record_items && !restored_items.items.empty()) {
    OCKPT_RETURN_IF_ERROR(WriteRestoredCheckpoint(root, restored_items));
  }
  if (restored == 0) {
    return NotFoundError("{} holds no PyTree or JSON item to restore; nothing restored", ckpt.dir);
  }
  if (!opt.select.empty() && selected == 0) {
    return NotFoundError("no leaf of {} matches the selection", ckpt.path);
  }
  return Status::Ok();
}


Status CheckSharding(const RestoreOptions& opt) {
  if (!opt.sharding) return InvalidArgumentError("a sharded restore needs a mesh");
  if (opt.single_file) return InvalidArgumentError("a sharded restore writes .npy directories only");
  return Status::Ok();
}

Status CheckShardIndex(const ShardingOptions& sharding, int64_t shard) {
  const int64_t n = sharding.mesh.num_devices();
  if (shard < 0 || shard >= n) {
    return InvalidArgumentError("shard {} is outside the mesh of {} device{} (0 to {})", shard, n,
                                n == 1 ? "" : "s", n - 1);
  }
  return Status::Ok();
}

Status CheckOutputFree(const std::string& out) {
  if (PathExists(out)) {
    auto names = ListDirectory(out);
    bool empty_dir = IsDirectory(out) && names.ok() && names->empty();
    if (!empty_dir) return AlreadyExistsError("{} already exists; restore will not overwrite it", out);
  }
  return Status::Ok();
}

Result<Checkpoint> OpenForRestore(const RestoreOptions& opt, const Context& ctx) {
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(opt.path, opt.open));
  for (const std::string& note : ckpt.notes) ctx.Warn(note);
  // As Orbax, a checkpoint given directly that misses some of its items
  // restores the others (a root's incomplete steps are never chosen).
  if (!ckpt.incomplete.empty()) ctx.Warn(fmt::format("{}: not committed: {}", ckpt.dir, ckpt.incomplete));
  return ckpt;
}

// The --all-shards layout written by the processes of a multi-process run
// (docs/sharding.md, "Multi-process runs"): process r restores devices r,
// r + N, r + 2N, ... into process 0's one staging directory, which process
// 0 commits after every process succeeded (processes beyond the device
// count write nothing). Every step that can fail on one process ends in an
// agreement, so all fail together and nothing is committed.
Status RestoreShardsInGroup(const RestoreOptions& opt, ProcessGroup& group, const Context& ctx) {
  const bool primary = group.rank() == 0;
  std::optional<StagedOutput> staged;
  std::optional<Checkpoint> ckpt;
  auto prepare = [&]() -> Status {
    OCKPT_RETURN_IF_ERROR(CheckSharding(opt));
    if (opt.sharding->shard) {
      return InvalidArgumentError(
          "a multi-process restore writes every device's shard, one process per shard; a single "
          "shard is written by one process");
    }
    if (primary) OCKPT_RETURN_IF_ERROR(CheckOutputFree(opt.out));
    OCKPT_ASSIGN_OR_RETURN(Checkpoint opened, OpenForRestore(opt, ctx));
    ckpt.emplace(std::move(opened));
    if (!primary) return Status::Ok();
    OCKPT_ASSIGN_OR_RETURN(StagedOutput begun, StagedOutput::Begin(opt.out, ProcessTmpSuffix()));
    staged.emplace(std::move(begun));
    return MakeDirectories(staged->tmp_path());
  };
  OCKPT_RETURN_IF_ERROR(group.AllOk(prepare()));
  std::string tmp = primary ? staged->tmp_path() : std::string();
  OCKPT_RETURN_IF_ERROR(group.Broadcast(0, &tmp));
  Status mine;
  for (int64_t d = group.rank(); mine.ok() && d < opt.sharding->mesh.num_devices(); d += group.size()) {
    DeviceShard shard{&*opt.sharding, d};
    const std::string dir = JoinPath(tmp, ShardDirName(d));
    mine = MakeDirectories(dir);
    if (mine.ok()) mine = RestoreInto(*ckpt, dir, opt, &shard, ctx);
  }
  Status s = group.AllOk(mine);
  if (primary) {
    if (s.ok()) s = staged->Commit({.replace_empty_dir = true});
    staged.reset();  // removes the staging directory unless it was committed
  }
  return group.ShareStatus(0, s);
}

}  // namespace

std::string ShardDirName(int64_t shard) { return fmt::format("shard_{}", shard); }

Status Restore(const RestoreOptions& opt, const Context& ctx) {
  if (ctx.process_group != nullptr && ctx.process_group->size() > 1) {
    if (!opt.sharding) {
      return InvalidArgumentError(
          "a multi-process restore writes one shard per process: it needs a device mesh (a whole "
          "restore is written by one process)");
    }
    return RestoreShardsInGroup(opt, *ctx.process_group, ctx);
  }
  OCKPT_RETURN_IF_ERROR(CheckOutputFree(opt.out));
  if (opt.sharding) {
    OCKPT_RETURN_IF_ERROR(CheckSharding(opt));
    if (opt.sharding->shard) OCKPT_RETURN_IF_ERROR(CheckShardIndex(*opt.sharding, *opt.sharding->shard));
  }
  OCKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenForRestore(opt, ctx));
  OCKPT_ASSIGN_OR_RETURN(StagedOutput staged, StagedOutput::Begin(opt.out, ProcessTmpSuffix()));
  if (!opt.single_file) OCKPT_RETURN_IF_ERROR(MakeDirectories(staged.tmp_path()));
  if (!opt.sharding) {
    OCKPT_RETURN_IF_ERROR(RestoreInto(ckpt, staged.tmp_path(), opt, nullptr, ctx));
  } else if (opt.sharding->shard) {
    DeviceShard shard{&*opt.sharding, *opt.sharding->shard};
    OCKPT_RETURN_IF_ERROR(RestoreInto(ckpt, staged.tmp_path(), opt, &shard, ctx));
  } else {
    for (int64_t d = 0; d < opt.sharding->mesh.num_devices(); ++d) {
      DeviceShard shard{&*opt.sharding, d};
      const std::string dir = JoinPath(staged.tmp_path(), ShardDirName(d));
      OCKPT_RETURN_IF_ERROR(MakeDirectories(dir));
      OCKPT_RETURN_IF_ERROR(RestoreInto(ckpt, dir, opt, &shard, ctx));
    }
  }
  return staged.Commit({.replace_empty_dir = true});
}

Status RestoreShard(const RestoreOptions& opt, int64_t shard, const Context& ctx) {
  OCKPT_RETURN_IF_ERROR(CheckSharding(opt));
  OCKPT_RETURN_IF_ERROR(CheckShardIndex(*opt.sharding, shard));
  RestoreOptions one = opt;
  one.sharding->shard = shard;
  return Restore(one, ctx);
}

}  // namespace ockpt::orbax
