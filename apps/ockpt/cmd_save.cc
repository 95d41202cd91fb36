// ockpt save SRC DEST [--step N] [--item NAME=SRC]... [--json-item NAME=FILE]...
//            [--zarr3] [--no-ocdbt] [--compression zstd[:LEVEL]|none]
//            [--chunk-bytes N] [--chunk-shape A,B,...] [--custom-metadata JSON] [--metrics JSON]
//            [--device cpu|host|cuda[:N]]

#include <memory>

#include "apps/ockpt/commands.h"
#include "apps/ockpt/layout_flags.h"
#include "apps/ockpt/retention_flags.h"
#include "formats/orbax/save.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/registry.h"
#include "lib/staging/staging.h"

namespace ockpt {
namespace {

Result<std::pair<std::string, std::string>> SplitAssignment(const std::string& arg, std::string_view flag) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) {
    return InvalidArgumentError("{} expects NAME=PATH, got '{}'", flag, arg);
  }
  return std::make_pair(arg.substr(0, eq), arg.substr(eq + 1));
}

Result<Json> JsonArg(const std::string& text, std::string_view flag) {
  auto j = orbax::ParseJson(text);
  if (!j.ok()) return InvalidArgumentError("{}: not valid JSON: {}", flag, text);
  return j;
}

}  // namespace

void RegisterSave(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::vector<std::string> positional;
    std::optional<int64_t> step;
    std::vector<std::string> items, json_items;
    LayoutFlags layout;
    RetentionFlags retention;  // with --step: prune old steps after the save
    std::string custom_metadata, metrics;
    std::string device = "cpu";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("save", "Create a checkpoint that orbax-checkpoint restores");
  cmd->add_option("SRC DEST", o->positional, "Source (.npy directory, .npz, .h5, .safetensors or checkpoint) and destination; "
                                             "with --item/--json-item only DEST")
      ->expected(1, 2)->required();
  cmd->add_option("--step", o->step, "Save as step N of the manager root DEST")->check(NonNegativeInt("100"));
  cmd->add_option("--item", o->items, "NAME=SRC: a PyTree item of a composite checkpoint (repeatable)");
  cmd->add_option("--json-item", o->json_items, "NAME=FILE: a JSON item (repeatable)");
  AddLayoutFlags(cmd, o->layout,
                 {.zarr3 = "zarr v3 arrays with sharding_indexed in the v0 layout (--layout v1 for the v1 API's layout)",
                  .no_ocdbt = "One zarr directory per leaf instead of OCDBT",
                  .compression = "zstd[:LEVEL] (default zstd:1, zstd:3 with --zarr3) or none",
                  .chunk_bytes = "Split arrays into chunks of at most N bytes (Orbax's choice)",
                  .chunk_shape = "Force a chunk shape A,B,... (edge chunks may be partial)"});
  cmd->add_option("--custom-metadata", o->custom_metadata, "JSON for _CHECKPOINT_METADATA custom_metadata");
  cmd->add_option("--metrics", o->metrics, "JSON metrics for the step (with --step)");
  AddRetentionFlags(cmd, o->retention);  // --max-to-keep, --keep-period, ... (as `gc`)
  cmd->add_option("--device", o->device,
                  "cpu, or cuda[:N]: copy each array up to GPU memory first and save it from there "
                  "(host: the same with host memory)");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      orbax::SaveOptions s;
      bool composite = !o->items.empty() || !o->json_items.empty();
      if (o->positional.size() == 2) {
        s.src = o->positional[0];
        s.dest = o->positional[1];
      } else if (composite) {
        s.dest = o->positional[0];
      } else {
        return InvalidArgumentError("save needs SRC and DEST (or DEST with --item/--json-item)");
      }
      s.step = o->step;
      for (const std::string& a : o->items) {
        OCKPT_ASSIGN_OR_RETURN(auto kv, SplitAssignment(a, "--item"));
        s.items.push_back(kv);
      }
      for (const std::string& a : o->json_items) {
        OCKPT_ASSIGN_OR_RETURN(auto kv, SplitAssignment(a, "--json-item"));
        s.json_items.push_back(kv);
      }
      OCKPT_ASSIGN_OR_RETURN(s.layout, o->layout.Layout());
      if (!o->custom_metadata.empty()) {
        OCKPT_ASSIGN_OR_RETURN(s.custom_metadata, JsonArg(o->custom_metadata, "--custom-metadata"));
      }
      if (!o->metrics.empty()) {
        OCKPT_ASSIGN_OR_RETURN(s.metrics, JsonArg(o->metrics, "--metrics"));
      }
      s.open_source = [threads = ctx.threads](const std::string& path) {
        return formats::OpenSource(path, {}, threads);
      };
      // cpu: no staging (null); host or cuda[:N]: arrays are saved from device memory.
      OCKPT_ASSIGN_OR_RETURN(std::shared_ptr<staging::DeviceRun> device, staging::DeviceRun::Open(o->device));
      if (device) {
        s.open_source = [inner = s.open_source, device](const std::string& path) -> Result<std::unique_ptr<CheckpointSource>> {
          OCKPT_ASSIGN_OR_RETURN(auto src, inner(path));
          return device->WrapSource(std::move(src));
        };
      }
      OCKPT_ASSIGN_OR_RETURN(s.retention, o->retention.Policy());
      ctx.RemoveOnInterrupt(SaveTemporary(s.dest, s.step));
      OCKPT_RETURN_IF_ERROR(ctx.Tracked("save", [&](const Context& c) { return orbax::Save(s, c); }));
      if (device && !ctx.quiet) *ctx.err << device->Report("save");
      return 0;
    };
  });
}

}  // namespace ockpt
