// Status and StatusOr<T>: how every fallible function in edge-agent reports failure.
//
// Modelled on leveldb's Status and Abseil's StatusOr: a code plus a human-readable message that
// names the file / device / model and the fault. Exceptions from third-party libraries are
// caught inside the .cc that wraps the library and turned into a Status; none crosses a module
// boundary. Both types are [[nodiscard]]: ignoring an error is a compile-time warning (an error
// in CI builds).
//
// Thread-safety: values; no shared state.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edge {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from a user: config, CSV, model package (exit code 2)
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // e.g. the data directory is locked by another agent
  kResourceExhausted,   // queue full, disk full
  kUnavailable,         // a peer is away (PLC, broker, repository); retry later
  kDeadlineExceeded,
  kDataLoss,  // corrupt file
  kIoError,
  kUnimplemented,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK", or "<code name>: <message>".
  std::string ToString() const;

  // The process exit code DESIGN §4 gives this status: 0 ok, 2 bad input, 1 anything else.
  int ExitCode() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design, like absl
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) {
      status_ = Status::Internal("StatusOr constructed from an OK Status without a value");
    }
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok(). Aborts otherwise (a broken invariant, not a runtime fault).
  T& value() & { return CheckedValue(); }
  const T& value() const& { return const_cast<StatusOr*>(this)->CheckedValue(); }
  T&& value() && { return std::move(CheckedValue()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  T& CheckedValue() {
    if (!ok()) {
      std::fprintf(stderr, "StatusOr::value() on an error: %s\n", status_.ToString().c_str());
      std::abort();
    }
    return *value_;
  }

  // Two members rather than std::variant<Status, T>: GCC 12 at -O2 reports false
  // -Wmaybe-uninitialized on the variant's destructor in test bodies (an error with EDGE_WERROR).
  Status status_;  // OK exactly when value_ holds a value
  std::optional<T> value_;
};

}  // namespace edge

// Aborts with file and line when an invariant does not hold (ggml's GGML_ASSERT). For bugs only;
// runtime faults (PLC away, disk full) are Statuses.
#define EDGE_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

#define EDGE_CONCAT_INNER_(a, b) a##b
#define EDGE_CONCAT_(a, b) EDGE_CONCAT_INNER_(a, b)

// The variable gets a unique name, so that the macro nests (a lambda using it, passed to a call
// that is itself wrapped in it) without shadowing.
#define EDGE_RETURN_IF_ERROR(expr) \
  EDGE_RETURN_IF_ERROR_IMPL_(EDGE_CONCAT_(edge_status_, __COUNTER__), expr)
#define EDGE_RETURN_IF_ERROR_IMPL_(status, expr) \
  do {                                           \
    ::edge::Status status = (expr);              \
    if (!status.ok()) return status;             \
  } while (0)
#define EDGE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

// EDGE_ASSIGN_OR_RETURN(auto cfg, LoadConfig(path)); several may share a line.
#define EDGE_ASSIGN_OR_RETURN(lhs, expr) \
  EDGE_ASSIGN_OR_RETURN_IMPL_(EDGE_CONCAT_(edge_statusor_, __COUNTER__), lhs, expr)
