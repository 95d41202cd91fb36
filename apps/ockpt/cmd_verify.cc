// ockpt verify PATH [--json] [--write-sums | --check-sums] [--step N] [--item NAME]

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "formats/orbax/verify.h"

namespace ockpt {

void RegisterVerify(CLI::App& app, AppContext& ctx) {
  struct Opts {
    orbax::VerifyOptions verify;
    std::optional<int64_t> step;
    std::optional<std::string> item;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("verify", "Read and check everything: OCDBT nodes and CRCs, every chunk, sums");
  cmd->add_option("PATH", o->verify.path, "Item, checkpoint or manager root")->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  auto* w = cmd->add_flag("--write-sums", o->verify.write_sums, "Store SHA-256 sums next to the checkpoint");
  auto* c = cmd->add_flag("--check-sums", o->verify.check_sums, "Compare against stored SHA-256 sums");
  w->excludes(c);
  cmd->add_option("--step", o->step, "Step of a manager root (default: latest committed)");
  cmd->add_option("--item", o->item, "Only this item of a composite checkpoint");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      o->verify.open = {o->step, o->item};
      OCKPT_ASSIGN_OR_RETURN(orbax::VerifyReport r, orbax::Verify(o->verify, ctx.LibContext()));
      if (o->json) {
        *ctx.out << DumpJson(orbax::VerifyReportToJson(r), 2) << "\n";
      } else {
        orbax::PrintVerifyReport(r, *ctx.out);
      }
      return r.ok() ? 0 : 1;
    };
  });
}

}  // namespace ockpt
