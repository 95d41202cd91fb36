// A test hook for multi-process runs: a ProcessGroup that wraps the real one
// and, on one rank, fails or kills the process at its N-th AllOk (the points
// where a multi-process save agrees that every process finished a step).
// The CLI installs it when OCKPT_TEST_PROCESS_FAULT is set (tests only).

#ifndef OCKPT_LIB_PARALLEL_FAULT_INJECTION_H_
#define OCKPT_LIB_PARALLEL_FAULT_INJECTION_H_

#include <memory>
#include <string_view>

#include "lib/parallel/process_group.h"

namespace ockpt {

struct ProcessFault {
  int rank = 0;
  int call = 1;        // the 1-based AllOk call of that rank
  bool kill = false;   // SIGKILL itself (else: report an I/O error)
};

// "RANK:CALL:fail" or "RANK:CALL:kill"; kInvalidArgument otherwise.
Result<ProcessFault> ParseProcessFault(std::string_view spec);

// Wraps `inner` (owned) with the fault.
std::unique_ptr<ProcessGroup> WithProcessFault(std::unique_ptr<ProcessGroup> inner, const ProcessFault& fault);

}  // namespace ockpt

#endif  // OCKPT_LIB_PARALLEL_FAULT_INJECTION_H_
