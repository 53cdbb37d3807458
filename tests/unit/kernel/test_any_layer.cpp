// kernel::pack and any_packed: the kernel picked for each layout, and gemv / gemm / conv2d through the variant
// against the dense reference.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "kernel_test_support.hpp"
#include "mvq/kernel/any_layer.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
struct layout_case {
  std::uint32_t k, d;
  nm_pattern nm;
  const char* kernel;
};
}  // namespace

TEST_CASE("pack picks the specialised kernel its layout needs, the generic one otherwise", "[kernel][any]") {
  std::mt19937 rng(90);
  const std::vector<layout_case> cases = {
      {16, 2, dense, "vq_nibble_d2_u8"},   {16, 4, dense, "vq_nibble_d4_u8"},   {8, 4, dense, "vq_nibble_d4_u8"},
      {256, 4, dense, "vq_byte_d4"},       {256, 8, dense, "vq_byte_d8"},       {32, 16, dense, "vq_byte_d16"},
      {16, 8, dense, "vq_byte_d8"},        {256, 16, sparse_2_4, "mvq_d16_2_4"}, {256, 8, sparse_2_4, "mvq_d8_2_4"},
      {64, 4, sparse_2_4, "mvq_d4_2_4"},   {256, 16, sparse_1_4, "mvq_d16_1_4"}, {256, 8, sparse_1_4, "mvq_d8_1_4"},
      {256, 4, sparse_1_4, "mvq_d4_1_4"},  {512, 8, dense, "vq_generic"},       {256, 2, dense, "vq_generic"},
      {16, 8, sparse_2_8, "vq_generic"},   {256, 6, dense, "vq_generic"},       {16, 3, dense, "vq_generic"},
  };
  for (auto const& c : cases) {
    INFO("K = " << c.k << ", d = " << c.d << ", N:M " << to_string(c.nm));
    const std::size_t cols = c.d * 8 * (c.nm.dense() ? 1 : c.nm.m), rows = 37;
    auto m = kt::random_compressed(rng, rows, cols, c.k, c.d, c.nm,
                                   c.nm.dense() ? mask_encoding::none : mask_encoding::pattern, codebook_dtype::f32);
    CHECK(pack_kernel_name(m.layout) == c.kernel);
    auto w = pack(m.view());
    REQUIRE(w);
    CHECK(w->name() == c.kernel);
    CHECK(w->rows() == rows);
    CHECK(w->cols() == cols);
    CHECK(w->order() == reduction_order::oihw);
    // gemv and gemm (batch 5) through the variant, against the dense product
    auto dw = decompress(m.view());
    for (std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
      auto x = kt::random_vector(rng, batch * cols);
      std::vector<float> y(batch * rows, -3.0f);
      if (batch == 1)
        REQUIRE(gemv(*w, x, y));
      else
        REQUIRE(gemm(*w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
      // the u8 LUT's error bound is S·Δ/2 (vq_nibble.hpp); relative to Σ|w·x| that stays well under 1e-2 here
      kt::check_close(y, dw, rows, cols, x, batch, w->get_if<vq_nibble<2, lut_variant::u8>>() ||
                                                           w->get_if<vq_nibble<4, lut_variant::u8>>()
                                                       ? 2e-2
                                                       : 1e-5);
    }
  }
}

TEST_CASE("pack refuses a layout in another reduction order, naming the tensor", "[kernel][any]") {
  std::mt19937 rng(91);
  auto m = kt::random_compressed(rng, 16, 64, 256, 8, dense, mask_encoding::none, codebook_dtype::f32);
  m.layout.order = reduction_order::ohwi;
  auto bad = pack(m.view(), {.order = reduction_order::oihw, .name = "backbone.conv3"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("tensor 'backbone.conv3'") != std::string::npos);
  CHECK(bad.error().message.find("ohwi") != std::string::npos);
  auto ok = pack(m.view(), {.order = reduction_order::ohwi});
  REQUIRE(ok);
  CHECK(ok->order() == reduction_order::ohwi);
  // an invalid layout is named too
  m.layout.cols = 63;
  auto invalid = pack(m.view(), {.name = "head"});
  REQUIRE_FALSE(invalid);
  CHECK(invalid.error().message.rfind("tensor 'head': ", 0) == 0);
  // dense weights
  std::vector<float> d(4 * 6, 1.0f);
  auto dp = pack(matrix_view<const float>(d.data(), 4, 6), {.order = reduction_order::ohwi});
  REQUIRE(dp);
  CHECK(dp->name() == "dense_f32");
  CHECK(dp->order() == reduction_order::ohwi);
}

TEST_CASE("conv2d on any_packed computes in the weights' order", "[kernel][any][conv]") {
  std::mt19937 rng(92);
  const conv2d_params p{.batch = 2, .in_channels = 16, .height = 6, .width = 5, .out_channels = 12, .kernel_h = 3,
                        .kernel_w = 3, .pad_h = 1, .pad_w = 1, .groups = 2};
  const std::size_t og = 6, red = p.reduction(), cg = 8;
  auto in = kt::random_vector(rng, p.input_size());
  std::vector<float> want(p.output_size()), got(p.output_size());
  // the reference: dense_f32 packed from oihw weights
  std::vector<compressed_matrix> mats;
  std::vector<any_packed> dense_w;
  for (std::size_t g = 0; g < 2; ++g) {
    mats.push_back(kt::random_compressed(rng, og, red, 256, 8, dense, mask_encoding::none, codebook_dtype::f32));
    auto dw = decompress(mats.back().view());
    dense_w.push_back(pack(matrix_view<const float>(dw.data(), og, red)).value());
  }
  REQUIRE(conv2d(std::span<const any_packed>(dense_w), p, in, want));
  // the same weights with their columns in either order: conv2d lays its im2col out to match
  for (auto const order : {reduction_order::oihw, reduction_order::ohwi}) {
    std::vector<any_packed> w;
    for (std::size_t g = 0; g < 2; ++g) {
      auto dw = decompress(mats[g].view());
      std::vector<float> re(dw.size());
      REQUIRE(reorder_columns(matrix_view<const float>(dw.data(), og, red), cg, reduction_order::oihw, order,
                              matrix_view<float>(re.data(), og, red)));
      w.push_back(pack(matrix_view<const float>(re.data(), og, red), {.order = order}).value());
    }
    REQUIRE(conv2d(std::span<const any_packed>(w), p, in, got));
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(1e-5));
  }
  // mixed orders are an error
  std::vector<any_packed> mixed = {dense_w[0], pack(matrix_view<const float>(std::vector<float>(og * red).data(), og,
                                                                             red),
                                                    {.order = reduction_order::ohwi})
                                                   .value()};
  auto r = conv2d(std::span<const any_packed>(mixed), p, in, got);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("order") != std::string::npos);
}

TEST_CASE("vq_generic can borrow the view instead of copying it", "[kernel][any]") {
  std::mt19937 rng(93);
  auto m = kt::random_compressed(rng, 21, 96, 1024, 8, sparse_2_8, mask_encoding::bitmap, codebook_dtype::f32);
  auto owned = pack(m.view()).value();
  auto borrowed = pack(m.view(), {.borrow = true}).value();
  REQUIRE(owned.get_if<vq_generic>());
  REQUIRE(borrowed.get_if<vq_generic>());
  CHECK_FALSE(owned.get_if<vq_generic>()->borrowed());
  CHECK(borrowed.get_if<vq_generic>()->borrowed());
  auto x = kt::random_vector(rng, 96);
  std::vector<float> a(21), b(21);
  REQUIRE(gemv(owned, x, a));
  REQUIRE(gemv(borrowed, x, b));
  CHECK(a == b);
  kt::check_close(b, decompress(m.view()), 21, 96, x, 1);
  // the borrowed form reads the caller's arrays: changing an index changes the product, the copy's does not
  m.indices[0] ^= 1;
  REQUIRE(gemv(owned, x, a));
  REQUIRE(gemv(borrowed, x, b));
  CHECK(a != b);
  kt::check_close(b, decompress(m.view()), 21, 96, x, 1);
  // the specialised kernels repack and ignore the permission
  auto v8 = kt::random_compressed(rng, 16, 64, 256, 8, dense, mask_encoding::none, codebook_dtype::f32);
  CHECK(pack(v8.view(), {.borrow = true}).value().name() == "vq_byte_d8");
}
