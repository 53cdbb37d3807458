#pragma once
/// @file
/// How a weight tensor becomes a matrix of sub-vectors: rows = output channels, columns = the reduction axis
/// (conv OIHW: I·kh·kw flattened in (i, y, x) order; linear [out, in]: in), each row cut into contiguous
/// d-element sub-vectors (the convention of PQF, Martinez et al. CVPR 2021; BGD, Stock et al. ICLR 2020;
/// VQ4DiT). The alternative conv reduction order (y, x) outer, i inner (`reduction_order::ohwi`) is core's
/// `reorder_columns`; N:M groups and calibration columns must then use the same order (apply the same reordering
/// to the calibration rows) and the layout records it (`compress_options::order`). Layer classification tells which tensors are compressed by default: depthwise/grouped convs and
/// ConvTranspose weights (IOHW, [C_in, C_out/group, kh, kw]) stay dense, as in MVQ.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"

namespace mvq::inline v0::quant {

/// What kind of layer a weight tensor belongs to.
enum class layer_kind : std::uint8_t {
  linear,          ///< 2-D [out, in]
  conv,            ///< ≥ 3-D [O, I, k...] with group 1
  grouped_conv,    ///< group > 1 and I > 1
  depthwise_conv,  ///< group > 1 and I = 1, or (group unknown) shape [O, 1, k...] with a kernel of more than one tap
  conv_transpose,  ///< ConvTranspose weight (IOHW); kept dense
  other,           ///< fewer than 2 dimensions (biases, scales)
};

/// "linear", "conv", ...
[[nodiscard]] constexpr const char* to_string(layer_kind k) noexcept {
  switch (k) {
    case layer_kind::linear: return "linear";
    case layer_kind::conv: return "conv";
    case layer_kind::grouped_conv: return "grouped_conv";
    case layer_kind::depthwise_conv: return "depthwise_conv";
    case layer_kind::conv_transpose: return "conv_transpose";
    case layer_kind::other: return "other";
  }
  return "?";
}

/// A weight tensor seen as a rows × cols matrix.
struct layer_info {
  layer_kind kind = layer_kind::other;
  std::size_t rows = 0;         ///< output channels (shape[0])
  std::size_t cols = 0;         ///< reduction length (product of the other dimensions)
  std::size_t in_channels = 0;  ///< shape[1] (conv) or cols (linear)
  std::size_t kernel_size = 1;  ///< kh·kw (product of shape[2:]), 1 for linear
};

/// Classifies a weight tensor from its shape, the conv `group` when the file's metadata gives it, and whether it
/// is a ConvTranspose weight.
[[nodiscard]] constexpr layer_info classify_layer(std::span<const std::uint64_t> shape,
                                                  std::optional<std::uint64_t> group = std::nullopt,
                                                  bool transpose = false) noexcept {
  layer_info li;
  if (shape.size() < 2) return li;
  li.rows = static_cast<std::size_t>(shape[0]);
  li.in_channels = static_cast<std::size_t>(shape[1]);
  for (std::size_t i = 2; i < shape.size(); ++i) li.kernel_size *= static_cast<std::size_t>(shape[i]);
  li.cols = li.in_channels * li.kernel_size;
  if (transpose) {
    li.kind = layer_kind::conv_transpose;
  } else if (shape.size() == 2) {
    li.kind = layer_kind::linear;
  } else if (group) {
    li.kind = *group <= 1 ? layer_kind::conv : li.in_channels == 1 ? layer_kind::depthwise_conv : layer_kind::grouped_conv;
  } else {
    li.kind = li.in_channels == 1 && li.kernel_size > 1 ? layer_kind::depthwise_conv : layer_kind::conv;
  }
  return li;
}

/// Whether a layer of this kind is compressed by default (linear and ungrouped conv).
[[nodiscard]] constexpr bool compressed_by_default(layer_kind k) noexcept {
  return k == layer_kind::linear || k == layer_kind::conv;
}

}  // namespace mvq::inline v0::quant
