#pragma once
// Sub-command registry of the `mvq` tool: each cmd_<name>.cpp defines one static `registrar` that adds its
// sub-command to the CLI11 app. A sub-command's callback stores its exit code in `exit_code`.

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "mvq/core/error.hpp"

namespace mvq_cli {

/// Exit codes: 0 success, 1 bad input or a failed operation, 2 command-line usage error.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

using setup_fn = std::function<void(CLI::App& app, int& exit_code)>;

/// All registered sub-commands, in registration order.
inline std::vector<setup_fn>& registry() {
  static std::vector<setup_fn> r;
  return r;
}

/// Registers a sub-command at static-initialization time.
struct registrar {
  explicit registrar(setup_fn f) { registry().push_back(std::move(f)); }
};

/// Prints "mvq: error: <what>" to stderr and returns exit_failure.
inline int report(mvq::error const& e) {
  std::fprintf(stderr, "mvq: error: %s\n", e.what().c_str());
  return exit_failure;
}

}  // namespace mvq_cli
