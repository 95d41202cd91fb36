// ockpt: the command-line front end. Builds the CLI::App, registers the
// subcommands, runs the chosen one and maps its Status to an exit code.

#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/ockpt/app_context.h"
#include "apps/ockpt/commands.h"
#include "apps/ockpt/exit_codes.h"
#include "lib/base/allocator.h"
#include "lib/base/file.h"
#include "lib/base/utf8.h"

int main(int argc, char** argv) {
  ockpt::TuneAllocatorForChunkBuffers();  // chunk buffers: reuse, no page-fault churn
  ockpt::AppContext ctx;
  CLI::App app{"ockpt: create, inspect and convert Orbax checkpoints", "ockpt"};
  app.set_version_flag("--version", std::string("ockpt ") + OCKPT_VERSION);
  app.add_option("--threads", ctx.threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet", ctx.quiet, "No progress, no warnings");
  app.add_flag("--no-progress", ctx.no_progress, "No progress bars");
  bool allow_external_links = false;
  app.add_flag("--allow-external-links", allow_external_links,
               "Follow symbolic links from a checkpoint's files to outside its directory");
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
  ockpt::SetAllowExternalLinks(allow_external_links);
  // Library code returns errors as values; an exception escaping from a
  // third-party call is still reported (and unwinds, so temporary outputs
  // are cleaned up) rather than aborting.
  ockpt::Result<int> rc = ockpt::InternalError("internal error");
  try {
    rc = ctx.action();
  } catch (const std::exception& e) {
    rc = ockpt::InternalError("internal error: {}", e.what());
  }
  std::cout.flush();
  if (!rc.ok()) {
    std::cerr << "ockpt: " << ockpt::TextLine(rc.status().message()) << "\n";
    return ockpt::ExitCodeFor(rc.status().code());
  }
  return *rc;
}
