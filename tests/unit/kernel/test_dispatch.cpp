// Baseline flags: dispatches at run time to the instantiations of the other two translation units.
#include <catch2/catch.hpp>

#include <random>

#include "dispatch_kernels.hpp"
#include "kernel_test_support.hpp"

MVQ_TEST_DISPATCH_KERNELS(MVQ_KERNEL_EXTERN, xsimd::fma3<xsimd::avx2>)
MVQ_TEST_DISPATCH_KERNELS(MVQ_KERNEL_EXTERN, xsimd::sse2)

using namespace mvq;
using namespace mvq::kernel;

TEST_CASE("runtime dispatch reaches a kernel and matches the references", "[kernel][dispatch]") {
  STATIC_REQUIRE(std::is_same_v<default_arch, xsimd::sse2>);  // this TU is built for baseline x86-64
  std::mt19937 rng(80);
  const std::size_t rows = 13, cols = 96, batch = 3;
  auto m = kt::random_compressed(rng, rows, cols, 256, 8, dense, mask_encoding::none, codebook_dtype::i8);
  auto p = pack_for<vq_byte<8>>(m.view()).value();
  auto x = kt::random_vector(rng, batch * cols);
  std::vector<float> y(batch * rows);
  REQUIRE(dispatch_gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
  kt::check_close(y, decompress(m.view()), rows, cols, x, batch);

  auto mm = kt::random_compressed(rng, rows, cols, 256, 16, sparse_2_4, mask_encoding::pattern, codebook_dtype::i8);
  auto pm = pack_for<mvq_byte<16, sparse_2_4>>(mm.view()).value();
  auto xq = quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
  std::vector<std::int32_t> acc(batch * rows), want(batch * rows);
  REQUIRE(dispatch_gemm_i8_acc(pm, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows)));
  reference_gemm_i8(decode_i8(mm.view()).view(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
  CHECK(acc == want);
  // a shape error travels back through the dispatcher
  CHECK_FALSE(dispatch_gemm(p, matrix_view<const float>(x.data(), 1, cols - 8), matrix_view<float>(y.data(), 1, rows)));
}
