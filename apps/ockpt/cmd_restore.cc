// ockpt restore PATH OUT [--step N] [--item NAME] [--select GLOB]... [--dtype D]
//               [--format npy|npz|h5|safetensors] [--device cpu|host|cuda[:N]]
//               [--mesh AXIS=N,... [--spec GLOB=P,...]... [--shard I | --all-shards]]

#include <memory>

#include "apps/ockpt/commands.h"
#include "apps/ockpt/stdout_output.h"
#include "formats/npy/npy_dir.h"
#include "formats/orbax/restore.h"
#include "formats/registry.h"
#include "lib/staging/staging.h"

namespace ockpt {

void RegisterRestore(CLI::App& app, AppContext& ctx) {
  struct Opts {
    orbax::RestoreOptions restore;
    std::optional<int64_t> step;
    std::optional<std::string> item;
    std::string dtype;
    std::string device = "cpu";
    std::string format;
    std::string mesh;
    std::vector<std::string> specs;
    std::optional<int64_t> shard;
    bool all_shards = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("restore", "Write a checkpoint's arrays out (.npy directory + _tree.json)");
  cmd->add_option("PATH", opts->restore.path, "Item, checkpoint or manager root")->required();
  cmd->add_option("OUT", opts->restore.out,
                  "Output directory or file (must not exist); - : stdout (with --format npz, h5 or safetensors)")
      ->required();
  cmd->add_option("--step", opts->step, "Step of a manager root (default: latest committed)")->check(NonNegativeInt("100"));
  cmd->add_option("--item", opts->item, "Only this item of a composite checkpoint");
  cmd->add_option("--select", opts->restore.select, "Only leaves whose dotted name matches this glob (repeatable)");
  cmd->add_option("--dtype", opts->dtype, "Cast every array to this dtype (warns when lossy)");
  cmd->add_option("--format", opts->format,
                  "Output format: npy, npz, h5 (hdf5) or safetensors (default: from OUT's extension, else npy)");
  cmd->add_option("--device", opts->device,
                  "cpu, or cuda[:N]: also land each leaf in GPU memory and check it (host: the same with host memory)");
  CLI::Option* mesh = cmd->add_option(
      "--mesh", opts->mesh, "Sharded restore: a device mesh AXIS=N[,AXIS=N...] (docs/sharding.md)");
  cmd->add_option("--spec", opts->specs,
                  "GLOB=P[,P...]: a PartitionSpec for leaves matching GLOB, each P a mesh axis, axes "
                  "joined by '+', or None; first match wins; unmatched leaves are replicated (repeatable)")
      ->needs(mesh);
  CLI::Option* shard = cmd->add_option("--shard", opts->shard, "Write only device I's pieces into OUT")
                           ->check(NonNegativeInt("0"))
                           ->needs(mesh);
  cmd->add_flag("--all-shards", opts->all_shards,
                "Write every device's pieces into OUT/shard_<I>/ (the default with --mesh)")
      ->needs(mesh)
      ->excludes(shard);
  cmd->callback([opts, mesh, &ctx] {
    ctx.action = [opts, mesh, &ctx]() -> Result<int> {
      opts->restore.open = {opts->step, opts->item};
      if (!opts->dtype.empty()) {
        auto d = DTypeFromName(opts->dtype);
        if (!d.ok()) return InvalidArgumentError("--dtype: unknown dtype '{}'", opts->dtype);
        opts->restore.dtype = *d;
      }
      // cpu: no staging (null); host or cuda[:N]: a device context.
      OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<staging::DeviceRun> device, staging::DeviceRun::Open(opts->device));
      OCKPT_ASSIGN_OR_RETURN(std::string format, formats::OutputFormat(opts->restore.out, opts->format));
      if (mesh->count() > 0) {
        if (format != "npy") return InvalidArgumentError("--mesh writes .npy directories; not --format {}", format);
        orbax::ShardingOptions sharding;
        auto m = ParseMesh(opts->mesh);
        if (!m.ok()) return std::move(m).status().WithContext("--mesh");
        sharding.mesh = std::move(m).value();
        for (const std::string& text : opts->specs) {
          auto spec = ParseSpec(text, sharding.mesh);
          if (!spec.ok()) return std::move(spec).status().WithContext("--spec");
          sharding.specs.push_back(std::move(spec).value());
        }
        sharding.shard = opts->shard;  // unset: every shard (--all-shards); Restore checks the range
        opts->restore.sharding = std::move(sharding);
      }
      if (format != "npy") {
        opts->restore.sink_factory = [format](const std::string& path) { return formats::CreateSink(format, path); };
        opts->restore.single_file = true;
      }
      if (device) {  // each leaf also lands in device memory, checked against the host bytes
        auto inner = opts->restore.sink_factory;
        opts->restore.sink_factory = [inner, device](const std::string& path) -> Result<std::unique_ptr<CheckpointSink>> {
          OCKPT_ASSIGN_OR_RETURN(auto sink, inner ? inner(path) : npy::CreateNpyDirectorySink(path));
          return device->WrapSink(std::move(sink));
        };
      }
      if (opts->restore.out == "-") {  // a single file to stdout (stdout_output.h)
        OCKPT_RETURN_IF_ERROR(WriteToStdout(ctx, format, [&](const std::string& path) {
          orbax::RestoreOptions r = opts->restore;
          r.out = path;
          return ctx.Tracked("restore", [&](const Context& c) { return orbax::Restore(r, c); });
        }));
      } else {
        ctx.PrepareOutput(opts->restore.out);
        OCKPT_RETURN_IF_ERROR(formats::WithOutputName(
            ctx.Tracked("restore", [&](const Context& c) { return orbax::Restore(opts->restore, c); }),
            opts->restore.out));
        if (format == "npz") NoteNpzTree(ctx, opts->restore.out);
      }
      if (device && !ctx.quiet) *ctx.err << device->Report("restore");
      return 0;
    };
  });
}

}  // namespace ockpt
