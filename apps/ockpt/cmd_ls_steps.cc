// ockpt ls-steps ROOT [--json] [--no-header]
//
// The table goes to stdout; the summary and notes go to stderr.

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "formats/orbax/steps.h"

namespace ockpt {

void RegisterLsSteps(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::string root;
    bool json = false;
    bool no_header = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "ls-steps", "List the steps of a manager root: status, commit time, size, items, metrics (metadata only)");
  cmd->add_option("ROOT", o->root, "CheckpointManager root directory")->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  cmd->add_flag("--no-header", o->no_header, "Print the table without its header line");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      orbax::ListStepsOptions lo;
      lo.threads = ctx.threads;
      OCKPT_ASSIGN_OR_RETURN(orbax::RootListing listing, orbax::ListSteps(o->root, lo));
      if (!listing.interrupted_deletes.empty()) {
        ctx.Warn(fmt::format("{}: {} interrupted deletion{} left behind ({}...); `ockpt gc` finishes them", o->root,
                             listing.interrupted_deletes.size(), listing.interrupted_deletes.size() == 1 ? "" : "s",
                             orbax::kDeletingPrefix));
      }
      if (o->json) {
        *ctx.out << DumpJson(orbax::RootListingToJson(listing), 2) << "\n";
      } else {
        orbax::PrintRootListingTable(listing, *ctx.out, !o->no_header);
        if (!ctx.quiet) orbax::PrintRootListingSummary(listing, *ctx.err);
      }
      return 0;
    };
  });
}

}  // namespace ockpt
