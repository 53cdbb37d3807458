#include <catch2/catch.hpp>

#include <random>
#include <tuple>

#include "kernel_test_support.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/executor.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
// (rows, cols, batch): every tail of the 4-row blocks, the 8/32-wide SIMD steps and the batch.
const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes = {
    {1, 1, 1}, {3, 7, 2}, {4, 32, 1}, {5, 33, 3}, {17, 64, 5}, {9, 95, 1}, {0, 16, 2}, {6, 0, 2}, {13, 200, 4}};
}

TEST_CASE("dense fp32 GEMM matches the reference for every tail", "[kernel][dense]") {
  std::mt19937 rng(1);
  thread_pool pool(2);
  for (auto [rows, cols, batch] : shapes) {
    auto w = kt::random_vector(rng, rows * cols);
    auto x = kt::random_vector(rng, batch * cols);
    auto p = pack_for<dense_f32>(matrix_view<const float>(w.data(), rows, cols)).value();
    std::vector<float> y(batch * rows, -1.0f), y2(batch * rows, -2.0f);
    REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
    REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y2.data(), batch, rows), pool));
    kt::check_close(y, w, rows, cols, x, batch);
    CHECK(y == y2);  // the executor changes the schedule, never the arithmetic
  }
}

TEST_CASE("dense int8 GEMM equals the reference int32 accumulators", "[kernel][dense][int8]") {
  std::mt19937 rng(2);
  thread_pool pool(3);
  for (auto [rows, cols, batch] : shapes) {
    auto wf = kt::random_vector(rng, rows * cols);
    auto x = kt::random_vector(rng, batch * cols, -3.0f, 3.0f);
    auto p = pack_for<dense_i8>(matrix_view<const float>(wf.data(), rows, cols)).value();
    auto xq = quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
    std::vector<std::int32_t> acc(batch * rows, 7), want(batch * rows, 0), acc2(batch * rows, 9);
    REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows)));
    REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc2.data(), batch, rows), pool));
    reference_gemm_i8(p.weights(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
    CHECK(acc == want);
    CHECK(acc2 == want);
    std::vector<float> y(batch * rows);
    REQUIRE(gemm(p, xq.view(), matrix_view<float>(y.data(), batch, rows)));
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t r = 0; r < rows; ++r)
        CHECK(y[b * rows + r] == float(want[b * rows + r]) * xq.scale[b] * p.weight_scale());
  }
}

TEST_CASE("dense int8 GEMM is exact at the extremes of the symmetric range", "[kernel][dense][int8]") {
  // All products ±127·127: the maddubs pair sums reach ±32258 and must not saturate.
  const std::size_t rows = 3, cols = 97;
  weights_i8 w{rows, cols, std::vector<std::int8_t>(rows * cols, 127), 1.0f};
  for (std::size_t c = 0; c < cols; ++c) w.values[cols + c] = -127;
  auto p = pack_for<dense_i8>(w).value();
  std::vector<std::int8_t> xq(cols, -127);
  std::vector<float> xs = {1.0f};
  std::vector<std::int32_t> acc(rows);
  REQUIRE(gemm_i8_acc(p, {matrix_view<const std::int8_t>(xq.data(), 1, cols), xs}, matrix_view<std::int32_t>(acc.data(), 1, rows)));
  CHECK(acc[0] == -127 * 127 * int(cols));
  CHECK(acc[1] == 127 * 127 * int(cols));
}

TEST_CASE("can_run rejects mismatched shapes and scales with a message naming the operand", "[kernel][dense]") {
  std::vector<float> w(12, 1.0f), x(8), y(6);
  auto p = pack_for<dense_f32>(matrix_view<const float>(w.data(), 3, 4)).value();
  auto r = gemm(p, matrix_view<const float>(x.data(), 2, 3), matrix_view<float>(y.data(), 2, 3));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::shape_mismatch);
  CHECK(r.error().message.find("activations have 3 columns") != std::string::npos);
  auto r2 = gemm(p, matrix_view<const float>(x.data(), 2, 4), matrix_view<float>(y.data(), 3, 2));
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message.find("output is 3 × 2") != std::string::npos);
  auto pi = pack_for<dense_i8>(matrix_view<const float>(w.data(), 3, 4)).value();
  std::vector<std::int8_t> xq(8);
  std::vector<float> xs(1, 1.0f);
  std::vector<std::int32_t> acc(6);
  auto r3 = gemm_i8_acc(pi, {matrix_view<const std::int8_t>(xq.data(), 2, 4), xs}, matrix_view<std::int32_t>(acc.data(), 2, 3));
  REQUIRE_FALSE(r3);
  CHECK(r3.error().message.find("1 activation scales for 2 batch rows") != std::string::npos);
  auto r4 = gemm(pi, matrix_view<const float>(x.data(), 2, 4), matrix_view<float>(y.data(), 2, 3));
  REQUIRE_FALSE(r4);
  CHECK(r4.error().code == errc::unsupported);
  weights_i8 bad{1, 2, {1, -128}, 1.0f};
  CHECK_FALSE(pack_for<dense_i8>(bad));
}
