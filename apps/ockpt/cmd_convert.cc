// ockpt convert SRC DST [--format npy|npz|h5|safetensors|orbax] [--step N] [--item NAME]
//               [--select GLOB]... [--dtype D]
//               [--zarr3] [--no-ocdbt] [--compression zstd[:LEVEL]|none] [--chunk-bytes N]
//               [--chunk-shape A,B,...] [--custom-metadata JSON]

#include <memory>

#include "apps/ockpt/commands.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/registry.h"

namespace ockpt {
namespace {

Status ParseCompression(const std::string& text, orbax::ArrayLayout* layout) {
  if (text.empty() || text == "zstd") return Status::Ok();
  if (text == "none") {
    layout->compress = false;
    return Status::Ok();
  }
  if (text.rfind("zstd:", 0) == 0) {
    try {
      size_t used = 0;
      int level = std::stoi(text.substr(5), &used);
      if (used == text.size() - 5 && level >= -131072 && level <= 22) {
        layout->zstd_level = level;
        return Status::Ok();
      }
    } catch (const std::exception&) {
    }
    return InvalidArgumentError("--compression: bad zstd level in '{}'", text);
  }
  return InvalidArgumentError("--compression must be zstd[:LEVEL] or none, not '{}'", text);
}

Result<Shape> ParseChunkShape(const std::string& text) {
  Shape shape;
  std::string_view rest = text;
  while (true) {
    size_t comma = rest.find(',');
    std::string part(rest.substr(0, comma));
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::out_of_range("");
      shape.push_back(v);
    } catch (const std::exception&) {
      return InvalidArgumentError("--chunk-shape: '{}' is not a list of positive integers", text);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return shape;
}

}  // namespace

void RegisterConvert(CLI::App& app, AppContext& ctx) {
  struct Opts {
    formats::ConvertOptions convert;
    std::string dtype;
    bool zarr3 = false, no_ocdbt = false;
    std::string compression, chunk_shape, custom_metadata;
    std::optional<uint64_t> chunk_bytes;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert between checkpoints, .npy directories, .npz, HDF5 and safetensors");
  cmd->add_option("SRC", o->convert.src,
                  "Checkpoint, .npy directory, .npz, .h5/.hdf5 or .safetensors")
      ->required();
  cmd->add_option("DST", o->convert.dst, "Output (must not exist)")->required();
  cmd->add_option(
      "--format", o->convert.format,
      "npy, npz, h5 (hdf5), safetensors or orbax (default: from DST's extension; without one, a "
      ".npy directory when SRC is a checkpoint, else a checkpoint)");
  cmd->add_option(
      "--step", o->convert.step,
      "File outputs: the step of SRC (a manager root); checkpoint outputs: save as step N of DST");
  cmd->add_option("--item", o->convert.item, "Only this item of a composite SRC");
  cmd->add_option("--select", o->convert.select,
                  "File outputs: only leaves whose dotted name matches (repeatable)");
  cmd->add_option("--dtype", o->dtype,
                  "File outputs: cast every array to this dtype (warns when lossy)");
  cmd->add_flag("--zarr3", o->zarr3, "Checkpoint outputs: zarr v3 with sharding_indexed");
  cmd->add_flag("--no-ocdbt", o->no_ocdbt,
                "Checkpoint outputs: one zarr directory per leaf instead of OCDBT");
  cmd->add_option("--compression", o->compression, "Checkpoint outputs: zstd[:LEVEL] or none");
  cmd->add_option("--chunk-bytes", o->chunk_bytes, "Checkpoint outputs: chunks of at most N bytes")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--chunk-shape", o->chunk_shape,
                  "Checkpoint outputs: force a chunk shape A,B,...");
  cmd->add_option("--custom-metadata", o->custom_metadata,
                  "Checkpoint outputs: JSON for _CHECKPOINT_METADATA custom_metadata");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      formats::ConvertOptions& c = o->convert;
      if (!o->dtype.empty()) {
        auto d = DTypeFromName(o->dtype);
        if (!d.ok()) return InvalidArgumentError("--dtype: unknown dtype '{}'", o->dtype);
        c.dtype = *d;
      }
      c.layout.zarr3 = o->zarr3;
      c.layout.ocdbt = !o->no_ocdbt;
      OCKPT_RETURN_IF_ERROR(ParseCompression(o->compression, &c.layout));
      c.layout.chunk_bytes = o->chunk_bytes;
      if (!o->chunk_shape.empty()) {
        OCKPT_ASSIGN_OR_RETURN(Shape shape, ParseChunkShape(o->chunk_shape));
        c.layout.chunk_shape = shape;
      }
      if (!o->custom_metadata.empty()) {
        auto j = orbax::ParseJson(o->custom_metadata);
        if (!j.ok())
          return InvalidArgumentError("--custom-metadata: not valid JSON: {}", o->custom_metadata);
        c.custom_metadata = *j;
      }
      OCKPT_RETURN_IF_ERROR(formats::Convert(c, ctx.LibContext()));
      return 0;
    };
  });
}

}  // namespace ockpt
