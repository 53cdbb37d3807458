// `mvq inspect FILE [--json]`: the tensors (name, dtype, shape, bytes) and metadata of a safetensors or .npy file.
#include <cstdio>
#include <memory>
#include <string>

#include "command.hpp"
#include "tensor_listing.hpp"

namespace {

struct inspect_args {
  std::string file;
  bool json = false;
};

int run(const inspect_args& a) {
  auto l = mvq_cli::load_listing(a.file);
  if (!l) return mvq_cli::report(l.error());
  if (a.json) std::printf("%s\n", mvq_cli::listing_json_text(*l).c_str());
  else mvq_cli::print_listing(stdout, *l);
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto a = std::make_shared<inspect_args>();
  auto* cmd = app.add_subcommand("inspect",
                                 "List the tensors (name, dtype, shape, bytes) and metadata of a safetensors or .npy "
                                 "file; the format is detected from the content. Exit 1 on a malformed file.");
  cmd->add_option("file", a->file, "safetensors or .npy file")->required();
  cmd->add_flag("--json", a->json,
                R"(machine-readable output: {"file", "metadata", "tensors": [{"name", "dtype", "shape", )"
                R"("data_offsets"}]})");
  cmd->callback([a, &exit_code] { exit_code = run(*a); });
});

}  // namespace
