// ockpt: the command-line front end. Builds the CLI::App, registers the
// subcommands, runs the chosen one and maps its Status to an exit code.

#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/ockpt/app_context.h"
#include "apps/ockpt/commands.h"
#include "apps/ockpt/exit_codes.h"
#include "lib/base/allocator.h"

int main(int argc, char** argv) {
  ockpt::TuneAllocatorForChunkBuffers();  // chunk buffers: reuse, no page-fault churn
  ockpt::AppContext ctx;
  CLI::App app{"ockpt: create, inspect and convert Orbax checkpoints", "ockpt"};
  app.set_version_flag("--version", std::string("ockpt ") + OCKPT_VERSION);
  app.add_option("--threads", ctx.threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet", ctx.quiet, "No progress, no warnings");
  app.add_flag("--no-progress", ctx.no_progress, "No progress bars");
  app.require_subcommand(1);
  ockpt::RegisterMetadata(app, ctx);
  ockpt::RegisterRestore(app, ctx);
  ockpt::RegisterSave(app, ctx);
  ockpt::RegisterConvert(app, ctx);
  ockpt::RegisterDiff(app, ctx);
  ockpt::RegisterVerify(app, ctx);
  ockpt::RegisterOcdbt(app, ctx);
  ockpt::RegisterLsSteps(app, ctx);
  ockpt::RegisterGc(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : ockpt::kExitUsage;
  }
  if (!ctx.action) return ockpt::kExitUsage;
  ockpt::Result<int> rc = ctx.action();
  std::cout.flush();
  if (!rc.ok()) {
    std::cerr << "ockpt: " << rc.status().message() << "\n";
    return ockpt::ExitCodeFor(rc.status().code());
  }
  return *rc;
}
