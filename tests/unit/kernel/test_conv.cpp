#include <catch2/catch.hpp>

#include <random>
#include <tuple>

#include "kernel_test_support.hpp"
#include "mvq/kernel/conv.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_generic.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
// Each case: a kernel and the compressed layout its weights come in.
struct dense_case {
  using kernel = dense_f32;
  static constexpr std::uint32_t d = 8;
  static constexpr nm_pattern nm = dense;
};
struct vq_case {
  using kernel = vq_byte<8>;
  static constexpr std::uint32_t d = 8;
  static constexpr nm_pattern nm = dense;
};
struct sparse_case {
  using kernel = nm_sparse<sparse_2_4>;
  static constexpr std::uint32_t d = 4;
  static constexpr nm_pattern nm = sparse_2_4;
};
struct mvq_case {
  using kernel = mvq_byte<16, sparse_2_4>;
  static constexpr std::uint32_t d = 16;
  static constexpr nm_pattern nm = sparse_2_4;
};
struct int8_case {  // no fp32 path: conv2d quantizes the im2col rows
  using kernel = dense_i8;
  static constexpr std::uint32_t d = 8;
  static constexpr nm_pattern nm = dense;
};
using cases = std::tuple<dense_case, vq_case, sparse_case, mvq_case, int8_case>;

conv2d_params conv(std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::size_t o, std::size_t k,
                   std::size_t stride, std::size_t pad, std::size_t dil, std::size_t groups) {
  return {.batch = n, .in_channels = c, .height = h, .width = w, .out_channels = o, .kernel_h = k, .kernel_w = k,
          .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad, .dilation_h = dil, .dilation_w = dil,
          .groups = groups};
}

