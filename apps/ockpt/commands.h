// One Register function per subcommand (one cmd_<name>.cc each). A Register
// function adds the subcommand and its flags to the app and, when the
// subcommand is chosen, sets ctx.action to one library call.

#ifndef OCKPT_APPS_OCKPT_COMMANDS_H_
#define OCKPT_APPS_OCKPT_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "apps/ockpt/app_context.h"
#include "apps/ockpt/cli_support.h"

namespace ockpt {

void RegisterMetadata(CLI::App& app, AppContext& ctx);
void RegisterRestore(CLI::App& app, AppContext& ctx);
void RegisterSave(CLI::App& app, AppContext& ctx);
void RegisterConvert(CLI::App& app, AppContext& ctx);
void RegisterDiff(CLI::App& app, AppContext& ctx);
void RegisterVerify(CLI::App& app, AppContext& ctx);
void RegisterOcdbt(CLI::App& app, AppContext& ctx);
void RegisterLsSteps(CLI::App& app, AppContext& ctx);
void RegisterGc(CLI::App& app, AppContext& ctx);

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_COMMANDS_H_
