// Status and Result<T>: how every fallible call at a module boundary reports failure.
// A Status has a coarse code (which maps onto an HTTP status), a stable machine-readable
// reason (the API's error `code`, e.g. "invalid_phone") and a human sentence.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace topup {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // 400: the request itself is wrong
  kNotFound,            // 404
  kAlreadyExists,       // 409: conflicts with an existing object
  kFailedPrecondition,  // 422: well-formed but not allowed now (e.g. insufficient balance)
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403: authenticated, but not allowed to do this
  kPayloadTooLarge,     // 413
  kResourceExhausted,   // 429 / 503: a bound was hit
  kUnavailable,         // 503: a dependency is down; retrying may help
  kDeadlineExceeded,    // 504: a time bound was hit
  kInternal,            // 500: a bug or a broken invariant
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string reason, std::string message)
      : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // Stable machine-readable reason, e.g. "insufficient_balance". Empty when OK.
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string reason_;
  std::string message_;
};

inline Status InvalidArgument(std::string reason, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(reason), std::move(message));
}
inline Status NotFound(std::string reason, std::string message) {
  return Status(StatusCode::kNotFound, std::move(reason), std::move(message));
}
inline Status AlreadyExists(std::string reason, std::string message) {
  return Status(StatusCode::kAlreadyExists, std::move(reason), std::move(message));
}
inline Status FailedPrecondition(std::string reason, std::string message) {
  return Status(StatusCode::kFailedPrecondition, std::move(reason), std::move(message));
}
inline Status PermissionDenied(std::string reason, std::string message) {
  return Status(StatusCode::kPermissionDenied, std::move(reason), std::move(message));
}
inline Status Unavailable(std::string reason, std::string message) {
  return Status(StatusCode::kUnavailable, std::move(reason), std::move(message));
}
inline Status DeadlineExceeded(std::string reason, std::string message) {
  return Status(StatusCode::kDeadlineExceeded, std::move(reason), std::move(message));
}
inline Status Internal(std::string message) {
  return Status(StatusCode::kInternal, "internal", std::move(message));
}

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result built from an OK status has no value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace topup
