// Engine-style integration of a compressed linear layer: load a layer from a `.mvq.safetensors` file, let
// `kernel::pack` pick the kernel its layout needs (the library's dispatch from runtime values to compiled
// instantiations) and pack it once at load time, then run GEMV calls on it and compare with the dense layer.
//
//   vq_linear [file.mvq.safetensors [layer]]
//
// Without arguments it first writes a demo file (a 1024 × 4096 layer compressed with MVQ 2:4, K = 256, d = 16)
// into the system's temporary folder, so the example runs anywhere.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <mvq/io/mvq_format.hpp>
#include <mvq/kernel/kernel.hpp>
#include <mvq/quant/compress.hpp>

namespace {

using namespace mvq;

// int8 activations (one scale per call), dequantized output, on the kernel `kernel::pack` picked; false when that
// kernel has no int8 path. (`any_packed::visit` reaches the concrete packed type for what the variant's own
// overloads do not cover.)
result<bool> gemv_i8(kernel::any_packed const& layer, std::span<const float> x, std::span<float> y) {
  return layer.visit([&](auto const& p) -> result<bool> {
    using P = std::decay_t<decltype(p)>;
    if constexpr (!P::supports_i8) {
      return false;
    } else {
      auto q = kernel::quantize_activations(matrix_view<const float>(x.data(), 1, x.size()));
      if (!q) return tl::unexpected(q.error());
      if (auto r = kernel::gemm(p, q->view(), matrix_view<float>(y.data(), 1, y.size())); !r)
        return tl::unexpected(r.error());
      return true;
    }
  });
}

// Writes a demo `.mvq.safetensors` file with one MVQ-compressed layer "fc.weight".
result<void> write_demo(std::filesystem::path const& path) {
  const std::size_t rows = 1024, cols = 4096;
  std::vector<float> w(rows * cols);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (auto& v : w) v = normal(rng);
  quant::compress_options opt{.method = quant::method::mvq, .vq = {256, 16}, .nm = sparse_2_4, .max_iter = 10};
  auto cm = quant::compress(matrix_view<const float>(w.data(), rows, cols), opt);
  if (!cm) return tl::unexpected(cm.error());
  io::mvq_writer out;
  if (auto r = out.add_layer({.name = "fc.weight", .method = "mvq", .shape = {rows, cols}}, cm->view()); !r) return r;
  return out.write(path);
}

int fail_with(error const& e) {
  std::fprintf(stderr, "vq_linear: %s\n", e.what().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path path;
  if (argc > 1) {
    path = argv[1];
  } else {
    path = std::filesystem::temp_directory_path() / "vq_linear_demo.mvq.safetensors";
    if (auto r = write_demo(path); !r) return fail_with(r.error());
  }

  // Load time: open (memory-mapped, validated), find the layer, pack once.
  auto file = io::mvq_file::open(path);
  if (!file) return fail_with(file.error());
  if (file->layers().empty()) return fail_with(error{errc::not_found, path.string() + ": no compressed layer"});
  const io::mvq_layer* layer = argc > 2 ? file->find(argv[2]) : &file->layers().front();
  if (!layer) return fail_with(error{errc::not_found, path.string() + ": no layer '" + argv[2] + "'"});
  // a linear layer: either order is the identity, so no order is required; errors name the tensor
  auto packed = kernel::pack(layer->view(), {.name = layer->info.name});
  if (!packed) return fail_with(packed.error());
  auto const& l = layer->layout;
  std::printf("layer %s: %zu x %zu, K = %u, d = %u, %s, %.3f bits/weight -> kernel %s\n", layer->info.name.c_str(),
              l.rows, l.cols, l.k(), l.d(), to_string(l.nm).c_str(), l.bits_per_weight(), packed->name().c_str());

  // Run time: GEMV calls on the packed layer, fp32 activations and (where the kernel has it) int8 activations.
  std::vector<float> x(l.cols), y(l.rows), y8(l.rows);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x) v = u(rng);
  const int calls = 20;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i)
    if (auto r = kernel::gemv(*packed, x, y); !r) return fail_with(r.error());
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls;
  t0 = std::chrono::steady_clock::now();
  bool has_i8 = false;
  for (int i = 0; i < calls; ++i) {
    auto r = gemv_i8(*packed, x, y8);
    if (!r) return fail_with(r.error());
    has_i8 = *r;
  }
  const double us8 = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls;

  // Check against the dense layer (decompress + reference GEMV).
  std::vector<float> want(l.rows);
  kernel::reference_gemm(layer->view(), matrix_view<const float>(x.data(), 1, l.cols),
                         matrix_view<float>(want.data(), 1, l.rows));
  double err = 0, err8 = 0, norm = 0;
  for (std::size_t r = 0; r < l.rows; ++r) {
    err = std::max(err, std::fabs(double(y[r]) - want[r]));
    err8 = std::max(err8, std::fabs(double(y8[r]) - want[r]));
    norm = std::max(norm, std::fabs(double(want[r])));
  }
  const double gw = double(l.rows) * double(l.cols) * 1e-3;
  std::printf("gemv fp32: %.1f us per call (%.2f Gweights/s), max |y - y_dense| = %.3g (max |y_dense| = %.3g)\n", us,
              gw / us, err, norm);
  if (has_i8)
    std::printf("gemv int8: %.1f us per call (%.2f Gweights/s), max |y - y_dense| = %.3g (activation + codebook "
                "quantization)\n", us8, gw / us8, err8);
  // fp32: rounding only (the u8 LUT: its documented table error); int8: quantization, a few percent at most
  const bool ok = err <= 2e-2 * (norm + 1) && (!has_i8 || err8 <= 5e-2 * (norm + 1));
  return ok ? 0 : 1;
}
