// Result<T>: a T or a non-OK Status (defined once, in the public header
// include/ockpt/status.h), with the macros that propagate errors.
//
//   OCKPT_ASSIGN_OR_RETURN(auto manifest, DecodeManifest(bytes));
//   OCKPT_RETURN_IF_ERROR(file.Write(data));

#ifndef OCKPT_LIB_BASE_RESULT_H_
#define OCKPT_LIB_BASE_RESULT_H_

#include <utility>

#include "lib/base/status.h"
#include "ockpt/status.h"

namespace ockpt {

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
