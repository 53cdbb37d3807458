#pragma once
/// @file
/// Runtime errors: `mvq::error`, `mvq::result<T>` and the internal-invariant macro `MVQ_ASSERT`.

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

#include "mvq/version.hpp"

#ifndef MVQ_ASSERT
#  ifdef NDEBUG
#    define MVQ_ASSERT(cond, msg) ((void)0)
#  else
#    include <cstdio>
#    include <cstdlib>
/// Internal invariant check (never used for user input). Override by defining MVQ_ASSERT first.
#    define MVQ_ASSERT(cond, msg)                                                                      \
      ((cond) ? (void)0                                                                               \
              : (std::fprintf(stderr, "%s:%d: mvq internal invariant failed: %s (%s)\n", __FILE__,   \
                              __LINE__, #cond, msg),                                                  \
                 std::abort()))
#  endif
#endif

namespace mvq::inline v0 {

/// What kind of problem an `error` reports.
enum class errc {
  invalid_argument,  ///< a parameter value is out of its documented range
  shape_mismatch,    ///< shapes of operands do not fit together
  unsupported,       ///< a valid request this build or configuration does not support
  io_error,          ///< the operating system refused a read, write, open or rename
  corrupt_file,      ///< a file's content violates its format
  too_large,         ///< a size would overflow or exceed a limit
  not_found,         ///< a named tensor, layer or key does not exist
};

/// Human-readable name of an error code.
[[nodiscard]] constexpr std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::invalid_argument: return "invalid argument";
    case errc::shape_mismatch: return "shape mismatch";
    case errc::unsupported: return "unsupported";
    case errc::io_error: return "I/O error";
    case errc::corrupt_file: return "corrupt file";
    case errc::too_large: return "too large";
    case errc::not_found: return "not found";
  }
  return "unknown error";
}

/// An error code plus a message that names the file, tensor or parameter and what is wrong with it.
struct error {
  errc code = errc::invalid_argument;
  std::string message;

  /// "corrupt file: model.safetensors: tensor 'w': data_offsets end past the file".
  [[nodiscard]] std::string what() const { return std::string(to_string(code)) + ": " + message; }
  friend bool operator==(error const&, error const&) = default;
};

/// Result of an operation that can fail on bad runtime input. Call `.value()` if you prefer exceptions.
template <class T>
using result = tl::expected<T, error>;

/// Builds the error alternative of any `result<T>`: `return fail(errc::corrupt_file, "...")`.
[[nodiscard]] inline tl::unexpected<error> fail(errc code, std::string message) {
  return tl::unexpected<error>(error{code, std::move(message)});
}

}  // namespace mvq::inline v0
