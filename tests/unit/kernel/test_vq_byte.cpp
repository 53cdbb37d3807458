#include <catch2/catch.hpp>

#include <random>
#include <tuple>

#include "kernel_test_support.hpp"
#include "mvq/kernel/executor.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_generic.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
template <std::uint8_t D>
struct vq_case {
  using kernel = vq_byte<D>;
  static constexpr std::uint32_t d = D;
};
using vq_cases = std::tuple<vq_case<4>, vq_case<8>, vq_case<16>>;

// (rows, sub-vectors per row, batch): row tails of the 8-row interleave, batch below and above the decode
// threshold, zero rows.
const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes = {
    {1, 1, 1}, {7, 3, 1}, {8, 5, 2}, {9, 7, 3}, {23, 9, 1}, {16, 33, 5}, {0, 4, 2}, {13, 2, 9}};
}  // namespace

TEMPLATE_LIST_TEST_CASE("vq_byte int8 path equals the reference int32 accumulators", "[kernel][vq_byte][int8]", vq_cases) {
  std::mt19937 rng(10 + TestType::d);
  thread_pool pool(2);
  for (auto k : {256u, 64u}) {
    for (auto cbt : {codebook_dtype::i8, codebook_dtype::f32}) {
      for (auto [rows, subvecs, batch] : shapes) {
        const std::size_t cols = subvecs * TestType::d;
        auto m = kt::random_compressed(rng, rows, cols, k, TestType::d, dense, mask_encoding::none, cbt);
        auto p = pack_for<typename TestType::kernel>(m.view()).value();
        auto w8 = decode_i8(m.view());
        CHECK(p.weight_scale() == w8.scale);
        auto x = kt::random_vector(rng, batch * cols);
        auto xq = quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
        std::vector<std::int32_t> acc(batch * rows, 5), acc2(batch * rows, 6), want(batch * rows);
        REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows)));
        REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc2.data(), batch, rows), pool));
        reference_gemm_i8(w8.view(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
        INFO("K " << k << " rows " << rows << " cols " << cols << " batch " << batch);
        CHECK(acc == want);
        CHECK(acc2 == want);
      }
    }
  }
}

TEMPLATE_LIST_TEST_CASE("vq_byte fp32 path matches decompress + dense loops", "[kernel][vq_byte]", vq_cases) {
  std::mt19937 rng(20 + TestType::d);
  for (auto [rows, subvecs, batch] : shapes) {
    const std::size_t cols = subvecs * TestType::d;
    auto m = kt::random_compressed(rng, rows, cols, 256, TestType::d, dense, mask_encoding::none, codebook_dtype::f32);
    auto p = pack_for<typename TestType::kernel>(m.view()).value();
    auto x = kt::random_vector(rng, batch * cols);
    std::vector<float> y(batch * rows, -1.0f);
    REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
    kt::check_close(y, decompress(m.view()), rows, cols, x, batch);
  }
}

TEST_CASE("vq_byte rejects layouts it cannot run", "[kernel][vq_byte]") {
  std::mt19937 rng(3);
  auto masked = kt::random_compressed(rng, 4, 16, 256, 8, sparse_2_4, mask_encoding::pattern, codebook_dtype::f32);
  auto r = pack_for<vq_byte<8>>(masked.view());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::unsupported);
  CHECK(r.error().message.find("2:4") != std::string::npos);
  auto d4 = kt::random_compressed(rng, 4, 16, 256, 4, dense, mask_encoding::none, codebook_dtype::f32);
  CHECK_FALSE(pack_for<vq_byte<8>>(d4.view()));
  auto big = kt::random_compressed(rng, 2, 16, 512, 8, dense, mask_encoding::none, codebook_dtype::f32);
  CHECK_FALSE(pack_for<vq_byte<8>>(big.view()));
}

TEST_CASE("vq_generic decodes any layout: K > 256, odd d, masks", "[kernel][vq_generic]") {
  std::mt19937 rng(90);
  struct cfg {
    std::uint32_t k, d;
    nm_pattern nm;
    mask_encoding enc;
    codebook_dtype cb;
  };
  for (auto c : {cfg{4096, 8, dense, mask_encoding::none, codebook_dtype::f32},
                 cfg{512, 3, dense, mask_encoding::none, codebook_dtype::i8},
                 cfg{65536, 4, sparse_2_4, mask_encoding::bitmap, codebook_dtype::f32},
                 cfg{1024, 8, sparse_2_8, mask_encoding::pattern, codebook_dtype::i8}}) {
    for (auto [rows, subvecs, batch] : shapes) {
      const std::size_t cols = subvecs * c.d;
      auto m = kt::random_compressed(rng, rows, cols, c.k, c.d, c.nm, c.enc, c.cb, true);
      auto p = pack_for<vq_generic>(m.view()).value();
      auto x = kt::random_vector(rng, batch * cols);
      std::vector<float> y(batch * rows);
      REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
      kt::check_close(y, decompress(m.view()), rows, cols, x, batch);
      auto xq = quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
      auto w8 = decode_i8(m.view());
      std::vector<std::int32_t> acc(batch * rows), want(batch * rows);
      REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows)));
      reference_gemm_i8(w8.view(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
      CHECK(acc == want);
    }
  }
}
