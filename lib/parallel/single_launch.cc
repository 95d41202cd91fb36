// JoinLaunchedGroup without MPI (OCKPT_MPI off or no MPI found): every run
// is a run of one process, whatever launched it.

#include "lib/parallel/process_group.h"

namespace ockpt {

bool MpiCompiledIn() { return false; }

Result<std::unique_ptr<ProcessGroup>> JoinLaunchedGroup(int*, char***) {
  return std::unique_ptr<ProcessGroup>(std::make_unique<SingleProcessGroup>());
}

}  // namespace ockpt
