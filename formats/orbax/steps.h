// The steps of a CheckpointManager root (docs/format/orbax.md §8): listing
// them with their state (`ockpt ls-steps`; step_listing.cc), applying
// retention (`ockpt gc`, `ockpt save --step --max-to-keep`; gc.cc), the
// writer lock (root_lock.cc) and rendering (steps_text.cc). Whether a step
// is committed is decided by CheckCheckpointListing (locator.h).
//
// Listing reads metadata only: `_CHECKPOINT_METADATA`, `metrics/metrics`,
// the names of item directories and one walk per step for its size. It
// never opens OCDBT or zarr data, so it stays fast on thousands of steps.
//
// Deleting is crash-safe: a step leaves the step namespace with one rename
// to `<root>/.ockpt-deleting-<name>-<pid>` (a name that neither Orbax's nor
// ockpt's step patterns match, and that every listing ignores), and only then
// is it removed. A gc killed midway leaves such directories behind; the next
// gc (FinishInterruptedDeletes) removes them.

#ifndef OCKPT_FORMATS_ORBAX_STEPS_H_
#define OCKPT_FORMATS_ORBAX_STEPS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "formats/orbax/locator.h"
#include "lib/base/context.h"
#include "lib/checkpoint/retention.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax {

// A directory with a step name (committed or incomplete).
struct StepInfo {
  int64_t step = 0;
  std::string name;                    // directory name: "10", "step_10", "0010"
  StepStatus status = StepStatus::kCommitted;
  std::string problem;                 // why kIncomplete
  std::optional<int64_t> commit_timestamp_nsecs;  // from _CHECKPOINT_METADATA
  int64_t mtime_ns = 0;                // the directory's mtime
  uint64_t bytes = 0;                  // sum of the sizes of the files below
  std::vector<std::string> items;      // subdirectory names, sorted
  Json metrics;                        // metrics/metrics, or null
  Json custom_metadata;                // _CHECKPOINT_METADATA custom_metadata, or null

  // The commit time Orbax uses for the step: the timestamp, else the mtime.
  int64_t time_ns() const { return commit_timestamp_nsecs.value_or(mtime_ns); }
};

// An in-progress save: a directory whose name contains ".orbax-checkpoint-tmp".
struct TmpDirInfo {
  std::string name;
  std::optional<int64_t> step;   // parsed from the name when possible
  int64_t newest_mtime_ns = 0;   // the newest mtime of the directory and everything below
  int64_t age_seconds = 0;       // now - newest_mtime, floored, >= 0
  uint64_t bytes = 0;
};

struct RootListing {
  std::string root;                        // as given
  std::vector<StepInfo> steps;             // sorted by step, then name
  std::vector<TmpDirInfo> tmp;             // sorted by name
  std::vector<std::string> interrupted_deletes;  // leftover .ockpt-deleting-* names
  std::optional<int64_t> latest_step;      // the largest committed step
  Json root_metadata;                      // metadata/_ROOT_METADATA, or null
  int64_t now_ns = 0;                      // the time ages were measured at
};

struct ListStepsOptions {
  int64_t now_ns = 0;  // 0 = the current time; ages are measured from it
  // Threads for the per-step metadata reads and size walks (0 = all cores).
  int threads = 0;
};

// kNotFound if root is missing, not a directory, or a checkpoint/item
// directory rather than a manager root (a directory of step directories;
// an empty directory is an empty root).
Status CheckManagerRoot(const std::string& root);

// Lists every step directory, in-progress directory and leftover of an
// interrupted gc. Fails as CheckManagerRoot does.
Result<RootListing> ListSteps(const std::string& root, const ListStepsOptions& options = {});

// `ls-steps --json` and the text forms: the table (one row per step and per
// in-progress directory), the summary (counts, the latest committed step,
// why steps are incomplete), and both.
Json RootListingToJson(const RootListing& listing);
void PrintRootListingTable(const RootListing& listing, std::ostream& out, bool header = true);
void PrintRootListingSummary(const RootListing& listing, std::ostream& out);
void PrintRootListingText(const RootListing& listing, std::ostream& out);

