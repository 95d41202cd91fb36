// errno conversion (StatusCodeName and Status::ToString are inline in
// include/ockpt/status.h).

#include "lib/base/status.h"

#include <cerrno>
#include <cstring>

namespace ockpt {

Status StatusFromErrno(int err, std::string_view what, std::string_view path) {
  std::string msg = fmt::format("{} {}: {}", what, path, std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status(StatusCode::kNotFound, std::move(msg));
    case EEXIST:
    case ENOTEMPTY:
      return Status(StatusCode::kAlreadyExists, std::move(msg));
    case ELOOP:  // a symbolic-link loop is in the data given (damaged input, exit 4)
      return Status(StatusCode::kDataLoss, std::move(msg));
    default:
      return Status(StatusCode::kIoError, std::move(msg));
  }
}

}  // namespace ockpt
