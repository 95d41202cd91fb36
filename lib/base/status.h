// Status: the error value every library function returns instead of throwing.
//
// StatusCode and Status themselves are defined once, in the public header
// include/ockpt/status.h (standard headers only); this header adds what the
// library's own code uses on top: fmt-based factories (DataLossError(...))
// and StatusFromErrno.

#ifndef OCKPT_LIB_BASE_STATUS_H_
#define OCKPT_LIB_BASE_STATUS_H_

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "ockpt/status.h"

namespace ockpt {

// Factories, e.g. DataLossError("bad magic {:#x}", magic).
#define OCKPT_DEFINE_STATUS_FACTORY(Name, Code)                        \
  template <typename... Args>                                          \
  Status Name(fmt::format_string<Args...> f, Args&&... args) {         \
    return Status(StatusCode::Code,                                    \
                  fmt::format(f, std::forward<Args>(args)...));        \
  }
OCKPT_DEFINE_STATUS_FACTORY(InvalidArgumentError, kInvalidArgument)
OCKPT_DEFINE_STATUS_FACTORY(NotFoundError, kNotFound)
OCKPT_DEFINE_STATUS_FACTORY(DataLossError, kDataLoss)
OCKPT_DEFINE_STATUS_FACTORY(UnimplementedError, kUnimplemented)
OCKPT_DEFINE_STATUS_FACTORY(AlreadyExistsError, kAlreadyExists)
OCKPT_DEFINE_STATUS_FACTORY(UnavailableError, kUnavailable)
OCKPT_DEFINE_STATUS_FACTORY(IoError, kIoError)
OCKPT_DEFINE_STATUS_FACTORY(InternalError, kInternal)
OCKPT_DEFINE_STATUS_FACTORY(FailedPreconditionError, kFailedPrecondition)
#undef OCKPT_DEFINE_STATUS_FACTORY

// Converts an errno value from a failed system call on `path` into a Status:
// ENOENT/ENOTDIR -> kNotFound, EEXIST -> kAlreadyExists, else kIoError.
Status StatusFromErrno(int err, std::string_view what, std::string_view path);

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_STATUS_H_
