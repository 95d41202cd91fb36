// The API boundary: runs a library call and turns anything it throws
// (std::bad_alloc, a stray exception from a dependency) into a Status, so
// that no exception crosses the public API (include/ockpt/ockpt.h).

#ifndef OCKPT_API_GUARD_H_
#define OCKPT_API_GUARD_H_

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "ockpt/status.h"

namespace ockpt::api {

inline Status StatusFromException() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kInternal, "out of memory");
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("unexpected exception: ") + e.what());
  } catch (...) {
    return Status(StatusCode::kInternal, "unexpected exception");
  }
}

template <typename Fn>
Status GuardStatus(Fn&& fn) noexcept {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    return StatusFromException();
  }
}

template <typename T, typename Fn>
Result<T> Guard(Fn&& fn) noexcept {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    return StatusFromException();
  }
}

}  // namespace ockpt::api

#endif  // OCKPT_API_GUARD_H_
