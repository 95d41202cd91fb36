// Classifying paths: items, checkpoints, manager roots and their steps.

#include "formats/orbax/locator.h"

#include <fmt/format.h>

#include <algorithm>

#include "formats/orbax/layout.h"
#include "formats/orbax/side_json.h"
#include "lib/base/file.h"

namespace ockpt::orbax {

namespace {

std::string P(std::string_view dir, std::string_view name) { return JoinPath(dir, name); }

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// dir's regular files and subdirectories (symlinks followed), sorted.
Status TopListing(const std::string& dir, std::vector<std::string>* files,
                  std::vector<std::string>* dirs) {
  OCKPT_ASSIGN_OR_RETURN(std::vector<DirEntryInfo> entries, ListDirectoryEntries(dir));
  for (DirEntryInfo& e : entries) (e.is_dir ? dirs : files)->push_back(std::move(e.name));
  return Status::Ok();
}

bool Has(const std::vector<std::string>& sorted, std::string_view name) {
  return std::binary_search(sorted.begin(), sorted.end(), std::string(name));
}

// A subdirectory that may be an item of a checkpoint.
bool IsItemDirName(std::string_view name) {
  return !name.empty() && name[0] != '.' && !IsTmpName(name);
}

}  // namespace

// --- Names ---

bool IsTmpName(std::string_view name) { return name.find(kTmpSuffix) != std::string_view::npos; }

std::optional<int64_t> ParseStepName(std::string_view name) {
  if (IsTmpName(name)) return std::nullopt;
  size_t us = name.rfind('_');
  std::string_view digits = us == std::string_view::npos ? name : name.substr(us + 1);
  if (us != std::string_view::npos && us == 0) return std::nullopt;
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<int64_t> TmpNameStep(std::string_view name) {
  size_t pos = name.find(kTmpSuffix);
  if (pos == std::string_view::npos) return std::nullopt;
  std::string_view base = name.substr(0, pos);
  constexpr std::string_view kPartial = ".partial_save";
  if (EndsWith(base, kPartial) && base.size() > kPartial.size())
    base.remove_suffix(kPartial.size());
  if (base.empty() || base[0] == '.') return std::nullopt;
  return ParseStepName(base);
}

// --- Items ---

bool IsItemListing(const std::string& dir, const std::vector<std::string>& files,
                   const std::vector<std::string>& dirs) {
  for (const std::string& f : files) {
    if (f == kTreeMetadataFile || f == kManifestFile || f == kLegacyMsgpackFile) return true;
  }
  for (const std::string& d : dirs) {
    if (d.rfind(kProcessDirPrefix, 0) == 0) return true;
  }
  for (const std::string& d : dirs) {
    std::string sub = P(dir, d);
    if (IsRegularFile(P(sub, ".zarray")) || IsRegularFile(P(sub, "zarr.json"))) return true;
  }
  return false;
}

bool LooksLikeMsgpackFile(const std::string& path) {
  if (!IsRegularFile(path)) return false;
  auto head = ReadFileRange(path, 0, 4);
  if (!head.ok() || head->empty()) return false;
  auto at = [&](size_t i) { return i < head->size() ? static_cast<uint8_t>((*head)[i]) : 0x100; };
  // A state dict is a map whose first key is a string (str or bin): that
  // excludes the other formats' magic numbers (HDF5 0x89 'H', a
  // safetensors header length, zip, npy).
  auto str_type = [](unsigned b) { return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb) || (b >= 0xc4 && b <= 0xc6); };
  unsigned b = at(0);
  if (b == 0x80) return head->size() == 1;           // {} and nothing else
  if (b >= 0x81 && b <= 0x8f) return str_type(at(1));  // fixmap
  if (b == 0xde) return str_type(at(3));               // map16
  if (b == 0xdf) return false;                         // map32: no state dict has 65536+ top keys
  return false;
}

bool LooksLikeItem(const std::string& dir) {
  std::vector<std::string> files, dirs;
  if (!TopListing(dir, &files, &dirs).ok()) return false;
  return IsItemListing(dir, files, dirs);
}

std::string JsonItemFile(const std::string& dir) {
  auto names = ListDirectory(dir);
  if (!names.ok()) return "";
  std::string base = Basename(dir);
  std::string found;
  for (const std::string& n : *names) {
    if (n == kCommitSuccessFile) continue;
    if ((n == "metadata" || n == "data.json" || n == base) && IsRegularFile(P(dir, n))) {
      if (!found.empty()) return "";
      found = n;
    } else {
      return "";
    }
  }
  return found;
}

// --- Checkpoints and steps ---

std::string_view StepStatusName(StepStatus status) {
  switch (status) {
    case StepStatus::kCommitted:
      return "committed";
    case StepStatus::kInProgress:
      return "in_progress";
    case StepStatus::kIncomplete:
      return "incomplete";
  }
  return "unknown";
}

CheckpointState CheckCheckpointListing(const std::string& dir,
                                       const std::vector<std::string>& files,
                                       const std::vector<std::string>& dirs) {
  CheckpointState s;
  // On an object store (no atomic rename) a step is committed only by its
  // commit_success.txt, written last, as Orbax's CommitFile mode decides.
  if (!HasAtomicRename(dir) && !Has(files, kCommitSuccessFile)) {
    s.status = StepStatus::kIncomplete;
    s.problem = fmt::format("no {} (on an object store the marker commits a step)", kCommitSuccessFile);
  }
  bool direct_item = IsItemListing(dir, files, dirs);
  bool has_md = Has(files, kCheckpointMetadataFile);
  if (has_md) {
    auto j = ReadSideJson(P(dir, kCheckpointMetadataFile));
    if (!j.ok()) {
      s.status = StepStatus::kIncomplete;
      s.problem = fmt::format("unreadable {}: {}", kCheckpointMetadataFile, j.status().message());
    } else if (!j->is_object()) {
      s.status = StepStatus::kIncomplete;
      s.problem = fmt::format("{} is not a JSON object", P(dir, kCheckpointMetadataFile));
    } else {
      s.checkpoint_metadata = std::move(j).value();
      const Json& md = s.checkpoint_metadata;
      if (md.contains("item_handlers") && md["item_handlers"].is_string()) direct_item = true;
    }
  }
  if (direct_item) {
    s.items = {""};
  } else {
    for (const std::string& d : dirs) {
      if (IsItemDirName(d)) s.items.push_back(d);
    }
  }
  if (s.status != StepStatus::kCommitted) return s;
  const Json& md = s.checkpoint_metadata;
  if (md.is_object() && md.contains("item_handlers") && md["item_handlers"].is_object()) {
    std::vector<std::string> missing;
    for (const auto& [item, handler] : md["item_handlers"].items()) {
      if (Has(dirs, item)) continue;
      // Handlers that write no directory: Orbax v1 lists a "descriptor" item
      // that has none; a null typestr is an item Orbax could not resolve,
      // not one it saved.
      if (!handler.is_string() || EndsWith(handler.get<std::string>(), "DescriptorHandler"))
        continue;
      missing.push_back(item);
    }
    if (!missing.empty()) {
      s.status = StepStatus::kIncomplete;
      s.problem = fmt::format("item{} {} listed in {} missing", missing.size() == 1 ? "" : "s",
                              fmt::join(missing, ", "), kCheckpointMetadataFile);
    }
  } else if (!has_md && s.items.empty()) {
    s.status = StepStatus::kIncomplete;
    s.problem = fmt::format("no {} and no items", kCheckpointMetadataFile);
  }
  return s;
}

CheckpointState CheckCheckpointDir(const std::string& dir) {
  if (IsRegularFile(dir)) {
    // A flax checkpoint file as a step: flax writes it under a temporary
    // name and renames it, so a file under a step name is committed.
    CheckpointState s;
    s.items = {""};
    if (!LooksLikeMsgpackFile(dir)) {
      s.status = StepStatus::kIncomplete;
      s.problem = "not a msgpack checkpoint file";
    }
    return s;
  }
  std::vector<std::string> files, dirs;
  Status listed = TopListing(dir, &files, &dirs);
  if (!listed.ok()) {
    CheckpointState s;
    s.status = StepStatus::kIncomplete;
    s.problem = fmt::format("unreadable: {}", listed.message());
    return s;
  }
  return CheckCheckpointListing(dir, files, dirs);
}

bool LooksLikeCheckpoint(const std::string& dir) {
  if (!IsDirectory(dir)) return false;
  if (IsRegularFile(P(dir, kCheckpointMetadataFile))) return true;
  std::vector<std::string> files, dirs;
  if (!TopListing(dir, &files, &dirs).ok()) return false;
  if (IsItemListing(dir, files, dirs)) return false;
  bool any_pytree = false;
  for (const auto& n : dirs) {
    if (IsTmpName(n)) continue;
    std::string sub = P(dir, n);
    if (ParseStepName(n) && LooksLikeCheckpoint(sub)) return false;  // a root
    if (LooksLikeItem(sub)) any_pytree = true;
  }
  return any_pytree || Has(files, kV1IndicatorFile);
}

bool LooksLikeRoot(const std::string& dir) {
  if (!IsDirectory(dir) || IsRegularFile(P(dir, kCheckpointMetadataFile))) return false;
  std::vector<std::string> files, dirs;
  if (!TopListing(dir, &files, &dirs).ok() || IsItemListing(dir, files, dirs)) return false;
  for (const std::string& n : files) {
    if (ParseStepName(n) && LooksLikeMsgpackFile(P(dir, n))) return true;  // flax checkpoint_<step>
  }
  for (const std::string& n : dirs) {
    if (TmpNameStep(n)) return true;  // a step being saved
    if (!ParseStepName(n)) continue;
    std::string sub = P(dir, n);
    if (IsRegularFile(P(sub, kCheckpointMetadataFile)) || LooksLikeItem(sub) ||
        LooksLikeCheckpoint(sub)) {
      return true;
    }
  }
  return false;
}

Result<RootEntries> ListRootEntries(const std::string& root) {
  std::vector<std::string> files, dirs;
  OCKPT_RETURN_IF_ERROR(TopListing(root, &files, &dirs));
  RootEntries r;
  for (const std::string& n : dirs) {
    if (n[0] == '.') {
      r.hidden.push_back(n);
    } else if (IsTmpName(n)) {
      r.tmp.push_back(n);
    } else if (std::optional<int64_t> step = ParseStepName(n)) {
      r.steps.push_back(StepName{*step, n});
    }
  }
  for (const std::string& n : files) {
    if (n[0] == '.') {
      r.hidden.push_back(n);
    } else if (std::optional<int64_t> step = ParseStepName(n); step && LooksLikeMsgpackFile(P(root, n))) {
      r.steps.push_back(StepName{*step, n});
    }
  }
  std::sort(r.steps.begin(), r.steps.end(), [](const StepName& a, const StepName& b) {
    return a.step != b.step ? a.step < b.step : a.name < b.name;
  });
  std::sort(r.hidden.begin(), r.hidden.end());
  return r;
}

Result<RootSteps> ScanRootSteps(const std::string& root) {
  OCKPT_ASSIGN_OR_RETURN(RootEntries entries, ListRootEntries(root));
  RootSteps r;
  r.tmp = std::move(entries.tmp);
  for (StepName& name : entries.steps) {
    CheckpointState state = CheckCheckpointDir(P(root, name.name));
    if (state.status == StepStatus::kCommitted) r.latest_committed = r.steps.size();
    r.steps.push_back({std::move(name), std::move(state)});
  }
  return r;
}

Result<std::vector<StepName>> ListCommittedSteps(const std::string& root) {
  OCKPT_ASSIGN_OR_RETURN(RootSteps scan, ScanRootSteps(root));
  std::vector<StepName> out;
  for (const auto& [name, state] : scan.steps) {
    if (state.status == StepStatus::kCommitted) out.push_back(name);
  }
  return out;
}

// --- The locator ---

std::string_view LocationKindName(LocationKind kind) {
  switch (kind) {
    case LocationKind::kItem:
      return "item";
    case LocationKind::kCheckpoint:
      return "checkpoint";
    case LocationKind::kRoot:
      return "root";
    case LocationKind::kInProgress:
      return "in_progress";
    case LocationKind::kNotCheckpoint:
      return "not_checkpoint";
  }
  return "?";
}

namespace {

// Picks the step of a root: `step`, else the latest committed one.
Status ChooseStep(const std::string& root, std::optional<int64_t> step, Location* loc) {
  OCKPT_ASSIGN_OR_RETURN(RootSteps scan, ScanRootSteps(root));
  std::optional<size_t> chosen;
  if (step) {
    const CheckpointState* incomplete = nullptr;
    std::string incomplete_name;
    for (size_t i = 0; i < scan.steps.size(); ++i) {
      if (scan.steps[i].first.step != *step) continue;
      if (scan.steps[i].second.status == StepStatus::kCommitted) {
        chosen = i;
      } else if (incomplete == nullptr) {
        incomplete = &scan.steps[i].second;
        incomplete_name = scan.steps[i].first.name;
      }
    }
    if (!chosen) {
      if (incomplete != nullptr) {
        return NotFoundError(
            "step {} of {} is incomplete ({}: {}); only committed steps can be opened", *step, root,
            incomplete_name, incomplete->problem);
      }
      for (const std::string& t : scan.tmp) {
        if (TmpNameStep(t) == step) {
          return NotFoundError("step {} of {} is still being saved ({}); it is not committed",
                               *step, root, t);
        }
      }
      return NotFoundError("{} has no committed step {}", root, *step);
    }
  } else {
    chosen = scan.latest_committed;
  }
  // Newer steps passed over (or, with none chosen, every step there is).
  const int64_t after = chosen ? scan.steps[*chosen].first.step : INT64_MIN;
  std::vector<std::string> passed;
  for (const auto& [name, state] : scan.steps) {
    if (name.step > after && state.status != StepStatus::kCommitted) {
      passed.push_back(fmt::format("step {} is incomplete ({})", name.name, state.problem));
    }
  }
  for (const std::string& t : scan.tmp) {
    std::optional<int64_t> s = TmpNameStep(t);
    if (s && *s > after) passed.push_back(fmt::format("step {} is still being saved ({})", *s, t));
  }
  if (!chosen) {
    return NotFoundError("{} has no committed step{}{}", root, passed.empty() ? "" : ": ",
                         fmt::join(passed, "; "));
  }
  if (!step) {
    for (std::string& p : passed) {
      loc->notes.push_back(
          fmt::format("{}: {}; using step {}", root, p, scan.steps[*chosen].first.name));
    }
  }
  loc->step = scan.steps[*chosen].first.step;
  loc->step_name = scan.steps[*chosen].first.name;
  loc->dir = P(root, loc->step_name);
  return Status::Ok();
}

}  // namespace

Result<LocationKind> Classify(const std::string& path) {
  OCKPT_RETURN_IF_ERROR(CheckExists(path));
  std::string stripped = path;
  while (stripped.size() > 1 && stripped.back() == '/') stripped.pop_back();
  if (!IsDirectory(path)) {
    return LooksLikeMsgpackFile(path) ? LocationKind::kItem : LocationKind::kNotCheckpoint;
  }
  if (IsTmpName(Basename(stripped))) return LocationKind::kInProgress;
  if (IsRegularFile(P(path, kCheckpointMetadataFile))) return LocationKind::kCheckpoint;
  if (LooksLikeItem(path)) return LocationKind::kItem;
  if (LooksLikeRoot(path)) return LocationKind::kRoot;
  if (LooksLikeCheckpoint(path)) return LocationKind::kCheckpoint;
  return LocationKind::kNotCheckpoint;
}

Result<Location> Locate(const std::string& path, std::optional<int64_t> step) {
  Location loc;
  loc.path = path;
  loc.dir = path;
  OCKPT_ASSIGN_OR_RETURN(loc.kind, Classify(path));
  if (loc.kind == LocationKind::kRoot) {
    OCKPT_RETURN_IF_ERROR(ChooseStep(path, step, &loc));
  } else if (step) {
    return NotFoundError("{} is not a manager root, so a step ({}) does not apply", path, *step);
  }
  return loc;
}

}  // namespace ockpt::orbax
