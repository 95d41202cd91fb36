// What a path is, decided once: a PyTree item, a checkpoint, a manager root
// (and which of its steps), an in-progress save, or not a checkpoint. Also
// the one definition of "is this directory an item" and of "is this step
// committed", which OpenCheckpoint, ls-steps, gc and save --step all use.
// Reads directory listings and _CHECKPOINT_METADATA only.

#ifndef OCKPT_FORMATS_ORBAX_LOCATOR_H_
#define OCKPT_FORMATS_ORBAX_LOCATOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"
#include "lib/checkpoint/tree.h"

namespace ockpt::orbax {

// --- Names ---

struct StepName {
  int64_t step = 0;
  std::string name;  // directory name ("10", "step_10", "0010")
};
// Parses Orbax step names: "10", "<prefix>_10", zero-padded "0010".
std::optional<int64_t> ParseStepName(std::string_view name);
// True for in-progress names (anything containing ".orbax-checkpoint-tmp").
bool IsTmpName(std::string_view name);
// The step an in-progress name is for ("7.orbax-checkpoint-tmp-123" -> 7).
std::optional<int64_t> TmpNameStep(std::string_view name);

// --- Items ---

// The item detector: whether a directory with these top-level files and
// subdirectories is a PyTree item (_METADATA, manifest.ocdbt, the legacy
// msgpack file, ocdbt.process_* or per-leaf zarr arrays).
bool IsItemListing(const std::string& dir, const std::vector<std::string>& files,
                   const std::vector<std::string>& dirs);
// IsItemListing on dir's own listing.
bool LooksLikeItem(const std::string& dir);
// Whether path is a regular file holding a msgpack tree (its first byte
// opens a msgpack map): flax's own checkpoint files (`checkpoint_<step>`,
// or any name) and Orbax's legacy `checkpoint` file. Such a file is an item
// by itself, and a step of a root when its name is a step name.
bool LooksLikeMsgpackFile(const std::string& path);
// The JSON file of a JSON item directory ("metadata", "data.json" or the
// directory's own name, alone beside commit_success.txt), or "".
std::string JsonItemFile(const std::string& dir);

// --- Checkpoints and steps ---

enum class StepStatus { kCommitted, kInProgress, kIncomplete };
std::string_view StepStatusName(StepStatus status);

// What a checkpoint (step) directory's metadata and listing say about it.
struct CheckpointState {
  StepStatus status = StepStatus::kCommitted;
  std::string problem;             // why kIncomplete
  Json checkpoint_metadata;        // _CHECKPOINT_METADATA (object), or null
  std::vector<std::string> items;  // item subdirectories, sorted; {""} for a direct item
};

// THE definition of a committed checkpoint: incomplete when
// _CHECKPOINT_METADATA is unreadable or not an object, when an item named in
// its item_handlers is not on disk, or when it has neither metadata nor items.
// `files`/`dirs` are dir's top-level regular files and subdirectories, sorted.
CheckpointState CheckCheckpointListing(const std::string& dir,
                                       const std::vector<std::string>& files,
                                       const std::vector<std::string>& dirs);
// The same on dir's own listing (an unreadable directory is incomplete).
CheckpointState CheckCheckpointDir(const std::string& dir);

// Whether dir looks like a checkpoint / a manager root (a directory of step
// directories, at least one of which looks like a checkpoint or is being saved).
bool LooksLikeCheckpoint(const std::string& dir);
bool LooksLikeRoot(const std::string& dir);

// The top-level entries of a root, sorted, classified by the one rule of
// what is a step: directories with a step name, and flax checkpoint_<step>
// msgpack files; in-progress directories; hidden names (".*", where gc's
// interrupted deletions live) of either kind.
struct RootEntries {
  std::vector<StepName> steps;     // sorted by step, then name
  std::vector<std::string> tmp;    // in-progress directory names
  std::vector<std::string> hidden;
};
Result<RootEntries> ListRootEntries(const std::string& root);

// Step directories of a root (committed or not) with their state, and the
// in-progress ones, sorted by step then name. Lists top levels only.
struct RootSteps {
  std::vector<std::pair<StepName, CheckpointState>> steps;
  std::vector<std::string> tmp;  // in-progress directory names, sorted
  // The largest committed step (its index in steps).
  std::optional<size_t> latest_committed;
};
Result<RootSteps> ScanRootSteps(const std::string& root);
// Committed step directories under root, sorted by step (ScanRootSteps).
Result<std::vector<StepName>> ListCommittedSteps(const std::string& root);

// --- The locator ---

enum class LocationKind { kItem, kCheckpoint, kRoot, kInProgress, kNotCheckpoint };
std::string_view LocationKindName(LocationKind kind);

struct Location {
  LocationKind kind = LocationKind::kNotCheckpoint;
  std::string path;             // as given
  std::string dir;              // what to open: path, or the chosen step's directory
  std::optional<int64_t> step;  // kRoot: the chosen step
  std::string step_name;        // kRoot: its directory name
  // kRoot: newer steps passed over because they are not committed.
  std::vector<std::string> notes;
};

// What path is, without choosing a step. kNotFound when it does not exist.
Result<LocationKind> Classify(const std::string& path);

// Classifies path and, for a manager root, picks the step: `step`, else the
// latest committed one. kNotFound when path does not exist, when a root has
// no committed step, when `step` names a missing, incomplete or in-progress
// step, or when `step` is given for something that is not a root.
// A path that is no checkpoint is kNotCheckpoint, not an error.
Result<Location> Locate(const std::string& path, std::optional<int64_t> step = std::nullopt);

}  // namespace ockpt::orbax

#endif  // OCKPT_FORMATS_ORBAX_LOCATOR_H_
