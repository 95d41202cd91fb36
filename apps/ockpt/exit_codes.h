// The one table from StatusCode to the exit codes of CONTRACT.md / docs/cli.md.

#ifndef OCKPT_APPS_OCKPT_EXIT_CODES_H_
#define OCKPT_APPS_OCKPT_EXIT_CODES_H_

#include "lib/base/status.h"

namespace ockpt {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFound = 1;       // diff: differences; verify: problems
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitCorrupt = 4;
inline constexpr int kExitRefused = 5;
inline constexpr int kExitFailure = 6;

inline int ExitCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument: return kExitUsage;
    case StatusCode::kNotFound: return kExitNotFound;
    case StatusCode::kDataLoss:
    case StatusCode::kUnimplemented: return kExitCorrupt;
    case StatusCode::kAlreadyExists:
    case StatusCode::kUnavailable: return kExitRefused;
    case StatusCode::kIoError:
    case StatusCode::kInternal:
    case StatusCode::kFailedPrecondition: return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace ockpt

#endif  // OCKPT_APPS_OCKPT_EXIT_CODES_H_
