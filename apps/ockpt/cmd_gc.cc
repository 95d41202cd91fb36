// ockpt gc ROOT [--max-to-keep N] [--keep-period N] [--keep-time-interval DURATION]
//          [--best-metric NAME [--best-mode min|max] [--drop-unscored]]
//          [--clean-tmp [--tmp-older-than DURATION]] [--dry-run] [--trash DIR] [--json] [--no-wait]

#include <memory>

#include "apps/ockpt/commands.h"
#include "lib/base/json.h"
#include "apps/ockpt/retention_flags.h"
#include "formats/orbax/steps.h"

namespace ockpt {

void RegisterGc(CLI::App& app, AppContext& ctx) {
  struct Opts {
    std::string root;
    RetentionFlags retention;
    bool clean_tmp = false;
    std::string tmp_older_than = "1h";
    bool dry_run = false;
    std::string trash;
    bool json = false;
    bool no_wait = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "gc", "Delete old steps of a manager root with CheckpointManager's retention rules");
  cmd->add_option("ROOT", o->root, "CheckpointManager root directory")->required();
  AddRetentionFlags(cmd, o->retention);
  CLI::Option* clean = cmd->add_flag("--clean-tmp", o->clean_tmp, "Remove old in-progress (*.orbax-checkpoint-tmp*) directories");
  cmd->add_option("--tmp-older-than", o->tmp_older_than, "Only in-progress directories this old (default 1h)")
      ->needs(clean);
  cmd->add_flag("--dry-run", o->dry_run, "Only print the plan");
  cmd->add_option("--trash", o->trash, "Move deleted steps into DIR (same file system) instead of deleting");
  cmd->add_flag("--json", o->json, "Print one JSON document");
  cmd->add_flag("--no-wait", o->no_wait, "Fail (exit 5) instead of waiting when another writer holds the lock");
  cmd->callback([o, &ctx] {
    ctx.action = [o, &ctx]() -> Result<int> {
      orbax::GcOptions g;
      OCKPT_ASSIGN_OR_RETURN(std::optional<RetentionPolicy> policy, o->retention.Policy());
      if (policy) g.policy = std::move(*policy);
      g.clean_tmp = o->clean_tmp;
      {
        auto d = ParseDuration(o->tmp_older_than);
        if (!d.ok()) return d.status().WithContext("--tmp-older-than");
        g.tmp_older_than_s = *d;
      }
      if (!o->trash.empty()) g.trash = o->trash;
      if (!g.policy.HasPolicy() && !g.clean_tmp) {
        return InvalidArgumentError(
            "gc needs a retention policy (--max-to-keep, --keep-period, --keep-time-interval) or --clean-tmp");
      }
      orbax::GcRunOptions run;
      run.dry_run = o->dry_run;
      run.wait = !o->no_wait;
      run.list.threads = ctx.threads;
      orbax::GcObserver observer;
      observer.finished_interrupted = [&](const std::vector<std::string>& names) {
        if (!o->json) {
          *ctx.out << fmt::format("finished {} interrupted deletion{}\n", names.size(), names.size() == 1 ? "" : "s");
        }
      };
      observer.planned = [&](const orbax::GcPlan& plan) {
        if (o->dry_run && !plan.listing.interrupted_deletes.empty() && !o->json) {
          *ctx.out << fmt::format("would finish {} interrupted deletion{}\n", plan.listing.interrupted_deletes.size(),
                                  plan.listing.interrupted_deletes.size() == 1 ? "" : "s");
        }
        if (o->json) {
          *ctx.out << DumpJson(orbax::GcPlanToJson(plan, o->dry_run), 2) << "\n";
        } else {
          orbax::PrintGcPlanText(plan, o->dry_run, g, *ctx.out);
        }
        ctx.out->flush();
      };
      auto done = orbax::RunGc(o->root, g, run, observer);
      if (!done.ok()) {
        if (done.status().code() == StatusCode::kUnavailable) {
          return Status(StatusCode::kUnavailable, done.status().message() + " (or drop --no-wait to wait)");
        }
        return done.status();
      }
      if (!o->dry_run && !o->json) *ctx.out << "done\n";
      return 0;
    };
  });
}

}  // namespace ockpt
