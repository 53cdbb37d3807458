// `mvq inspect FILE [--json]`: the tensors (name, dtype, shape, bytes) and metadata of a safetensors or .npy file;
// for a .mvq.safetensors file also each compressed layer's layout and the kernel `kernel::pack` picks for it, and
// each scalar-quantized layer's bits, group and zero-point kind.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/kernel/any_layer.hpp"
#include "tensor_listing.hpp"

namespace {

struct inspect_args {
  std::string file;
  bool json = false;
};

/// A compressed layer as `inspect` shows it.
struct layer_row {
  std::string name, nm, order, kernel;
  std::size_t rows = 0, cols = 0;
  std::uint32_t k = 0, d = 0;
  double bits_per_weight = 0;
};

/// A scalar-quantized layer as `inspect` shows it.
struct scalar_row {
  std::string name, method, order;
  std::size_t rows = 0, cols = 0;
  unsigned bits = 0;
  std::uint32_t group = 0;
  bool symmetric = true;
  double bits_per_weight = 0;
};

/// The layers of a .mvq.safetensors file (none for any other file).
struct file_layers {
  std::vector<layer_row> vq;
  std::vector<scalar_row> scalar;
};

mvq::result<file_layers> compressed_layers(const mvq_cli::tensor_listing& l) {
  file_layers out;
  if (l.format != "safetensors" || !l.metadata.contains(std::string(mvq::io::mvq_format_key))) return out;
  auto f = mvq::io::mvq_file::open(l.file);
  if (!f) return tl::unexpected(f.error());
  for (auto const& layer : f->layers()) {
    auto const& lo = layer.layout;
    out.vq.push_back({.name = layer.info.name, .nm = mvq::to_string(lo.nm),
                      .order = std::string(mvq::to_string(lo.order)), .kernel = mvq::kernel::pack_kernel_name(lo),
                      .rows = lo.rows, .cols = lo.cols, .k = lo.k(), .d = lo.d(),
                      .bits_per_weight = lo.bits_per_weight()});
  }
  for (auto const& layer : f->scalar_layers()) {
    auto const& lo = layer.layout;
    out.scalar.push_back({.name = layer.info.name, .method = layer.info.method,
                          .order = std::string(mvq::to_string(lo.order)), .rows = lo.rows, .cols = lo.cols,
                          .bits = lo.bits, .group = lo.group, .symmetric = lo.symmetric,
                          .bits_per_weight = lo.bits_per_weight()});
  }
  return out;
}

void print_scalar_layers(std::FILE* out, const std::vector<scalar_row>& layers) {
  if (layers.empty()) return;
  std::size_t wn = 5;
  for (auto const& r : layers) wn = std::max(wn, r.name.size());
  std::fprintf(out, "scalar-quantized layers (%zu):\n", layers.size());
  std::fprintf(out, "  %-*s  %13s  %4s  %5s  %9s  %5s  %9s  %s\n", static_cast<int>(wn), "layer", "rows x cols", "bits",
               "group", "zero", "order", "bits/w", "method");
  for (auto const& r : layers) {
    const std::string shape = std::to_string(r.rows) + " x " + std::to_string(r.cols);
    const std::string group = r.group ? std::to_string(r.group) : "row";
    std::fprintf(out, "  %-*s  %13s  %4u  %5s  %9s  %5s  %9.3f  %s\n", static_cast<int>(wn), r.name.c_str(),
                 shape.c_str(), r.bits, group.c_str(), r.symmetric ? "symmetric" : "affine", r.order.c_str(),
                 r.bits_per_weight, r.method.c_str());
  }
}

void print_layers(std::FILE* out, const std::vector<layer_row>& layers) {
  if (layers.empty()) return;
  std::size_t wn = 5, wk = 6;
  for (auto const& r : layers) {
    wn = std::max(wn, r.name.size());
    wk = std::max(wk, r.kernel.size());
  }
  std::fprintf(out, "compressed layers (%zu), with the kernel kernel::pack picks:\n", layers.size());
  std::fprintf(out, "  %-*s  %13s  %5s  %2s  %5s  %5s  %9s  %s\n", static_cast<int>(wn), "layer", "rows x cols", "K",
               "d", "N:M", "order", "bits/w", "kernel");
  for (auto const& r : layers) {
    const std::string shape = std::to_string(r.rows) + " x " + std::to_string(r.cols);
    std::fprintf(out, "  %-*s  %13s  %5u  %2u  %5s  %5s  %9.3f  %s\n", static_cast<int>(wn), r.name.c_str(),
                 shape.c_str(), r.k, r.d, r.nm.c_str(), r.order.c_str(), r.bits_per_weight, r.kernel.c_str());
  }
}

/// The listing's JSON text plus, for a .mvq.safetensors file, a "layers" array (one layer per line):
/// {"name", "rows", "cols", "k", "d", "nm", "order", "bits_per_weight", "kernel"}, and a "scalar_layers" array
/// {"name", "method", "rows", "cols", "bits", "group", "symmetric", "order", "bits_per_weight"} when there are any.
std::string json_text(const mvq_cli::tensor_listing& l, const file_layers& all) {
  std::string out = mvq_cli::listing_json_text(l);
  auto const& layers = all.vq;
  if (layers.empty() && all.scalar.empty()) return out;
  out.resize(out.size() - 2);  // the closing "\n}"
  if (!all.scalar.empty()) {
    out += ",\n  \"scalar_layers\": [";
    for (std::size_t i = 0; i < all.scalar.size(); ++i) {
      auto const& r = all.scalar[i];
      nlohmann::ordered_json j;
      j["name"] = r.name;
      j["method"] = r.method;
      j["rows"] = r.rows;
      j["cols"] = r.cols;
      j["bits"] = r.bits;
      j["group"] = r.group;
      j["symmetric"] = r.symmetric;
      j["order"] = r.order;
      j["bits_per_weight"] = r.bits_per_weight;
      out += (i ? ",\n    " : "\n    ") + j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
    out += "\n  ]";
  }
  if (layers.empty()) return out + "\n}";
  out += ",\n  \"layers\": [";
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto const& r = layers[i];
    nlohmann::ordered_json j;
    j["name"] = r.name;
    j["rows"] = r.rows;
    j["cols"] = r.cols;
    j["k"] = r.k;
    j["d"] = r.d;
    j["nm"] = r.nm;
    j["order"] = r.order;
    j["bits_per_weight"] = r.bits_per_weight;
    j["kernel"] = r.kernel;
    out += (i ? ",\n    " : "\n    ") + j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  out += "\n  ]\n}";
  return out;
}

int run(const inspect_args& a) {
  auto l = mvq_cli::load_listing(a.file);
  if (!l) return mvq_cli::report(l.error());
  auto layers = compressed_layers(*l);
  if (!layers) return mvq_cli::report(layers.error());
  if (a.json) {
    std::printf("%s\n", json_text(*l, *layers).c_str());
  } else {
    mvq_cli::print_listing(stdout, *l);
    print_layers(stdout, layers->vq);
    print_scalar_layers(stdout, layers->scalar);
  }
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto a = std::make_shared<inspect_args>();
  auto* cmd = app.add_subcommand("inspect",
                                 "List the tensors (name, dtype, shape, bytes) and metadata of a safetensors or .npy "
                                 "file; the format is detected from the content. For a .mvq.safetensors file, also "
                                 "each compressed layer's layout and the kernel that kernel::pack picks for it. "
                                 "Exit 1 on a malformed file.");
  cmd->add_option("file", a->file, "safetensors or .npy file")->required();
  cmd->add_flag("--json", a->json,
                R"(machine-readable output: {"file", "metadata", "tensors": [{"name", "dtype", "shape", )"
                R"("data_offsets"}], and for .mvq.safetensors "layers": [{"name", "rows", "cols", "k", "d", "nm", )"
                R"("order", "bits_per_weight", "kernel"}], "scalar_layers": [{"name", "method", "rows", "cols", "bits", )"
                R"("group", "symmetric", "order", "bits_per_weight"}]})");
  cmd->callback([a, &exit_code] { exit_code = run(*a); });
});

}  // namespace
