// Status and Result<T>: the error values of ockpt, public and internal alike.
//
// This is the one definition of both types: the public API (ockpt/ockpt.h)
// returns them and the library's own code (lib/base/status.h, result.h,
// which add fmt-based factories and the OCKPT_ macros) uses them. Standard
// headers only, everything inline: nothing here needs linking.
//
// A Status is a code plus a message; context is prepended at each layer
// boundary ("reading d/abc: offset 12: bad CRC-32C"). OK carries no message.
// Codes follow absl's names; the CLI maps them to exit codes in one table
// (apps/ockpt/exit_codes.h; docs/library.md lists them).

#ifndef OCKPT_STATUS_H_
#define OCKPT_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ockpt {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,    // bad flag or value given by the user (exit 2)
  kNotFound = 2,           // path, step, item, key absent (exit 3)
  kDataLoss = 3,           // corrupt or truncated data, missing data file (exit 4)
  kUnimplemented = 4,      // unsupported codec, dtype, format version (exit 4)
  kAlreadyExists = 5,      // would overwrite (exit 5)
  kUnavailable = 6,        // locked by another writer (exit 5)
  kIoError = 7,            // the OS refused a read or write (exit 6)
  kInternal = 8,           // a bug (exit 6)
  kFailedPrecondition = 9, // e.g. no GPU for --device cuda (exit 6)
};

// "OK", "INVALID_ARGUMENT", "NOT_FOUND", ...
inline std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case StatusCode::kNotFound: return "NOT_FOUND";
    case StatusCode::kDataLoss: return "DATA_LOSS";
    case StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case StatusCode::kUnavailable: return "UNAVAILABLE";
    case StatusCode::kIoError: return "IO_ERROR";
    case StatusCode::kInternal: return "INTERNAL";
    case StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
  }
  return "UNKNOWN";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const& {
    if (ok()) return *this;
    return Status(code_, Prefixed(context, message_));
  }
  Status WithContext(std::string_view context) && {
    if (ok()) return std::move(*this);
    message_ = Prefixed(context, message_);
    return std::move(*this);
  }

  // "OK" or "<CODE NAME>: <message>".
  std::string ToString() const {
    if (ok()) return "OK";
    std::string s(StatusCodeName(code_));
    s += ": ";
    s += message_;
    return s;
  }

  // Marks a Status as deliberately ignored.
  void IgnoreError() const {}

 private:
  static std::string Prefixed(std::string_view context, const std::string& message) {
    std::string s;
    s.reserve(context.size() + 2 + message.size());
    s.append(context);
    s += ": ";
    s += message;
    return s;
  }

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline bool operator==(const Status& a, const Status& b) {
  return a.code() == b.code() && a.message() == b.message();
}

// A T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  // REQUIRES: !status.ok() (an OK status becomes kInternal).
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "Result built from OK status");
  }
  Result(T value) : value_(std::move(value)) {}  // NOLINT
  template <typename U,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, T> &&
                                        !std::is_same_v<std::decay_t<U>, Status>>>
  Result(U&& value) : value_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  // OK when the Result holds a value.
  const Status& status() const { return status_; }

  // REQUIRES: ok().
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

}  // namespace ockpt

#endif  // OCKPT_STATUS_H_
