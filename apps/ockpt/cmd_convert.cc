// ockpt convert SRC DST [--format npy|npz|h5|safetensors|orbax] [--step N] [--item NAME]
//               [--select GLOB]... [--dtype D]
//               [--zarr3] [--no-ocdbt] [--compression zstd[:LEVEL]|none] [--chunk-bytes N]
//               [--chunk-shape A,B,...] [--custom-metadata JSON]

#include <memory>

#include "apps/ockpt/commands.h"
#include "apps/ockpt/stdout_output.h"
#include "apps/ockpt/layout_flags.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/registry.h"

namespace ockpt {
void RegisterConvert(CLI::App& app, AppContext& ctx) {
  struct Opts {
    formats::ConvertOptions convert;
    std::string dtype;
    LayoutFlags layout;
    std::string custom_metadata;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert between checkpoints, .npy directories, .npz, HDF5 and safetensors");
  cmd->add_option("SRC", o->convert.src,
                  "Checkpoint, .npy directory, .npz, .h5/.hdf5 or .safetensors")
      ->required();
  cmd->add_option("DST", o->convert.dst,
                  "Output (must not exist); - : stdout (with --format npz, h5 or safetensors)")
      ->required();
  cmd->add_option(
      "--format", o->convert.format,
      "npy, npz, h5 (hdf5), safetensors or orbax (default: from DST's extension; without one, a "
      ".npy directory when SRC is a checkpoint, else a checkpoint)");
  cmd->add_option(
      "--step", o->convert.step,
      "File outputs: the step of SRC (a manager root); checkpoint outputs: save as step N of DST")
      ->check(NonNegativeInt("100"));
  cmd->add_option("--item", o->convert.item, "Only this item of a composite SRC");
  cmd->add_option("--select", o->convert.select,
                  "File outputs: only leaves whose dotted name matches (repeatable)");
  cmd->add_option("--dtype", o->dtype,
                  "File outputs: cast every array to this dtype (warns when lossy)");
  AddLayoutFlags(cmd, o->layout,
                 {.zarr3 = "Checkpoint outputs: zarr v3 with sharding_indexed",
                  .no_ocdbt = "Checkpoint outputs: one zarr directory per leaf instead of OCDBT",
                  .compression = "Checkpoint outputs: zstd[:LEVEL] or none",
                  .chunk_bytes = "Checkpoint outputs: chunks of at most N bytes",
                  .chunk_shape = "Checkpoint outputs: force a chunk shape A,B,..."});
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
      OCKPT_ASSIGN_OR_RETURN(c.layout, o->layout.Layout());
      if (!o->custom_metadata.empty()) {
        auto j = orbax::ParseJson(o->custom_metadata);
        if (!j.ok())
          return InvalidArgumentError("--custom-metadata: not valid JSON: {}", o->custom_metadata);
        c.custom_metadata = *j;
      }
      OCKPT_ASSIGN_OR_RETURN(std::string target, formats::ConvertTarget(c));
      if (c.dst == "-") {  // a single file to stdout (stdout_output.h)
        OCKPT_RETURN_IF_ERROR(WriteToStdout(ctx, target, [&](const std::string& path) {
          formats::ConvertOptions cc = c;
          cc.dst = path;
          cc.format = target;
          return ctx.Tracked("convert", [&](const Context& lc) { return formats::Convert(cc, lc); });
        }));
        return 0;
      }
      if (target == "orbax") {
        ctx.RemoveOnInterrupt(SaveTemporary(c.dst, c.step));
      } else {
        ctx.PrepareOutput(c.dst);
      }
      OCKPT_RETURN_IF_ERROR(ctx.Tracked("convert", [&](const Context& lc) { return formats::Convert(c, lc); }));
      if (target == "npz") NoteNpzTree(ctx, c.dst);
      return 0;
    };
  });
}

}  // namespace ockpt
