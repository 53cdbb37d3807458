#include <catch2/catch.hpp>

#include <random>
#include <tuple>

#include "kernel_test_support.hpp"
#include "mvq/kernel/executor.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
template <nm_pattern P>
struct pat {
  static constexpr nm_pattern nm = P;
};
using patterns = std::tuple<pat<sparse_1_4>, pat<sparse_2_4>, pat<sparse_2_8>>;

template <std::uint8_t D, nm_pattern P>
struct mvq_case {
  static constexpr std::uint8_t d = D;
  static constexpr nm_pattern nm = P;
};
using mvq_cases = std::tuple<mvq_case<16, sparse_2_4>, mvq_case<16, sparse_1_4>, mvq_case<8, sparse_2_8>,
                             mvq_case<4, sparse_2_4>>;

// (rows, columns in units of 16, batch); the 2:4 AVX2 path steps 32 then 16 columns, so 1, 2, 3 units cover its
// tails; + 8 more columns cover the scalar tail where M divides it.
const std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> shapes = {
    {1, 1, 1}, {3, 2, 2}, {7, 3, 1}, {5, 9, 3}, {0, 2, 1}, {11, 4, 5}};
}  // namespace

TEMPLATE_LIST_TEST_CASE("nm_sparse fp32 and int8 paths match the references", "[kernel][sparse]", patterns) {
  constexpr nm_pattern P = TestType::nm;
  std::mt19937 rng(50 + P.n * 8 + P.m);
  thread_pool pool(2);
  for (auto enc : {mask_encoding::bitmap, mask_encoding::pattern}) {
    for (auto [rows, units, batch] : shapes) {
      for (std::size_t extra : {std::size_t{0}, std::size_t{8}}) {
        const std::size_t cols = units * 16 + extra;
        auto m = kt::random_compressed(rng, rows, cols, 256, P.m, P, enc, codebook_dtype::f32, true);
        auto p = pack_for<nm_sparse<P>>(m.view()).value();
        auto dense_w = decompress(m.view());
        // the dense-matrix entry point packs the same thing
        auto p2 = pack_for<nm_sparse<P>>(matrix_view<const float>(dense_w.data(), rows, cols)).value();
        auto x = kt::random_vector(rng, batch * cols);
        std::vector<float> y(batch * rows), y2(batch * rows);
        REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
        REQUIRE(gemm(p2, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y2.data(), batch, rows), pool));
        kt::check_close(y, dense_w, rows, cols, x, batch);
        CHECK(y == y2);
        auto xq = quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
        auto w8 = quantize_weights(matrix_view<const float>(dense_w.data(), rows, cols));
        CHECK(p.weight_scale() == w8.scale);
        std::vector<std::int32_t> acc(batch * rows), want(batch * rows);
        REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows)));
        reference_gemm_i8(w8.view(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
        CHECK(acc == want);
      }
    }
  }
}

TEST_CASE("nm_sparse rejects groups with more than N nonzeros", "[kernel][sparse]") {
  std::vector<float> w = {1, 0, 0, 0, 1, 1, 1, 0};
  auto r = pack_for<nm_sparse<sparse_2_4>>(matrix_view<const float>(w.data(), 1, 8));
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("row 0, group 1") != std::string::npos);
  CHECK_FALSE(pack_for<nm_sparse<sparse_2_4>>(matrix_view<const float>(w.data(), 1, 6)));
}

TEMPLATE_LIST_TEST_CASE("mvq_byte multiplies only kept weights and matches the references", "[kernel][mvq]", mvq_cases) {
  constexpr std::uint8_t D = TestType::d;
  constexpr nm_pattern P = TestType::nm;
  std::mt19937 rng(60 + D + P.m);
  thread_pool pool(2);
  for (auto enc : {mask_encoding::bitmap, mask_encoding::pattern}) {
    for (auto cbt : {codebook_dtype::i8, codebook_dtype::f32}) {
      for (auto [rows, units, batch] : shapes) {
        for (std::size_t extra : {std::size_t{0}, std::size_t{D == 16 ? 48u : 3u * D}}) {
          const std::size_t cols = units * 16 + extra;  // sub-vector counts 1..12: every tail of the 4-sub-vector step
          auto m = kt::random_compressed(rng, rows, cols, 256, D, P, enc, cbt, true);
          auto p = pack_for<mvq_byte<D, P>>(m.view()).value();
          auto x = kt::random_vector(rng, batch * cols);
          std::vector<float> y(batch * rows);
          REQUIRE(gemm(p, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
          kt::check_close(y, decompress(m.view()), rows, cols, x, batch);
          auto xq = quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
          auto w8 = decode_i8(m.view());
          std::vector<std::int32_t> acc(batch * rows), acc2(batch * rows), want(batch * rows);
          REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc.data(), batch, rows)));
          REQUIRE(gemm_i8_acc(p, xq.view(), matrix_view<std::int32_t>(acc2.data(), batch, rows), pool));
          reference_gemm_i8(w8.view(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
          INFO("rows " << rows << " cols " << cols << " batch " << batch);
          CHECK(acc == want);
          CHECK(acc2 == want);
        }
      }
    }
  }
}

TEST_CASE("mvq_byte rejects a different pattern or d", "[kernel][mvq]") {
  std::mt19937 rng(9);
  auto m = kt::random_compressed(rng, 2, 32, 256, 16, sparse_1_4, mask_encoding::pattern, codebook_dtype::f32);
  auto r = pack_for<mvq_byte<16, sparse_2_4>>(m.view());
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("1:4") != std::string::npos);
  CHECK_FALSE(pack_for<mvq_byte<8, sparse_1_4>>(m.view()));
}
