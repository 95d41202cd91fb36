// Result<T>: a T or a non-OK Status, with the macros that propagate errors.
//
//   OCKPT_ASSIGN_OR_RETURN(auto manifest, DecodeManifest(bytes));
//   OCKPT_RETURN_IF_ERROR(file.Write(data));

#ifndef OCKPT_LIB_BASE_RESULT_H_
#define OCKPT_LIB_BASE_RESULT_H_

#include <cassert>
#include <optional>
#include <type_traits>
#include <utility>

#include "lib/base/status.h"

namespace ockpt {

template <typename T>
class [[nodiscard]] Result {
 public:
  // REQUIRES: !status.ok()
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = InternalError("Result built from OK status");
  }
  Result(T value) : value_(std::move(value)) {}  // NOLINT
  template <typename U,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, T> &&
                                        !std::is_same_v<std::decay_t<U>, Status>>>
  Result(U&& value) : value_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Result WithContext(std::string_view context) && {
    if (!ok()) status_ = std::move(status_).WithContext(context);
    return std::move(*this);
  }

 private:
  Status status_;
  std::optional<T> value_;
};

namespace internal {
inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
const Status& GetStatus(const Result<T>& r) { return r.status(); }
}  // namespace internal

#define OCKPT_CONCAT_INNER_(a, b) a##b
#define OCKPT_CONCAT_(a, b) OCKPT_CONCAT_INNER_(a, b)

#define OCKPT_RETURN_IF_ERROR(expr)                                    \
  do {                                                                 \
    ::ockpt::Status _ockpt_status = ::ockpt::internal::GetStatus(expr); \
    if (!_ockpt_status.ok()) return _ockpt_status;                     \
  } while (0)

#define OCKPT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define OCKPT_ASSIGN_OR_RETURN(lhs, expr) \
  OCKPT_ASSIGN_OR_RETURN_IMPL_(OCKPT_CONCAT_(_ockpt_result_, __LINE__), lhs, expr)

}  // namespace ockpt

#endif  // OCKPT_LIB_BASE_RESULT_H_
