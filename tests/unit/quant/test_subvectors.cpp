// Layer classification and the conv reduction-order helpers.
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "mvq/core/reduction_order.hpp"
#include "mvq/quant/subvectors.hpp"

using namespace mvq;
using namespace mvq::quant;

TEST_CASE("layers are classified from shape and group", "[quant][subvectors]") {
  std::array<std::uint64_t, 4> conv{32, 16, 3, 3}, dw{32, 1, 3, 3}, pw{32, 1, 1, 1};
  std::array<std::uint64_t, 2> lin{128, 256};
  std::array<std::uint64_t, 1> bias{32};
  auto c = classify_layer(conv, 1);
  CHECK(c.kind == layer_kind::conv);
  CHECK(c.rows == 32);
  CHECK(c.cols == 144);
  CHECK(c.in_channels == 16);
  CHECK(c.kernel_size == 9);
  CHECK(classify_layer(conv, 4).kind == layer_kind::grouped_conv);
  CHECK(classify_layer(dw, 32).kind == layer_kind::depthwise_conv);
  CHECK(classify_layer(dw).kind == layer_kind::depthwise_conv);   // no metadata: shape [O, 1, kh, kw]
  CHECK(classify_layer(dw, 1).kind == layer_kind::conv);          // group 1 wins over the shape
  CHECK(classify_layer(pw).kind == layer_kind::conv);             // 1×1 with one input channel is not depthwise
  CHECK(classify_layer(dw, 1, true).kind == layer_kind::conv_transpose);
  CHECK(classify_layer(lin).kind == layer_kind::linear);
  CHECK(classify_layer(lin).cols == 256);
  CHECK(classify_layer(bias).kind == layer_kind::other);
  CHECK(compressed_by_default(layer_kind::conv));
  CHECK(compressed_by_default(layer_kind::linear));
  CHECK_FALSE(compressed_by_default(layer_kind::depthwise_conv));
  CHECK_FALSE(compressed_by_default(layer_kind::grouped_conv));
  CHECK_FALSE(compressed_by_default(layer_kind::conv_transpose));
}

TEST_CASE("ohwi reordering maps (i, s) to (s, i) and back", "[quant][subvectors]") {
  const std::size_t rows = 3, in = 4, taps = 6, cols = in * taps;
  std::vector<float> w(rows * cols), sm(rows * cols), back(rows * cols);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
  const auto oihw = reduction_order::oihw, ohwi = reduction_order::ohwi;
  REQUIRE(reorder_columns(matrix_view<const float>(w.data(), rows, cols), in, oihw, ohwi,
                          matrix_view<float>(sm.data(), rows, cols)));
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < in; ++i)
      for (std::size_t s = 0; s < taps; ++s) CHECK(sm[r * cols + s * in + i] == w[r * cols + i * taps + s]);
  REQUIRE(reorder_columns(matrix_view<const float>(sm.data(), rows, cols), in, ohwi, oihw,
                          matrix_view<float>(back.data(), rows, cols)));
  CHECK(back == w);
  REQUIRE(reorder_columns(matrix_view<const float>(w.data(), rows, cols), in, ohwi, ohwi,
                          matrix_view<float>(back.data(), rows, cols)));
  CHECK(back == w);
  CHECK_FALSE(reorder_columns(matrix_view<const float>(w.data(), rows, cols), 5, oihw, ohwi,
                              matrix_view<float>(sm.data(), rows, cols)));
  CHECK_FALSE(reorder_columns(matrix_view<const float>(w.data(), rows, cols), in, oihw, ohwi,
                              matrix_view<float>(sm.data(), rows - 1, cols)));
}
