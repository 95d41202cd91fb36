// ockpt diff A B [--atol X] [--rtol Y] [--json] [--item NAME]

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "formats/registry.h"
#include "lib/checkpoint/diff.h"

namespace ockpt {

void RegisterDiff(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::string a, b;
    DiffOptions diff;
    bool json = false;
    std::optional<std::string> item;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("diff", "Compare two checkpoints (or any sources save accepts) leaf by leaf");
  cmd->add_option("A", o->a, "First checkpoint or source")->required();
  cmd->add_option("B", o->b, "Second checkpoint or source")->required();
  cmd->add_option("--atol", o->diff.atol, "Absolute tolerance")->check(CLI::NonNegativeNumber);
  cmd->add_option("--rtol", o->diff.rtol, "Relative tolerance: |a-b| <= atol + rtol*|b|")->check(CLI::NonNegativeNumber);
  cmd->add_option("--item", o->item, "Item of a composite checkpoint to compare");
  cmd->add_flag("--json", o->json, "Print one JSON document");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      OCKPT_ASSIGN_OR_RETURN(auto a, formats::OpenSource(o->a, o->item, ctx.threads));
      OCKPT_ASSIGN_OR_RETURN(auto b, formats::OpenSource(o->b, o->item, ctx.threads));
      for (const auto* s : {a.get(), b.get()}) {
        for (const std::string& w : s->warnings()) ctx.Warn(w);
      }
      OCKPT_ASSIGN_OR_RETURN(DiffResult r, DiffTrees(*a, *b, o->diff));
      if (o->json) {
        *ctx.out << DumpJson(DiffToJson(r, o->a, o->b), 2) << "\n";
      } else {
        PrintDiffText(r, o->a, o->b, *ctx.out);
      }
      return r.identical() ? 0 : 1;
    };
  });
}

}  // namespace ockpt
