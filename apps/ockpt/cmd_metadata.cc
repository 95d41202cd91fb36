// ockpt metadata PATH [--json] [--step N] [--item NAME]

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "formats/orbax/checkpoint_reader.h"

namespace ockpt {

void RegisterMetadata(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::string path;
    bool json = false;
    std::optional<int64_t> step;
    std::optional<std::string> item;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("metadata", "Describe a checkpoint's tree, dtypes and shapes (reads no array data)");
  cmd->add_option("PATH", opts->path, "Item, checkpoint or manager root")->required();
  cmd->add_flag("--json", opts->json, "Print one JSON document");
  cmd->add_option("--step", opts->step, "Step of a manager root (default: latest committed)");
  cmd->add_option("--item", opts->item, "Only this item of a composite checkpoint");
  cmd->callback([opts, &ctx] {
    ctx.action = [opts, &ctx]() -> Result<int> {
      orbax::OpenOptions open{opts->step, opts->item};
      OCKPT_ASSIGN_OR_RETURN(orbax::Checkpoint ckpt, orbax::OpenCheckpoint(opts->path, open));
      for (const auto& item : ckpt.items) {
        if (!item.error.ok()) ctx.Warn(item.error.message());
        else if (item.pytree && !item.pytree->leaf_error().ok()) ctx.Warn(item.pytree->leaf_error().message());
        if (item.pytree) {
          for (const std::string& w : item.pytree->warnings()) ctx.Warn(w);
        }
      }
      if (opts->json) {
        *ctx.out << DumpJson(orbax::CheckpointToJson(ckpt), 2) << "\n";
      } else {
        orbax::PrintCheckpointText(ckpt, *ctx.out);
      }
      return 0;
    };
  });
}

}  // namespace ockpt
