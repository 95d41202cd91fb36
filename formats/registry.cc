// Format registry and `convert`.

#include "formats/registry.h"
#include "lib/parallel/process_group.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "formats/hdf5/hdf5.h"
#include "formats/npy/npy_dir.h"
#include "formats/npz/npz.h"
#include "formats/orbax/restore.h"
#include "formats/safetensors/safetensors.h"
#include "lib/base/commit.h"
#include "lib/base/file.h"
#include "lib/checkpoint/casting_writer.h"
#include "lib/checkpoint/progress.h"
#include "lib/dtype/cast.h"

namespace ockpt::formats {
namespace {

constexpr uint64_t kCopyPiece = uint64_t{8} << 20;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string StripSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// A directory holding an Orbax checkpoint (not a .npy directory).
bool IsCheckpointDir(const std::string& path) {
  if (!IsDirectory(path) || IsRegularFile(JoinPath(path, "_tree.json"))) return false;
  auto kind = orbax::Classify(path);
  return kind.ok() && *kind != orbax::LocationKind::kNotCheckpoint;
}

Status StreamArray(const ArraySource& src, ArrayWriter& w, size_t elem, const std::string& name) {
  uint64_t size = src.size();
  uint64_t piece = std::max<uint64_t>(elem, kCopyPiece / elem * elem);
  Bytes buf(static_cast<size_t>(std::min(size, piece)), '\0');
  for (uint64_t at = 0; at < size; at += piece) {
    size_t n = static_cast<size_t>(std::min(piece, size - at));
    Status s = src.ReadAt(at, n, buf.data());
    if (!s.ok()) return std::move(s).WithContext(fmt::format("reading leaf '{}'", name));
    OCKPT_RETURN_IF_ERROR(w.WriteAt(at, ByteView(buf.data(), n)));
  }
  return Status::Ok();
}

Status CheckOutputFree(const std::string& out) {
  if (!PathExists(out)) return Status::Ok();
  auto names = ListDirectory(out);
  if (IsDirectory(out) && names.ok() && names->empty()) return Status::Ok();
  return AlreadyExistsError("{} already exists; convert will not overwrite it", out);
}

}  // namespace

std::string FormatFromExtension(const std::string& path) {
  std::string p = Lower(StripSlashes(path));
  if (EndsWith(p, ".npz")) return "npz";
  if (EndsWith(p, ".h5") || EndsWith(p, ".hdf5")) return "h5";
  if (EndsWith(p, ".safetensors")) return "safetensors";
  return "";
}

Result<std::string> OutputFormat(const std::string& path, const std::string& explicit_format) {
  if (!explicit_format.empty()) {
    std::string f = Lower(explicit_format);
    if (f == "hdf5") f = "h5";
    if (f == "npy" || f == "npz" || f == "h5" || f == "safetensors") return f;
    return InvalidArgumentError("output format must be npy, npz, h5 (or hdf5) or safetensors, not '{}'",
                                explicit_format);
  }
  std::string ext = FormatFromExtension(path);
  return ext.empty() ? std::string("npy") : ext;
}

Result<std::unique_ptr<CheckpointSink>> CreateSink(const std::string& format,
                                                   const std::string& path) {
  if (format == "npy") {
    OCKPT_RETURN_IF_ERROR(CheckOutputFree(path));
    return npy::CreateNpyDirectorySink(path);
  }
  if (format == "npz") return npz::CreateNpzSink(path);
  if (format == "h5") return hdf5::CreateHdf5Sink(path);
  if (format == "safetensors") return safetensors::CreateSafetensorsSink(path);
  return InvalidArgumentError("unknown output format '{}'", format);
}

namespace {

// A single .npy file: one leaf named after the file ("w.npy": "w").
class SingleNpySource final : public CheckpointSource {
 public:
  static Result<std::unique_ptr<CheckpointSource>> Open(const std::string& path) {
    auto s = std::unique_ptr<SingleNpySource>(new SingleNpySource());
    s->path_ = path;
    DType dtype;
    Shape shape;
    OCKPT_RETURN_IF_ERROR(npy::OpenNpyFile(path, &dtype, &shape).status());
    std::string name = Basename(path);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    LeafRecord r;
    r.keypath = {PathKey{name, KeyType::kDict}};
    r.value_type = std::string(kNpArray);
    r.dtype = dtype;
    r.shape = shape;
    s->leaves_.push_back(std::move(r));
    return std::unique_ptr<CheckpointSource>(std::move(s));
  }
  const std::vector<LeafRecord>& leaves() const override { return leaves_; }
  const Json& custom_metadata() const override { return custom_; }
  Result<std::unique_ptr<ArraySource>> OpenArray(size_t i) const override {
    DType d;
    Shape s;
    return npy::OpenNpyFile(path_, &d, &s);
  }
  std::string Describe() const override { return path_; }

