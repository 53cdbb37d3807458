#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <tuple>

#include "kernel_test_support.hpp"
#include "mvq/kernel/executor.hpp"
#include "mvq/kernel/vq_nibble.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
template <std::uint8_t D>
struct dim {
  static constexpr std::uint32_t d = D;
};
using dims = std::tuple<dim<2>, dim<4>>;

// (rows, sub-vectors, batch): row tails of the 32-row blocks, odd sub-vector counts (a padded pair), more than
// 256 pairs (a uint16 flush inside the row), zero rows, four-block passes.
const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes = {
    {1, 1, 1}, {31, 3, 2}, {32, 4, 1}, {33, 5, 3}, {70, 17, 1}, {5, 601, 2}, {0, 6, 1}, {40, 1030, 1},
    {130, 9, 2}, {128, 515, 1}};  // four-block passes (+ a single block), flushes inside them
}  // namespace

TEMPLATE_LIST_TEST_CASE("vq_nibble exact tables equal the reference int32 accumulators", "[kernel][lut][int8]", dims) {
  constexpr std::uint8_t D = TestType::d;
  std::mt19937 rng(30 + D);
  thread_pool pool(2);
  for (auto k : {16u, 4u}) {
    for (auto [rows, subvecs, batch] : shapes) {
      const std::size_t cols = subvecs * D;
      auto m = kt::random_compressed(rng, rows, cols, k, D, dense, mask_encoding::none, codebook_dtype::i8);
      auto p = pack_for<vq_nibble<D, lut_variant::exact>>(m.view()).value();
      auto w8 = decode_i8(m.view());
      std::vector<std::int8_t> xq = kt::random_i8(rng, batch * cols);
      // extreme activations in the first row: every table value at its largest magnitude
      for (std::size_t c = 0; c < cols && batch > 1; ++c) xq[c] = (c % 3 == 0) ? 127 : -127;
      std::vector<float> xs(batch, 1.0f);
      activations_i8_view xv{matrix_view<const std::int8_t>(xq.data(), batch, cols), xs};
      std::vector<std::int32_t> acc(batch * rows, 1), acc2(batch * rows, 2), want(batch * rows);
      REQUIRE(gemm_i8_acc(p, xv, matrix_view<std::int32_t>(acc.data(), batch, rows)));
      REQUIRE(gemm_i8_acc(p, xv, matrix_view<std::int32_t>(acc2.data(), batch, rows), pool));
      reference_gemm_i8(w8.view(), xv.q, matrix_view<std::int32_t>(want.data(), batch, rows));
      INFO("K " << k << " rows " << rows << " cols " << cols << " batch " << batch);
      CHECK(acc == want);
      CHECK(acc2 == want);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("vq_nibble 8-bit tables stay within the documented bound S·Δ/2", "[kernel][lut]", dims) {
  constexpr std::uint8_t D = TestType::d;
  std::mt19937 rng(40 + D);
  for (auto k : {16u, 8u}) {
    for (auto [rows, subvecs, batch] : shapes) {
      const std::size_t cols = subvecs * D;
      auto m = kt::random_compressed(rng, rows, cols, k, D, dense, mask_encoding::none, codebook_dtype::f32);
      auto p = pack_for<vq_nibble<D, lut_variant::u8>>(m.view()).value();
      auto x = kt::random_vector(rng, batch * cols);
      std::vector<float> y(batch * rows);
      REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
      auto w = decompress(m.view());
      for (std::size_t b = 0; b < batch; ++b) {
        // Δ from its definition: the widest table range over the sub-vectors, / 255
        double span = 0;
        for (std::size_t s = 0; s < subvecs; ++s) {
          double lo = 1e30, hi = -1e30;
          for (std::size_t j = 0; j < k; ++j) {
            double t = 0;
            for (std::size_t u = 0; u < D; ++u) t += double(m.codebook[j * D + u]) * x[b * cols + s * D + u];
            lo = std::min(lo, t);
            hi = std::max(hi, t);
          }
          span = std::max(span, hi - lo);
        }
        const double bound = double(subvecs) * span / 255.0 / 2.0;
        for (std::size_t r = 0; r < rows; ++r) {
          double want = 0, mag = 0;
          for (std::size_t c = 0; c < cols; ++c) {
            want += double(w[r * cols + c]) * x[b * cols + c];
            mag += std::fabs(double(w[r * cols + c]) * x[b * cols + c]);
          }
          INFO("K " << k << " row " << r << " cols " << cols << " bound " << bound);
          REQUIRE(std::fabs(y[b * rows + r] - want) <= bound * (1 + 1e-4) + 1e-5 * (mag + 1));
        }
      }
    }
  }
}

TEST_CASE("vq_nibble rejects codebooks above 16 entries and the wrong d", "[kernel][lut]") {
  std::mt19937 rng(5);
  auto big = kt::random_compressed(rng, 4, 16, 32, 4, dense, mask_encoding::none, codebook_dtype::f32);
  auto r = pack_for<vq_nibble<4, lut_variant::u8>>(big.view());
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("K = 32") != std::string::npos);
  auto d2 = kt::random_compressed(rng, 4, 16, 16, 2, dense, mask_encoding::none, codebook_dtype::f32);
  CHECK_FALSE(pack_for<vq_nibble<4, lut_variant::exact>>(d2.view()));
  // the u8 variant has no int8 path, the exact one no fp32 path: a clear error, not UB
  auto p = pack_for<vq_nibble<2, lut_variant::exact>>(d2.view()).value();
  std::vector<float> x(16), y(4);
  auto e = gemm(p, matrix_view<const float>(x.data(), 1, 16), matrix_view<float>(y.data(), 1, 4));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == errc::unsupported);
}
