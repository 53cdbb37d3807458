// `mvq demo [-o DIR] [--seed N]`: writes the built-in demo network to DIR/demo.safetensors, reads it back
// through the same code as `mvq inspect`, prints its table and checks that every tensor round-tripped bit for bit.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "command.hpp"
#include "demo_net.hpp"
#include "tensor_listing.hpp"

namespace {

struct demo_args {
  std::string dir = "mvq-demo";
  std::uint64_t seed = 2025;
};

int run(const demo_args& a) {
  namespace io = mvq::io;
  std::error_code ec;
  std::filesystem::create_directories(a.dir, ec);
  if (ec) {
    std::fprintf(stderr, "mvq: error: cannot create the folder '%s': %s\n", a.dir.c_str(), ec.message().c_str());
    return mvq_cli::exit_failure;
  }
  const auto path = std::filesystem::path(a.dir) / "demo.safetensors";
  const auto net = mvq_cli::demo_network(a.seed);
  auto w = mvq_cli::demo_writer(net, a.seed);
  if (!w) return mvq_cli::report(w.error());
  if (auto r = w->write(path); !r) return mvq_cli::report(r.error());
  std::printf("wrote %s (seed %llu)\n\n", path.c_str(), static_cast<unsigned long long>(a.seed));

  auto listing = mvq_cli::load_listing(path);
  if (!listing) return mvq_cli::report(listing.error());
  mvq_cli::print_listing(stdout, *listing);

  // Bit-for-bit check: dtype, shape and raw bytes of every tensor as read back, against what was generated.
  auto file = io::safetensors_file::open(path);
  if (!file) return mvq_cli::report(file.error());
  std::size_t same = 0;
  for (const auto& t : net) {
    const io::tensor_info* info = file->find(t.name);
    const auto d = info ? file->data(*info) : std::span<const std::byte>{};
    const bool ok = info && info->type == t.type && info->shape == t.shape && d.size() == t.data.size() &&
                    std::equal(d.begin(), d.end(), t.data.begin()) && file->metadata().count(t.name) &&
                    file->metadata().at(t.name) == t.description;
    if (ok) ++same;
    else std::fprintf(stderr, "mvq: error: %s: tensor '%s' did not round-trip\n", path.c_str(), t.name.c_str());
  }
  const bool all = same == net.size() && file->tensors().size() == net.size();
  std::printf("\nround-trip: %zu/%zu tensors bit-identical%s\n", same, net.size(), all ? "" : " (FAILED)");
  return all ? mvq_cli::exit_ok : mvq_cli::exit_failure;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto a = std::make_shared<demo_args>();
  auto* cmd = app.add_subcommand("demo",
                                 "Write the built-in demo network (a small conv net in several dtypes) to "
                                 "DIR/demo.safetensors, read it back like `mvq inspect` and check that every tensor "
                                 "round-tripped bit for bit.");
  cmd->add_option("-o,--output-dir", a->dir, "output folder (created if needed)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "seed of the generated weights")->capture_default_str();
  cmd->callback([a, &exit_code] { exit_code = run(*a); });
});

}  // namespace