 private:
  std::string path_;
  std::vector<LeafRecord> leaves_;
  Json custom_;
};

}  // namespace

Result<std::unique_ptr<CheckpointSource>> OpenSource(const std::string& path,
                                                     const std::optional<std::string>& item,
                                                     int threads) {
  if (!PathExists(path)) return MissingPathError(path, NotFoundError("source {} does not exist", path));
  if (IsDirectory(path)) return orbax::OpenSource(path, item, threads);
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0) {
    if (item) return InvalidArgumentError("item {} asked for, but {} is a single .npy file", *item, path);
    return SingleNpySource::Open(path);
  }
  std::string format = FormatFromExtension(path);
  if (format.empty()) {
    if (npz::LooksLikeZip(path)) {
      format = "npz";
    } else if (hdf5::LooksLikeHdf5(path)) {
      format = "h5";
    } else if (safetensors::LooksLikeSafetensors(path)) {
      format = "safetensors";
    } else if (orbax::LooksLikeMsgpackFile(path)) {
      return orbax::OpenSource(path, item, threads);  // a flax checkpoint file
    } else {
      return UnimplementedError(
          "source {}: not a format ockpt reads (an .npz, .h5/.hdf5 or .safetensors file, a .npy "
          "directory, a flax msgpack file or a checkpoint)",
          path);
    }
  }
  if (item)
    return InvalidArgumentError("item '{}' asked for, but {} is a single {} file, not a composite checkpoint",
                                *item, path, format);
  if (format == "npz") return npz::OpenNpzFile(path);
  if (format == "h5") return hdf5::OpenHdf5File(path);
  return safetensors::OpenSafetensorsFile(path);
}

Status CopyTree(const CheckpointSource& source, CheckpointSink& sink,
                const std::vector<std::string>& select, const std::optional<DType>& dtype,
                const Context& ctx) {
  for (const std::string& w : source.warnings()) ctx.Warn(w);
  const std::vector<LeafRecord>& leaves = source.leaves();
  std::vector<size_t> chosen;
  std::vector<LeafRecord> out;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const LeafRecord& r = leaves[i];
    if (!orbax::MatchesSelect(select, r.name())) continue;
    // A leaf whose data could not be described: the source's own cause,
    // before the sink sees the tree, so that every output format reports it
    // the same way (exit 4).
    if (!r.HasArrayData() && !IsEmptyNodeType(r.value_type) && r.value_type != kString) {
      Status cause = source.OpenArray(i).status();
      if (!cause.ok() && cause.code() != StatusCode::kNotFound) return cause;
      return DataLossError("{}: leaf '{}' ({}) has no readable array data", source.Describe(),
                           r.name(), r.value_type);
    }
    LeafRecord o = r;
    if (dtype && r.HasArrayData() && *r.dtype != *dtype) {
      OCKPT_RETURN_IF_ERROR(CheckCast(*r.dtype, *dtype));
      if (CastIsLossy(*r.dtype, *dtype)) {
        ctx.Warn(fmt::format("leaf '{}': casting {} to {} may lose information", r.name(),
                             Name(*r.dtype), Name(*dtype)));
      }
      o.dtype = dtype;
    }
    chosen.push_back(i);
    out.push_back(std::move(o));
  }
  if (!select.empty() && chosen.empty())
    return NotFoundError("no leaf of {} matches the selection", source.Describe());
  OCKPT_RETURN_IF_ERROR(sink.Begin(out));
  for (size_t k = 0; k < chosen.size(); ++k) {
    const LeafRecord& r = leaves[chosen[k]];
    const LeafRecord& o = out[k];
    std::string name = r.name();
    if (!r.HasArrayData()) {
      if (!IsEmptyNodeType(r.value_type) && r.value_type != kString) {
        return DataLossError("{}: leaf '{}' ({}) has no readable array data", source.Describe(),
                             name, r.value_type);
      }
      OCKPT_RETURN_IF_ERROR(sink.WriteLeaf(o));
      continue;
    }
    OCKPT_RETURN_IF_ERROR(sink.WriteArray(o, [&](ArrayWriter& w) -> Status {
      OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<ArraySource> src, source.OpenArray(chosen[k]));
      uint64_t expected = static_cast<uint64_t>(NumElements(*r.shape)) * SizeOf(*r.dtype);
      if (src->size() != expected) {
        return DataLossError("{}: leaf '{}' holds {} bytes, expected {}", source.Describe(), name,
                             src->size(), expected);
      }
      if (*o.dtype == *r.dtype) return StreamArray(*src, w, SizeOf(*r.dtype), name);
      CastingWriter caster(&w, *r.dtype, *o.dtype);
      return StreamArray(*src, caster, SizeOf(*r.dtype), name);
    }));
  }
  CarryFormatMetadata(source.format_metadata(), sink, !select.empty(), source.Describe(), ctx);
  return sink.Finish(source.custom_metadata());
}

