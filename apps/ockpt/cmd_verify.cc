// ockpt verify PATH [--json] [--write-sums | --check-sums] [--step N | --all-steps] [--item NAME]

#include <fmt/format.h>

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
    bool all_steps = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("verify", "Read and check everything: OCDBT nodes and CRCs, every chunk, sums");
  cmd->add_option("PATH", o->verify.path, "Item, checkpoint or manager root")->required();
  cmd->add_flag("--json", o->json, "Print one JSON document");
  auto* w = cmd->add_flag("--write-sums", o->verify.write_sums, "Store SHA-256 sums next to the checkpoint");
  auto* c = cmd->add_flag("--check-sums", o->verify.check_sums,
                          "Compare against stored SHA-256 sums (also done when a sums file is there)");
  w->excludes(c);
  auto* step = cmd->add_option("--step", o->step, "Step of a manager root (default: latest committed)")
                   ->check(NonNegativeInt("100"));
  cmd->add_flag("--all-steps", o->all_steps, "Check every committed step of the manager root PATH")->excludes(step);
  cmd->add_option("--item", o->item, "Only this item of a composite checkpoint");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      std::vector<std::optional<int64_t>> steps = {o->step};
      if (o->all_steps) {
        OCKPT_ASSIGN_OR_RETURN(std::vector<orbax::StepName> names, orbax::ListCommittedSteps(o->verify.path));
        if (names.empty()) return NotFoundError("{}: no committed steps to verify", o->verify.path);
        steps.clear();
        for (const orbax::StepName& n : names) steps.push_back(n.step);
      }
      std::vector<orbax::VerifyReport> reports;
      OCKPT_RETURN_IF_ERROR(ctx.Tracked("verify", [&](const Context& lc) -> Status {
        for (const std::optional<int64_t>& s : steps) {
          orbax::VerifyOptions v = o->verify;
          v.open = {s, o->item};
          OCKPT_ASSIGN_OR_RETURN(orbax::VerifyReport r, orbax::Verify(v, lc));
          reports.push_back(std::move(r));
        }
        return Status::Ok();
      }));
      bool ok = true;
      for (const orbax::VerifyReport& r : reports) ok = ok && r.ok();
      if (o->json) {
        if (o->all_steps) {
          Json doc;
          doc["root"] = o->verify.path;
          doc["ok"] = ok;
          doc["steps"] = Json::array();
          for (const orbax::VerifyReport& r : reports) doc["steps"].push_back(orbax::VerifyReportToJson(r));
          *ctx.out << DumpJson(doc, 2) << "\n";
        } else {
          *ctx.out << DumpJson(orbax::VerifyReportToJson(reports[0]), 2) << "\n";
        }
      } else {
        for (const orbax::VerifyReport& r : reports) orbax::PrintVerifyReport(r, *ctx.out);
        if (o->all_steps) {
          size_t bad = 0;
          for (const orbax::VerifyReport& r : reports) bad += r.ok() ? 0 : 1;
          *ctx.out << fmt::format("{}: {} of {} committed steps OK\n", o->verify.path, reports.size() - bad,
                                  reports.size());
        }
      }
      return ok ? 0 : 1;
    };
  });
}

}  // namespace ockpt
