// StagedOutput: temporary name, then one rename.

#include "lib/base/commit.h"

#include <fmt/format.h>
#include <unistd.h>

#include "lib/base/file.h"

namespace ockpt {

std::string ProcessTmpSuffix() { return fmt::format(".ockpt-tmp-{}", ::getpid()); }

Result<StagedOutput> StagedOutput::Begin(const std::string& final_path,
                                         const std::string& tmp_suffix) {
  std::string out = final_path;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out.empty()) return InvalidArgumentError("empty output path");
  if (!HasAtomicRename(out)) {
    // An object store has no rename: the output is written in place (as
    // Orbax writes to GCS) and its writer's commit marker, written last,
    // is what commits it; a failure deletes what was written.
    if (PathExists(out)) return AlreadyExistsError("{} already exists; not overwritten", out);
    return StagedOutput(out, out);
  }
  OCKPT_RETURN_IF_ERROR(MakeDirectories(Dirname(out)));
  std::string tmp = out + tmp_suffix;
  OCKPT_RETURN_IF_ERROR(RemoveAll(tmp));  // a leftover of an interrupted run
  return StagedOutput(std::move(out), std::move(tmp));
}

StagedOutput::StagedOutput(StagedOutput&& o) noexcept
    : final_(std::move(o.final_)), tmp_(std::move(o.tmp_)), done_(o.done_) {
  o.done_ = true;
}

StagedOutput& StagedOutput::operator=(StagedOutput&& o) noexcept {
  if (this != &o) {
    if (!done_) RemoveAll(tmp_).IgnoreError();
    final_ = std::move(o.final_);
    tmp_ = std::move(o.tmp_);
    done_ = o.done_;
    o.done_ = true;
  }
  return *this;
}

StagedOutput::~StagedOutput() {
  if (!done_) RemoveAll(tmp_).IgnoreError();
}

Status StagedOutput::Commit(const CommitOptions& options) {
  if (done_) return InternalError("{} committed twice", final_);
  if (tmp_ == final_) {  // written in place (object store)
    done_ = true;
    return Status::Ok();
  }
  if (PathExists(final_)) {
    auto names = ListDirectory(final_);
    bool empty_dir = IsDirectory(final_) && names.ok() && names->empty();
    if (!options.replace_empty_dir || !empty_dir) {
      return AlreadyExistsError("{} appeared while writing it; not overwritten", final_);
    }
    OCKPT_RETURN_IF_ERROR(RemoveAll(final_));
  }
  OCKPT_RETURN_IF_ERROR(RenamePath(tmp_, final_));
  done_ = true;
  if (options.sync_parent) OCKPT_RETURN_IF_ERROR(SyncDirectory(Dirname(final_)));
  return Status::Ok();
}

}  // namespace ockpt