// Inputs under output pixel (oy, ox) of group g, from the definition of convolution (independent of im2col).
std::vector<float> patch(conv2d_params const& p, std::vector<float> const& in, std::size_t n, std::size_t g,
                         std::size_t oy, std::size_t ox) {
  std::vector<float> v;
  const std::size_t cg = p.in_channels / p.groups;
  for (std::size_t c = 0; c < cg; ++c)
    for (std::size_t ky = 0; ky < p.kernel_h; ++ky)
      for (std::size_t kx = 0; kx < p.kernel_w; ++kx) {
        const long iy = long(oy * p.stride_h + ky * p.dilation_h) - long(p.pad_h);
        const long ix = long(ox * p.stride_w + kx * p.dilation_w) - long(p.pad_w);
        const bool inside = iy >= 0 && iy < long(p.height) && ix >= 0 && ix < long(p.width);
        v.push_back(inside ? in[((n * p.in_channels + g * cg + c) * p.height + std::size_t(iy)) * p.width + std::size_t(ix)] : 0.0f);
      }
  return v;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("conv2d via im2col matches direct convolution", "[kernel][conv]", cases) {
  using K = typename TestType::kernel;
  std::mt19937 rng(70);
  const std::vector<conv2d_params> params = {
      conv(1, 16, 5, 5, 8, 1, 1, 0, 1, 1),   // 1×1
      conv(2, 16, 7, 6, 9, 3, 2, 1, 1, 1),   // stride 2, padding, odd O (row tails)
      conv(1, 32, 6, 7, 6, 3, 1, 2, 2, 2),   // dilation 2, groups 2
      conv(1, 16, 2, 2, 4, 3, 1, 0, 1, 1),   // kernel larger than the image: empty output
  };
  for (auto const order : {reduction_order::oihw, reduction_order::ohwi})
  for (auto const& p : params) {
    INFO("weights in " << to_string(order) << " order");
    const std::size_t og = p.out_channels / p.groups, red = p.reduction(), cg = p.in_channels / p.groups;
    std::vector<compressed_matrix> mats;
    std::vector<packed<K>> w;
    for (std::size_t g = 0; g < p.groups; ++g) {
      mats.push_back(kt::random_compressed(rng, og, red, 256, TestType::d, TestType::nm,
                                           TestType::nm.dense() ? mask_encoding::none : mask_encoding::bitmap,
                                           codebook_dtype::f32));
      mats.back().layout.order = order;  // the columns are read in this order: conv2d's im2col must follow it
      w.push_back(pack_for<K>(mats.back().view(), order).value());
      REQUIRE(w.back().order() == order);
    }
    auto in = kt::random_vector(rng, p.input_size());
    std::vector<float> out(p.output_size(), -7.0f);
    REQUIRE(conv2d(std::span<const packed<K>>(w), p, in, out));
    // back to oihw, the order `patch` (the definition of convolution) reads inputs in
    const auto to_oihw = [&](auto const& v) {
      using T = typename std::decay_t<decltype(v)>::value_type;
      std::vector<float> f(v.begin(), v.end()), o(f.size());
      REQUIRE(reorder_columns(matrix_view<const float>(f.data(), og, red), cg, order, reduction_order::oihw,
                              matrix_view<float>(o.data(), og, red)));
      return std::vector<T>(o.begin(), o.end());
    };
    for (std::size_t n = 0; n < p.batch; ++n)
      for (std::size_t g = 0; g < p.groups; ++g) {
        auto dw = to_oihw(decompress(mats[g].view()));
        auto w8 = decode_i8(mats[g].view());  // dense_i8 packs a compressed matrix through decode_i8
        w8.values = to_oihw(w8.values);
        for (std::size_t oy = 0; oy < p.out_h(); ++oy)
          for (std::size_t ox = 0; ox < p.out_w(); ++ox) {
            auto x = patch(p, in, n, g, oy, ox);
            for (std::size_t o = 0; o < og; ++o) {
              const float got = out[((n * p.out_channels + g * og + o) * p.out_h() + oy) * p.out_w() + ox];
              if constexpr (!packed<K>::supports_f32) {
                // the int8 path: per-pixel quantization, exact int32, the stated dequantization order
                auto xq = quantize_activations(matrix_view<const float>(x.data(), 1, red)).value();
                std::int32_t acc = 0;
                for (std::size_t c = 0; c < red; ++c) acc += std::int32_t{w8.values[o * red + c]} * xq.q[c];
                CHECK(got == float(acc) * xq.scale[0] * w8.scale);
              } else {
                double want = 0, mag = 0;
                for (std::size_t c = 0; c < red; ++c) {
                  want += double(dw[o * red + c]) * x[c];
                  mag += std::fabs(double(dw[o * red + c]) * x[c]);
                }
                REQUIRE(std::fabs(got - want) <= 1e-5 * (mag + 1e-6));
              }
            }
          }
      }
  }
}

TEST_CASE("the reduction order is recorded, checked at packing and agreed on by every group", "[kernel][conv]") {
  std::mt19937 rng(72);
  auto m = kt::random_compressed(rng, 8, 16 * 9, 256, 8, dense, mask_encoding::none, codebook_dtype::f32);
  m.layout.order = reduction_order::ohwi;
  // unchecked packing records the layout's order; a caller computing in oihw is refused, naming the tensor
  CHECK(pack_for<vq_byte<8>>(m.view()).value().order() == reduction_order::ohwi);
  auto bad = pack_for<vq_byte<8>>(m.view(), pack_options{.order = reduction_order::oihw, .name = "blocks.3.conv"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("tensor 'blocks.3.conv'") != std::string::npos);
  CHECK(bad.error().message.find("ohwi") != std::string::npos);
  CHECK_FALSE(pack_for<vq_generic>(m.view(), reduction_order::oihw));
  CHECK(pack_for<vq_generic>(m.view(), reduction_order::ohwi));
  // other packing errors carry the name too
  auto wrong_d = pack_for<vq_byte<16>>(m.view(), pack_options{.name = "fc"});
  REQUIRE_FALSE(wrong_d);
  CHECK(wrong_d.error().message.rfind("tensor 'fc': ", 0) == 0);
  // dense weights are oihw unless told otherwise
  std::vector<float> dw(8 * 16 * 9, 0.5f);
  matrix_view<const float> dv(dw.data(), 8, 16 * 9);
  CHECK(pack_for<dense_f32>(dv).value().order() == reduction_order::oihw);
  CHECK(pack_for<dense_f32>(dv, reduction_order::ohwi).value().order() == reduction_order::ohwi);
  // groups that disagree on the order
  auto p = conv(1, 32, 5, 5, 16, 3, 1, 1, 1, 2);
  std::vector<packed<dense_f32>> w;
  w.push_back(pack_for<dense_f32>(dv).value());
  w.push_back(pack_for<dense_f32>(dv, reduction_order::ohwi).value());
  std::vector<float> in(p.input_size()), out(p.output_size());
  auto r = conv2d(std::span<const packed<dense_f32>>(w), p, in, out);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("group 1 are in ohwi order, group 0's in oihw") != std::string::npos);
}

TEST_CASE("conv2d and depthwise_conv2d reject inconsistent parameters", "[kernel][conv]") {
  std::vector<packed<dense_f32>> w(1);
  std::vector<float> in(16), out(16);
  auto p = conv(1, 3, 4, 4, 4, 3, 1, 1, 1, 2);
  auto r = conv2d(std::span<const packed<dense_f32>>(w), p, in, out);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("groups = 2 must divide C = 3") != std::string::npos);
  auto p2 = conv(1, 1, 4, 4, 1, 3, 0, 1, 1, 1);
  CHECK_FALSE(validate(p2));
  auto p3 = conv(1, 2, 4, 4, 2, 3, 1, 1, 1, 2);
  std::vector<float> dw(17);
  auto r3 = depthwise_conv2d(dw, p3, std::vector<float>(32), out);
  REQUIRE_FALSE(r3);
  CHECK(r3.error().message.find("17 weights") != std::string::npos);
}

TEST_CASE("depthwise_conv2d matches direct convolution", "[kernel][conv]") {
  std::mt19937 rng(71);
  for (auto p : {conv(2, 3, 7, 5, 3, 3, 1, 1, 1, 3), conv(1, 4, 9, 8, 4, 3, 2, 2, 2, 4), conv(1, 2, 5, 5, 2, 5, 1, 0, 1, 2)}) {
    auto w = kt::random_vector(rng, p.in_channels * p.kernel_h * p.kernel_w);
    auto in = kt::random_vector(rng, p.input_size());
    std::vector<float> out(p.output_size());
    REQUIRE(depthwise_conv2d(w, p, in, out));
    for (std::size_t n = 0; n < p.batch; ++n)
      for (std::size_t c = 0; c < p.in_channels; ++c)
        for (std::size_t oy = 0; oy < p.out_h(); ++oy)
          for (std::size_t ox = 0; ox < p.out_w(); ++ox) {
            auto x = patch(p, in, n, c, oy, ox);  // groups = C: the patch of channel c
            double want = 0;
            for (std::size_t k = 0; k < x.size(); ++k) want += double(w[c * x.size() + k]) * x[k];
            CHECK(out[((n * p.in_channels + c) * p.out_h() + oy) * p.out_w() + ox] == Approx(want).margin(1e-5));
          }
  }
}
