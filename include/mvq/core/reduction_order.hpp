#pragma once
/// @file
/// The order of a convolution weight's reduction axis, and the one column reorder between the two orders.
///
/// A weight tensor [O, I, s1, …, sk] is a matrix of rows = O and cols = I·S (S = s1·…·sk). Its columns are
///  - `oihw`: I outer, spatial inner, column i·S + s: the tensor's own row-major order (PyTorch, ONNX; the order
///    PQF, BGD and VQ4DiT cut sub-vectors in), and the order `kernel::im2col` produces activations in;
///  - `ohwi`: spatial outer, I inner, column s·I + i: sub-vectors run across input channels at one kernel tap
///    (TensorFlow's and channels-last engines' order).
/// For a 2-D weight [O, I] (S = 1) both orders are the identity. The order is part of `compressed_layout`:
/// every consumer (kernels, conv2d, the emulator's im2col) checks that it computes in the layer's order.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"

namespace mvq::inline v0 {

/// Column order of a weight matrix's reduction axis.
enum class reduction_order : std::uint8_t {
  oihw,  ///< I outer, spatial inner: the tensor's own row-major order
  ohwi,  ///< spatial outer, I inner
};

/// "oihw" or "ohwi".
[[nodiscard]] constexpr std::string_view to_string(reduction_order o) noexcept {
  return o == reduction_order::oihw ? "oihw" : "ohwi";
}

/// Parses "oihw" / "ohwi".
[[nodiscard]] constexpr std::optional<reduction_order> parse_reduction_order(std::string_view s) noexcept {
  if (s == "oihw") return reduction_order::oihw;
  if (s == "ohwi") return reduction_order::ohwi;
  return std::nullopt;
}

/// Reorders the columns of a rows × (I·S) matrix from order `from` to order `to` (`in_channels` = I). Applies to
/// weights and, identically, to their calibration rows or im2col activations. `out` must have `in`'s shape and
/// must not alias it. Errors name the shapes.
[[nodiscard]] inline result<void> reorder_columns(matrix_view<const float> in, std::size_t in_channels,
                                                  reduction_order from, reduction_order to, matrix_view<float> out) {
  if (in_channels == 0 || in.cols() % in_channels != 0)
    return fail(errc::shape_mismatch, "reorder_columns: the row length " + std::to_string(in.cols()) +
                                          " is not a multiple of the input channel count " +
                                          std::to_string(in_channels));
  if (out.rows() != in.rows() || out.cols() != in.cols())
    return fail(errc::shape_mismatch, "reorder_columns: the output is " + std::to_string(out.rows()) + " × " +
                                          std::to_string(out.cols()) + ", the input " + std::to_string(in.rows()) +
                                          " × " + std::to_string(in.cols()));
  const std::size_t ch = in_channels, sp = in.cols() / in_channels;
  for (std::size_t r = 0; r < in.rows(); ++r) {
    const float* src = in.row(r).data();
    float* dst = out.row(r).data();
    if (from == to || sp == 1 || ch == 1) {
      for (std::size_t c = 0; c < in.cols(); ++c) dst[c] = src[c];
    } else if (from == reduction_order::oihw) {
      for (std::size_t i = 0; i < ch; ++i)
        for (std::size_t s = 0; s < sp; ++s) dst[s * ch + i] = src[i * sp + s];
    } else {
      for (std::size_t i = 0; i < ch; ++i)
        for (std::size_t s = 0; s < sp; ++s) dst[i * sp + s] = src[s * ch + i];
    }
  }
  return {};
}

}  // namespace mvq::inline v0
