// Retention and gc of a manager root: planning, crash-safe deletion, the
// recovery of interrupted deletions, and RunGc, the one workflow that
// `ockpt gc` and `ockpt save --step` retention both run.

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "formats/orbax/steps.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

namespace {

std::string P(std::string_view dir, std::string_view name) { return JoinPath(dir, name); }

// Moves root/name out of the step namespace: into trash, or to
// `.ockpt-deleting-<name>-<pid>` beside it. One atomic rename, so every
// state is either the untouched directory under its own name or a directory
// no step listing sees. Returns the new path.
Result<std::string> MoveOut(const std::string& root, const std::string& name, const std::optional<std::string>& trash) {
  std::string from = P(root, name);
  if (!HasAtomicRename(root)) {
    // Object stores: no rename. RemoveAll deletes the step's markers first,
    // so an interrupted deletion leaves a step that no longer looks committed.
    if (trash) return UnimplementedError("--trash needs a rename; {} is on an object store", root);
    return from;
  }
  if (trash) {
    std::string to = P(*trash, name);
    for (int i = 1; PathExists(to); ++i) to = P(*trash, fmt::format("{}.{}", name, i));
    if (::rename(from.c_str(), to.c_str()) != 0) {
      int err = errno;
      if (err == EXDEV) {
        return IoError("cannot move {} into the trash {}: it is on another file system (a rename is needed)",
                       from, *trash);
      }
      return StatusFromErrno(err, "rename to " + to + " from", from);
    }
    return to;
  }
  std::string base = fmt::format("{}{}-{}", kDeletingPrefix, name, ::getpid());
  std::string to = P(root, base);
  for (int i = 1; PathExists(to); ++i) to = P(root, fmt::format("{}.{}", base, i));
  OCKPT_RETURN_IF_ERROR(RenamePath(from, to));
  return to;
}

}  // namespace

Result<std::vector<std::string>> FinishInterruptedDeletes(const std::string& root) {
  OCKPT_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(root));
  std::vector<std::string> done;
  for (const std::string& n : names) {
    if (n.rfind(kDeletingPrefix, 0) != 0) continue;
    OCKPT_RETURN_IF_ERROR(RemoveAll(P(root, n)));
    done.push_back(n);
  }
  return done;
}

Result<GcPlan> PlanGc(const std::string& root, const GcOptions& options, const ListStepsOptions& list_options) {
  if (!options.policy.HasPolicy() && !options.clean_tmp) {
    return InvalidArgumentError("nothing to do: neither a retention policy nor a cleanup of in-progress saves");
  }
  OCKPT_RETURN_IF_ERROR(options.policy.Validate());
  if (options.tmp_older_than_s < 0) return InvalidArgumentError("the minimum age of in-progress saves to remove must not be negative");
  GcPlan plan;
  OCKPT_ASSIGN_OR_RETURN(plan.listing, ListSteps(root, list_options));
  const RootListing& l = plan.listing;
  plan.has_policy = options.policy.HasPolicy();
  if (plan.has_policy) {
    RetentionPolicy policy = options.policy;
    policy.protect_step = l.latest_step;
    std::vector<RetentionStep> steps;
    steps.reserve(l.steps.size());
    for (const StepInfo& s : l.steps) steps.push_back({s.step, s.time_ns(), s.metrics});
    plan.decisions = PlanRetention(steps, policy);
    for (size_t i = 0; i < l.steps.size(); ++i) {
      if (!plan.decisions[i].keep) plan.bytes_freed += l.steps[i].bytes;
    }
  }
  plan.remove_tmp.resize(l.tmp.size(), false);
  if (options.clean_tmp) {
    const __int128 threshold = static_cast<__int128>(options.tmp_older_than_s) * 1000000000;
    for (size_t i = 0; i < l.tmp.size(); ++i) {
      __int128 age = static_cast<__int128>(l.now_ns) - l.tmp[i].newest_mtime_ns;
      if (age >= threshold) {
        plan.remove_tmp[i] = true;
        plan.bytes_freed += l.tmp[i].bytes;
      }
    }
  }
  return plan;
}