Status WithOutputName(Status status, const std::string& out) {
  if (status.ok()) return status;
  std::string tmp = StripSlashes(out) + ProcessTmpSuffix();
  std::string msg = status.message();
  for (size_t at = msg.find(tmp); at != std::string::npos; at = msg.find(tmp, at + out.size())) {
    msg.replace(at, tmp.size(), StripSlashes(out));
  }
  return Status(status.code(), std::move(msg));
}

Result<std::string> ConvertTarget(const ConvertOptions& opt) {
  std::string f = Lower(opt.format);
  if (f == "orbax" || f == "checkpoint") return std::string("orbax");
  if (!f.empty()) return OutputFormat(opt.dst, f);
  std::string ext = FormatFromExtension(opt.dst);
  if (!ext.empty()) return ext;
  return std::string(IsCheckpointDir(opt.src) ? "npy" : "orbax");
}

Status Convert(const ConvertOptions& opt, const Context& ctx) {
  if (opt.src.empty() || opt.dst.empty()) return InvalidArgumentError("convert needs SRC and DST");
  if (!PathExists(opt.src)) return MissingPathError(opt.src, NotFoundError("source {} does not exist", opt.src));
  OCKPT_ASSIGN_OR_RETURN(std::string target, ConvertTarget(opt));

  if (target == "orbax") {
    if (!opt.select.empty() || opt.dtype) {
      return InvalidArgumentError(
          "leaf selection and dtype casts apply to file outputs; for a checkpoint, "
          "convert to a file first");
    }
    orbax::SaveOptions s;
    s.src = opt.src;
    s.dest = opt.dst;
    s.step = opt.step;
    s.layout = opt.layout;
    s.custom_metadata = opt.custom_metadata;
    s.src_item = opt.item;
    std::optional<std::string> item = opt.item;
    s.open_source = [item, threads = ctx.threads](const std::string& path) {
      return OpenSource(path, item, threads);
    };
    return orbax::Save(s, ctx);
  }

  // A multi-process run splits the work of checkpoint outputs only; N
  // processes writing one file output would race for its name.
  if (ctx.process_group != nullptr && ctx.process_group->size() > 1) {
    return InvalidArgumentError(
        "{} outputs are written by one process; in a multi-process run only checkpoint outputs are "
        "split among the processes (run this conversion without the launcher)",
        target);
  }
  const orbax::ArrayLayout& l = opt.layout;
  if (l.zarr3 || !l.ocdbt || l.zstd_level || !l.compress || !l.zstd_checksum || l.chunk_bytes ||
      l.chunk_shape || l.sharding ||
      !opt.custom_metadata.is_null()) {
    return InvalidArgumentError(
        "checkpoint layout options (zarr3, no OCDBT, compression, chunk size or shape, "
        "sharding, custom metadata) apply only when the destination is a checkpoint, not {}",
        target);
  }
  if (IsCheckpointDir(opt.src)) {
    // Restore's path: composites, manager roots, chunk-by-chunk reads.
    orbax::RestoreOptions r;
    r.path = opt.src;
    r.out = opt.dst;
    r.open = {opt.step, opt.item};
    r.select = opt.select;
    r.dtype = opt.dtype;
    if (target != "npy") {
      r.sink_factory = [target](const std::string& path) { return CreateSink(target, path); };
      r.single_file = true;
    }
    return WithOutputName(orbax::Restore(r, ctx), opt.dst);
  }

  if (opt.step)
    return InvalidArgumentError("{} is not a manager root, so a step ({}) does not apply", opt.src, *opt.step);
  OCKPT_RETURN_IF_ERROR(CheckOutputFree(opt.dst));
  OCKPT_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointSource> source,
                         OpenSource(opt.src, opt.item, ctx.threads));
  source = WithProgress(std::move(source), ctx);
  std::string out = StripSlashes(opt.dst);
  Status s;
  {
    OCKPT_ASSIGN_OR_RETURN(StagedOutput staged, StagedOutput::Begin(out, ProcessTmpSuffix()));
    {
      auto sink = CreateSink(target, staged.tmp_path());
      s = sink.ok() ? CopyTree(*source, **sink, opt.select, opt.dtype, ctx) : sink.status();
    }
    if (s.ok()) s = staged.Commit({.replace_empty_dir = true});  // an empty OUT was checked above
  }
  return WithOutputName(std::move(s), out);
}

}  // namespace ockpt::formats
