// Status: the error value every library function returns instead of throwing.
//
// A Status is a code plus a message; context is prepended at each layer
// boundary ("reading d/abc: offset 12: bad CRC-32C"). OK carries no message.
// Codes follow absl's names; the CLI maps them to exit codes in one table
// (apps/ockpt/exit_codes.h).

#ifndef OCKPT_LIB_BASE_STATUS_H_
#define OCKPT_LIB_BASE_STATUS_H_

#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

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

std::string_view StatusCodeName(StatusCode code);

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
    return Status(code_, fmt::format("{}: {}", context, message_));
  }
  Status WithContext(std::string_view context) && {
    if (ok()) return std::move(*this);
    message_ = fmt::format("{}: {}", context, message_);
    return std::move(*this);
  }

  std::string ToString() const;

  // Marks a Status as deliberately ignored.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline bool operator==(const Status& a, const Status& b) {
  return a.code() == b.code() && a.message() == b.message();
}

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
