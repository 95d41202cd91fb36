// StagedOutput: the one way outputs are published. A directory or file is
// written under a temporary name beside its final path and renamed into
// place only when complete, so a failure or a kill never leaves a partial
// output under the final name (save, restore, convert).

#ifndef OCKPT_LIB_BASE_COMMIT_H_
#define OCKPT_LIB_BASE_COMMIT_H_

#include <string>

#include "lib/base/result.h"

namespace ockpt {

// ".ockpt-tmp-<pid>": the temporary suffix of ockpt's own outputs.
std::string ProcessTmpSuffix();

class StagedOutput {
 public:
  struct CommitOptions {
    // An empty directory at the final path is replaced (a pre-made OUT).
    bool replace_empty_dir = false;
    // fsync the parent directory after the rename.
    bool sync_parent = false;
  };

  // The temporary path is final_path (trailing slashes dropped) + tmp_suffix;
  // a leftover there is removed and the parent directories are created.
  static Result<StagedOutput> Begin(const std::string& final_path, const std::string& tmp_suffix);

  StagedOutput(StagedOutput&& other) noexcept;
  StagedOutput& operator=(StagedOutput&& other) noexcept;
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;
  // Removes the temporary path unless committed.
  ~StagedOutput();

  const std::string& final_path() const { return final_; }
  const std::string& tmp_path() const { return tmp_; }

  // Renames the temporary path to the final one. kAlreadyExists when
  // something (other than a replaceable empty directory) is there now.
  Status Commit(const CommitOptions& options);
  Status Commit() { return Commit(CommitOptions{}); }

 private:
  StagedOutput(std::string final_path, std::string tmp)
      : final_(std::move(final_path)), tmp_(std::move(tmp)) {}
  std::string final_;
  std::string tmp_;
  bool done_ = false;
};

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_COMMIT_H_
