// Errors as values: every failure carries the CNI error code the plugin reports and a message a
// person can act on. Result<T> is a small std::expected stand-in (C++20 has none).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nftpm {

// Stable, documented error codes (README, "Error codes"). 1-99 are the CNI specification's own;
// 100-104 are mesos-cni-port-mapper's, kept so Mesos operators see the codes they know.
enum class ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kReadFailure = 100,
  kBadPortMappings = 101,
  kDelegateFailure = 102,
  kNftablesFailure = 103,
  kUnsupportedCommand = 104,
  kPortConflict = 105,
};

struct Error {
  ErrorCode code;
  std::string msg;
  std::string details;

  Error(ErrorCode c, std::string m, std::string d = {}) : code(c), msg(std::move(m)), details(std::move(d)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() {
  return Ok{};
}

// Propagates the error of an expression returning Result<...> / Status.
#define NFTPM_TRY(expr)                                            \
  do {                                                             \
    auto nftpm_try_result_ = (expr);                               \
    if (!nftpm_try_result_) return nftpm_try_result_.take_error(); \
  } while (0)

}  // namespace nftpm