Status ExecuteGc(const GcPlan& plan, const GcOptions& options,
                 const std::function<void(const std::string& name)>& done) {
  const RootListing& l = plan.listing;
  std::vector<std::string> names;
  for (size_t i = 0; i < plan.decisions.size(); ++i) {
    if (plan.decisions[i].keep) continue;
    const StepInfo& s = l.steps[i];
    // Belt and braces: the plan never deletes the latest committed step.
    if (l.latest_step && s.step == *l.latest_step && s.status == StepStatus::kCommitted) {
      return InternalError("refusing to delete the latest committed step {}", s.name);
    }
    names.push_back(s.name);
  }
  for (size_t i = 0; i < plan.remove_tmp.size(); ++i) {
    if (plan.remove_tmp[i]) names.push_back(l.tmp[i].name);
  }
  if (names.empty()) return Status::Ok();
  if (options.trash) OCKPT_RETURN_IF_ERROR(MakeDirectories(*options.trash));
  // 1. Rename everything out of the step namespace, 2. make the renames
  // durable (one fsync), 3. remove. A crash in 3 leaves only
  // .ockpt-deleting-* directories, which the next gc removes.
  std::vector<std::pair<std::string, std::string>> moved;  // name, new path
  Status status;
  for (const std::string& n : names) {
    auto to = MoveOut(l.root, n, options.trash);
    if (!to.ok()) {
      status = to.status();
      break;
    }
    moved.emplace_back(n, std::move(to).value());
  }
  if (!moved.empty()) {
    Status sync = SyncDirectory(l.root);
    if (sync.ok() && options.trash) sync = SyncDirectory(*options.trash);
    if (status.ok()) status = sync;
  }
  for (const auto& [name, path] : moved) {
    if (!options.trash) {
      Status rm = RemoveAll(path);
      if (!rm.ok()) {
        if (status.ok()) status = rm;
        continue;
      }
    }
    if (done) done(name);
  }
  return status;
}

Result<GcResult> RunGcLocked(const RootLock& lock, const GcOptions& options, const ListStepsOptions& list_options,
                             const GcObserver& observer) {
  const std::string& root = lock.path();
  GcResult result;
  OCKPT_ASSIGN_OR_RETURN(result.finished_interrupted, FinishInterruptedDeletes(root));
  if (observer.finished_interrupted && !result.finished_interrupted.empty()) {
    observer.finished_interrupted(result.finished_interrupted);
  }
  OCKPT_ASSIGN_OR_RETURN(result.plan, PlanGc(root, options, list_options));
  if (observer.planned) observer.planned(result.plan);
  OCKPT_RETURN_IF_ERROR(ExecuteGc(result.plan, options, observer.deleted));
  return result;
}

Result<GcResult> RunGc(const std::string& root, const GcOptions& options, const GcRunOptions& run,
                       const GcObserver& observer) {
  OCKPT_RETURN_IF_ERROR(CheckManagerRoot(root));
  if (run.dry_run) {
    // Readers never lock; a dry run only reads.
    GcResult result;
    OCKPT_ASSIGN_OR_RETURN(result.plan, PlanGc(root, options, run.list));
    if (observer.planned) observer.planned(result.plan);
    return result;
  }
  OCKPT_ASSIGN_OR_RETURN(RootLock lock, LockRoot(root, run.wait));
  return RunGcLocked(lock, options, run.list, observer);
}

Result<GcResult> ApplyRetention(const RootLock& lock, const RetentionPolicy& policy, const GcObserver& observer) {
  GcOptions options;
  options.policy = policy;
  return RunGcLocked(lock, options, ListStepsOptions{}, observer);
}

}  // namespace ockpt::orbax
