// The README's quick start: compress a layer with MVQ, run a GEMV on the compressed weights, and ask what the
// layer costs on a 64×64 MVQ systolic array decided at compile time.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <mvq/mvq.hpp>

int main() {
  using namespace mvq;
  constexpr std::size_t rows = 256, cols = 1152;                  // a 3×3 conv, 128 → 256 channels
  std::vector<float> w(rows * cols);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (auto& v : w) v = normal(rng);

  // MVQ: 2:4 pruning, then masked k-means with K = 256 codewords of d = 16.
  quant::compress_options opt{.method = quant::method::mvq, .vq = k256_d16, .nm = sparse_2_4};
  quant::layer_stats stats;
  auto cm = quant::compress(matrix_view<const float>(w.data(), rows, cols), opt, {}, &stats);
  if (!cm) return std::fprintf(stderr, "%s\n", cm.error().what().c_str()), 1;

  // Pack once for the MVQ kernel (kept weights only), then y = Ŵx.
  auto layer = kernel::pack_for<kernel::mvq_byte<16, sparse_2_4>>(cm->view());
  if (!layer) return std::fprintf(stderr, "%s\n", layer.error().what().c_str()), 1;
  std::vector<float> x(cols, 1.0f), y(rows);
  if (auto r = kernel::gemv(*layer, x, y); !r) return std::fprintf(stderr, "%s\n", r.error().what().c_str()), 1;

  // The same layer on a 64×64 MVQ array (EWS dataflow, VQ-decoding sparse PEs), checked at compile time.
  using array = hw::systolic_array<hw::array_config{.rows = 64, .cols = 64,
      .flow = hw::dataflow::enhanced_weight_stationary, .pe = hw::pe_kind::vq_decode, .nm = sparse_2_4,
      .vq = k256_d16}>;
  constexpr auto conv = hw::layer::conv_padded(28, 28, 3, 3, 128, 256, 1, 1);
  static_assert(array::cycles(conv) < 1'000'000, "this layer must fit the cycle budget");

  std::printf("%.2f bits/weight, weight SQNR %.1f dB, y[0] = %.4f, %llu cycles on the array\n",
              cm->layout.bits_per_weight(), 10.0 * std::log10(stats.weight_norm2 / stats.weight_err2),
              static_cast<double>(y[0]), static_cast<unsigned long long>(array::cycles(conv)));
}
