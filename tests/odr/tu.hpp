#pragma once
// The same function template instantiated in two TUs with different instruction sets (a distinct tag type per
// TU keeps the two bodies apart); everything it calls into the library must also be two distinct functions.
#include <cstdint>
#include <string>
#include <vector>

#include "mvq/mvq.hpp"

struct odr_result {
  std::string quant_arch, kernel_arch;     // the architectures the library picked in this TU
  std::vector<float> decompressed;
  mvq::compressed_matrix w_mvq, w_vq;      // synthetic, identical in both TUs
  std::vector<float> x;                    // 3 × cols activations
  std::vector<float> y_mvq, y_vq;          // fp32 GEMV of x row 0
  std::vector<std::int32_t> acc_mvq, acc_vq;  // int8 GEMM accumulators, batch 3
  std::vector<float> points, init;         // k-means input (n × 8) and initial centroids (32 × 8)
  std::vector<std::uint32_t> assign_once;  // one assignment pass from `init`
  mvq::compressed_matrix c_vq, c_mvq;      // compress results
  double err_vq = 0, err_mvq = 0;          // their ‖W − Ŵ‖²
  bool thread_invariant = false;           // compress on a 3-thread pool == serial
};

template <class Tag>
odr_result odr_body() {
  using namespace mvq;
  odr_result o;
  o.quant_arch = default_simd_arch::name();
  o.kernel_arch = kernel::default_arch::name();
  std::uint64_t s = 12345;
  auto rnd = [&] {  // uniform in [-1, 1), the same sequence in both TUs
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<double>(s >> 40) * 0x1p-23 - 1.0);
  };
  {
    compressed_layout l{.rows = 3, .cols = 16, .vq = {16, 8}, .nm = {2, 4}, .masks = mask_encoding::pattern};
    auto m = compressed_matrix::allocate(l).value();
    for (std::size_t i = 0; i < m.codebook.size(); ++i) m.codebook[i] = static_cast<float>(i);
    for (std::size_t i = 0; i < m.indices.size(); ++i) m.indices[i] = static_cast<std::uint8_t>(i * 37u);
    for (std::size_t i = 0; i < m.masks.size(); ++i) m.masks[i] = static_cast<std::uint8_t>((i * 11u) % 6u);
    o.decompressed = decompress(m.view());
  }
  constexpr std::size_t rows = 37, cols = 144, batch = 3;  // 37: a tail of the 8-row interleave
  auto synth = [&](vq_config vq, nm_pattern nm) {
    compressed_layout l{.rows = rows, .cols = cols, .vq = vq, .nm = nm,
                        .masks = nm.dense() ? mask_encoding::none : mask_encoding::pattern};
    auto m = compressed_matrix::allocate(l).value();
    for (auto& c : m.codebook) c = rnd();
    for (auto& b : m.indices) b = static_cast<std::uint8_t>((rnd() + 1.0f) * 128.0f);
    if (!nm.dense()) {
      std::vector<std::uint32_t> g(l.groups_per_row());
      for (std::size_t r = 0; r < rows; ++r) {
        for (auto& v : g) v = static_cast<std::uint32_t>((rnd() + 1.0f) * 3.0f) % pattern_count(nm);
        pack_bits(g, l.mask_bits(), std::span(m.masks).subspan(r * l.mask_bytes_per_row(), l.mask_bytes_per_row()));
      }
    }
    return m;
  };
  o.w_mvq = synth({256, 16}, sparse_2_4);
  o.w_vq = synth({256, 8}, dense);
  o.x.resize(batch * cols);
  for (auto& v : o.x) v = rnd();
  auto run = [&](auto const& p, std::vector<float>& y, std::vector<std::int32_t>& acc) {
    y.assign(rows, 0.0f);
    acc.assign(batch * rows, 0);
    if (!kernel::gemv(p, std::span<const float>(o.x.data(), cols), std::span<float>(y))) y.clear();
    auto xq = kernel::quantize_activations(matrix_view<const float>(o.x.data(), batch, cols)).value();
    if (!kernel::gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows))) acc.clear();
  };
  run(kernel::pack_for<kernel::mvq_byte<16, sparse_2_4>>(o.w_mvq.view()).value(), o.y_mvq, o.acc_mvq);
  run(kernel::pack_for<kernel::vq_byte<8>>(o.w_vq.view()).value(), o.y_vq, o.acc_vq);

  // The quantizer: one assignment pass from fixed centroids, then whole compress runs.
  std::vector<float> w(64 * cols);
  for (auto& v : w) v = rnd();
  o.points = w;
  o.init.assign(w.begin(), w.begin() + 32 * 8);
  const matrix_view<const float> pts(o.points.data(), w.size() / 8, 8);
  o.assign_once = quant::kmeans(pts, {.k = 32, .max_iter = 0, .tol = 0}, o.init).value().assignments;
  const matrix_view<const float> wv(w.data(), 64, cols);
  quant::compress_options ov{.method = quant::method::kmeans, .vq = {64, 8}, .codebook = codebook_dtype::i8,
                             .seed = 3, .max_iter = 8};
  quant::compress_options om{.method = quant::method::mvq, .vq = {64, 16}, .nm = sparse_2_4, .seed = 4, .max_iter = 8};
  quant::layer_stats sv, sm;
  o.c_vq = quant::compress(wv, ov, {}, &sv).value();
  o.c_mvq = quant::compress(wv, om, {}, &sm).value();
  o.err_vq = sv.weight_err2;
  o.err_mvq = sm.weight_err2;
  thread_pool pool(3);
  auto again = quant::compress(wv, om, {}, nullptr, pool).value();
  o.thread_invariant = again.codebook == o.c_mvq.codebook && again.indices == o.c_mvq.indices &&
                       again.masks == o.c_mvq.masks;
  return o;
}

odr_result run_generic();
odr_result run_avx2();