// --- Writer lock ---

// An advisory flock(2) on the root directory itself (no lock file is
// created), held until destruction. Writers (gc, save --step) take it;
// readers never need it.
class RootLock {
 public:
  RootLock(RootLock&& other) noexcept;
  RootLock& operator=(RootLock&& other) noexcept;
  RootLock(const RootLock&) = delete;
  RootLock& operator=(const RootLock&) = delete;
  ~RootLock();
  const std::string& path() const { return path_; }  // the root

 private:
  friend Result<RootLock> LockRoot(const std::string& root, bool wait);
  RootLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Takes the lock (root must exist). With wait=false and the lock held
// elsewhere: kUnavailable ("locked by another writer", exit 5).
Result<RootLock> LockRoot(const std::string& root, bool wait);

inline constexpr std::string_view kDeletingPrefix = ".ockpt-deleting-";

// --- Retention / gc ---

struct GcOptions {
  RetentionPolicy policy;          // policy.protect_step is filled in by PlanGc
  bool clean_tmp = false;
  int64_t tmp_older_than_s = 3600;
  std::optional<std::string> trash;  // rename into this directory instead of deleting
};

struct GcPlan {
  RootListing listing;
  bool has_policy = false;                   // false: steps are left alone
  std::vector<RetentionDecision> decisions;  // parallel to listing.steps (empty without a policy)
  std::vector<bool> remove_tmp;              // parallel to listing.tmp
  uint64_t bytes_freed = 0;                  // by the deletions planned
};

// Lists root and decides, without touching anything. kInvalidArgument for a
// bad policy, or for no policy and no clean_tmp.
Result<GcPlan> PlanGc(const std::string& root, const GcOptions& options,
                      const ListStepsOptions& list_options = {});

// Carries the plan out: each step or tmp dir to delete is renamed out of the
// step namespace (or into options.trash) and then removed. `done` is called
// after each one (for progress). The caller holds the lock.
Status ExecuteGc(const GcPlan& plan, const GcOptions& options,
                 const std::function<void(const std::string& name)>& done = {});

// Removes leftover `.ockpt-deleting-*` directories of interrupted deletions;
// returns their names. The caller holds the lock.
Result<std::vector<std::string>> FinishInterruptedDeletes(const std::string& root);

// `gc --json` and the text form of a plan.
Json GcPlanToJson(const GcPlan& plan, bool dry_run);
void PrintGcPlanText(const GcPlan& plan, bool dry_run, const GcOptions& options, std::ostream& out);

// --- The gc workflow ---

struct GcRunOptions {
  bool dry_run = false;  // plan only: no lock, nothing touched
  bool wait = true;      // wait for the lock; false: kUnavailable when held
  ListStepsOptions list;
};

// Told as a run goes; any may be empty.
struct GcObserver {
  // Leftovers of interrupted deletions, removed before planning.
  std::function<void(const std::vector<std::string>& names)> finished_interrupted;
  // The plan, before anything is deleted.
  std::function<void(const GcPlan& plan)> planned;
  // After each step or in-progress directory is gone.
  std::function<void(const std::string& name)> deleted;
};

struct GcResult {
  GcPlan plan;
  std::vector<std::string> finished_interrupted;
};

// The gc workflow: checks root is a manager root, takes the lock, finishes
// interrupted deletions, plans and executes (a dry run only plans).
Result<GcResult> RunGc(const std::string& root, const GcOptions& options, const GcRunOptions& run = {},
                       const GcObserver& observer = {});
// The same for a caller that already holds root's lock.
Result<GcResult> RunGcLocked(const RootLock& lock, const GcOptions& options,
                             const ListStepsOptions& list_options = {}, const GcObserver& observer = {});

// Applies a retention policy to a root whose lock the caller holds, e.g.
// right after a save committed a new step: RunGcLocked with only the policy
// (in-progress directories are left alone).
Result<GcResult> ApplyRetention(const RootLock& lock, const RetentionPolicy& policy,
                                const GcObserver& observer = {});

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_STEPS_H_
