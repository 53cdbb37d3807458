// `mvq`: inspect, compress, decompress, emulate and report on compressed neural-network weights.
#include <cstdio>
#include <exception>
#include <string>

#include "command.hpp"
#include "mvq/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mvq " MVQ_VERSION_STRING
               ": compressed neural-network weights (VQ, MVQ, N:M) and the systolic arrays that run them"};
  app.name("mvq");
  app.set_version_flag("--version", "mvq " MVQ_VERSION_STRING);
  app.require_subcommand(1);
  int exit_code = mvq_cli::exit_ok;
  for (auto& setup : mvq_cli::registry()) setup(app, exit_code);
  // CLI11 reports an unknown first word only as "a subcommand is required": name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      found = found || sub->check_name(argv[1]);
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!found) {
      std::fprintf(stderr, "mvq: unknown command '%s' (commands: %s; see mvq --help)\n", argv[1], known.c_str());
      return mvq_cli::exit_usage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return mvq_cli::exit_usage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mvq: error: %s\n", e.what());
    return mvq_cli::exit_failure;
  }
  return exit_code;
}
