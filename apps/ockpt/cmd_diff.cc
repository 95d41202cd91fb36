// ockpt diff A B [--atol X] [--rtol Y] [--json] [--item NAME] [-q|--brief]

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "formats/registry.h"
#include "lib/checkpoint/diff.h"
#include "lib/checkpoint/progress.h"

namespace ockpt {

void RegisterDiff(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::string a, b;
    DiffOptions diff;
    bool json = false;
    bool brief = false;
    std::optional<std::string> item;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("diff", "Compare two checkpoints (or any sources save accepts) leaf by leaf");
  cmd->add_option("A", o->a, "First checkpoint or source")->required();
  cmd->add_option("B", o->b, "Second checkpoint or source")->required();
  cmd->add_option("--atol", o->diff.atol, "Absolute tolerance (floating types only)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--rtol", o->diff.rtol, "Relative tolerance (floating types only): |a-b| <= atol + rtol*|b|")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--item", o->item, "Item of a composite checkpoint to compare");
  cmd->add_flag("--json", o->json, "Print one JSON document");
  cmd->add_flag("-q,--brief", o->brief,
                "Only report whether A and B differ (one line \"A and B differ\", nothing when identical); "
                "stops at the first difference");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      if (o->brief && o->json) return InvalidArgumentError("-q/--brief and --json cannot be combined");
      OCKPT_ASSIGN_OR_RETURN(auto a, formats::OpenSource(o->a, o->item, ctx.threads));
      OCKPT_ASSIGN_OR_RETURN(auto b, formats::OpenSource(o->b, o->item, ctx.threads));
      for (const auto* s : {a.get(), b.get()}) {
        for (const std::string& w : s->warnings()) ctx.Warn(w);
      }
      o->diff.stop_at_first = o->brief;
      DiffResult r;
      OCKPT_RETURN_IF_ERROR(ctx.Tracked("diff", [&](const Context& c) -> Status {
        for (const LeafRecord& leaf : a->leaves()) c.AddProgressTotal(LeafBytes(leaf));
        o->diff.progress = [&c](uint64_t n) { c.AddProgressDone(n); };
        OCKPT_ASSIGN_OR_RETURN(r, DiffTrees(*a, *b, o->diff));
        return Status::Ok();
      }));
      if (o->brief) {
        if (!r.identical()) *ctx.out << o->a << " and " << o->b << " differ\n";
      } else if (o->json) {
        *ctx.out << DumpJson(DiffToJson(r, o->a, o->b), 2) << "\n";
      } else {
        PrintDiffText(r, o->a, o->b, *ctx.out);
      }
      return r.identical() ? 0 : 1;
    };
  });
}

}  // namespace ockpt
