// ProcessGroup: the processes of one run that share a piece of work (the
// ranks of an MPI job), and the few collective steps ockpt needs from them:
// rank and size, a barrier, agreeing on success, and passing small bytes.
// One object per run, created by the caller (the CLI's main) and carried in
// the explicit Context; library code never finds one on its own. A null
// group, or SingleProcessGroup, is a run of one process.
//
// Every collective must be called by every process of the group in the same
// order (as MPI's are); they carry metadata and statuses, never array data.

#ifndef OCKPT_LIB_PARALLEL_PROCESS_GROUP_H_
#define OCKPT_LIB_PARALLEL_PROCESS_GROUP_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/base/result.h"

namespace ockpt {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  // This process's index in [0, size()); 0 is the primary process.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Returns when every process has called it.
  virtual Status Barrier() = 0;

  // Every process passes its own bytes (small); every process gets all of
  // them, indexed by rank.
  virtual Result<std::vector<std::string>> AllGather(std::string_view bytes) = 0;

  // root's *bytes (small) replace *bytes on every other process.
  virtual Status Broadcast(int root, std::string* bytes) = 0;

  // Every process passes its own status; every process gets the same
  // answer: OK when all were OK, else the failure of the lowest failing
  // rank (its code, its message prefixed "process <r>: " when size() > 1).
  // Built on AllGather; virtual so that a test can inject a failure.
  virtual Status AllOk(const Status& local);

  // The one Status that root reached, on every process (its code and
  // message travel; OK stays OK).
  Status ShareStatus(int root, const Status& status);

  // Whether AllOk or ShareStatus returned a failure in a group of several
  // processes: every process holds the same error (the CLI prints it once).
  bool failed_together() const { return failed_together_; }

 private:
  bool failed_together_ = false;
};

// A run of one process: rank 0 of 1; every collective returns at once.
class SingleProcessGroup final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status Barrier() override { return Status::Ok(); }
  Result<std::vector<std::string>> AllGather(std::string_view bytes) override {
    return std::vector<std::string>{std::string(bytes)};
  }
  Status Broadcast(int root, std::string* bytes) override;
};

// A status as small bytes and back (for AllOk / ShareStatus).
std::string EncodeStatus(const Status& status);
Status DecodeStatus(std::string_view bytes);

// The group of this process as a launcher started it: with MPI compiled in
// (OCKPT_MPI) and a launcher's environment present (mpirun / mpiexec of
// Open MPI or MPICH, srun with PMI or PMIx), the MPI job (MPI is
// initialized here and finalized when the group is destroyed); otherwise a
// SingleProcessGroup. Call once, from main, before other threads start.
Result<std::unique_ptr<ProcessGroup>> JoinLaunchedGroup(int* argc, char*** argv);

// Whether this build can join an MPI job (for --version).
bool MpiCompiledIn();

}  // namespace ockpt

#endif  // OCKPT_LIB_PARALLEL_PROCESS_GROUP_H_
