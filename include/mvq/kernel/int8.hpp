#pragma once
/// @file
/// int8 helpers shared by the kernels, their tests and the emulator: activation quantization with one scale per
/// batch row, int8 decoding of compressed weights, and the plain reference int8 GEMM whose int32 accumulators
/// every integer path must reproduce exactly. Conventions: `int8_conventions` (core/int8.hpp).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/int8.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// int8 activations: B × cols quantized values with one scale per batch row (x(b, c) ≈ q(b, c) · scale[b]).
struct activations_i8_view {
  matrix_view<const std::int8_t> q;  ///< B × cols, values in [−127, 127]
  std::span<const float> scale;      ///< B positive scales
};

/// Owning int8 activations.
struct activations_i8 {
  std::size_t rows = 0, cols = 0;  ///< B and the reduction length
  std::vector<std::int8_t> q;      ///< rows × cols, row-major
  std::vector<float> scale;        ///< rows scales

  /// The non-owning form the kernels take.
  [[nodiscard]] activations_i8_view view() const noexcept {
    return {matrix_view<const std::int8_t>(q.data(), rows, cols), scale};
  }
};

/// Quantizes each row of `x` with its own symmetric scale into caller memory (`q`: x's shape, `scale`: one per
/// row); never allocates. Non-finite inputs are an error naming the row.
[[nodiscard]] inline result<void> quantize_activations(matrix_view<const float> x, matrix_view<std::int8_t> q,
                                                       std::span<float> scale) {
  if (q.rows() != x.rows() || q.cols() != x.cols() || scale.size() != x.rows()) [[unlikely]]
    return fail(errc::shape_mismatch, "quantize_activations: the outputs do not have the input's shape");
  for (std::size_t b = 0; b < x.rows(); ++b) {
    auto row = x.row(b);
    for (float v : row)
      if (!std::isfinite(v)) [[unlikely]]
        return fail(errc::invalid_argument,
                    "quantize_activations: row " + std::to_string(b) + " holds a non-finite value");
    const float s = symmetric_scale(row);
    scale[b] = s;
    for (std::size_t c = 0; c < row.size(); ++c) q(b, c) = quantize_i8(row[c], s);
  }
  return {};
}

/// Quantizes each row of `x` with its own symmetric scale. Non-finite inputs are an error naming the row.
[[nodiscard]] inline result<activations_i8> quantize_activations(matrix_view<const float> x) {
  activations_i8 out;
  out.rows = x.rows();
  out.cols = x.cols();
  out.q.resize(x.rows() * x.cols());
  out.scale.resize(x.rows());
  for (std::size_t b = 0; b < x.rows(); ++b) {
    auto row = x.row(b);
    for (float v : row)
      if (!std::isfinite(v))
        return fail(errc::invalid_argument,
                    "quantize_activations: row " + std::to_string(b) + " holds a non-finite value");
    const float s = symmetric_scale(row);
    out.scale[b] = s;
    for (std::size_t c = 0; c < row.size(); ++c) out.q[b * x.cols() + c] = quantize_i8(row[c], s);
  }
  return out;
}

/// An int8 codebook: k·d values in [−127, 127] and one scale (codeword j ≈ values[j·d, (j+1)·d) · scale).
struct codebook_i8 {
  std::vector<std::int8_t> values;  ///< k·d entries
  float scale = 1.0f;               ///< per-matrix weight scale
};

/// The int8 codebook of a compressed matrix: its stored one when the layout's codebook is i8 (exact), otherwise a
/// symmetric per-matrix quantization of the fp32 codebook (a lossy step, documented at every int8 entry point).
[[nodiscard]] inline codebook_i8 weight_codebook_i8(compressed_matrix_view const& w) {
  codebook_i8 cb;
  if (w.layout.codebook == codebook_dtype::i8) {
    cb.values.assign(w.codebook_i8.begin(), w.codebook_i8.end());
    cb.scale = w.codebook_scale;
    return cb;
  }
  cb.scale = symmetric_scale(w.codebook);
  cb.values.resize(w.codebook.size());
  for (std::size_t i = 0; i < w.codebook.size(); ++i) cb.values[i] = quantize_i8(w.codebook[i], cb.scale);
  return cb;
}

/// Dense int8 weights: rows × cols values plus one scale.
struct weights_i8 {
  std::size_t rows = 0, cols = 0;   ///< shape
  std::vector<std::int8_t> values;  ///< rows × cols, row-major
  float scale = 1.0f;               ///< per-matrix scale

  /// Read-only view of the values.
  [[nodiscard]] matrix_view<const std::int8_t> view() const noexcept { return {values.data(), rows, cols}; }
};

/// Reference int8 decode of a compressed matrix: w(r, c) = mask(r, c) · codebook_i8[index(r, c / d)][c mod d],
/// with the codebook of `weight_codebook_i8`. The obviously-correct source of the integer paths' weights.
[[nodiscard]] inline weights_i8 decode_i8(compressed_matrix_view const& w) {
  auto const& l = w.layout;
  const codebook_i8 cb = weight_codebook_i8(w);
  weights_i8 out;
  out.rows = l.rows;
  out.cols = l.cols;
  out.scale = cb.scale;
  out.values.assign(l.rows * l.cols, 0);
  for (std::size_t r = 0; r < l.rows; ++r) {
    for (std::size_t s = 0; s < l.subvectors_per_row(); ++s) {
      const std::size_t j = w.index(r, s);
      for (std::size_t t = 0; t < l.d(); ++t) out.values[r * l.cols + s * l.d() + t] = cb.values[j * l.d() + t];
    }
    for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
      const std::uint32_t bm = w.group_bitmap(r, g);
      for (std::size_t t = 0; t < l.nm.m; ++t)
        if (!((bm >> t) & 1u)) out.values[r * l.cols + g * l.nm.m + t] = 0;
    }
  }
  return out;
}

/// Symmetric per-matrix int8 quantization of dense fp32 weights.
[[nodiscard]] inline weights_i8 quantize_weights(matrix_view<const float> w) {
  weights_i8 out;
  out.rows = w.rows();
  out.cols = w.cols();
  float amax = 0.0f;
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (float v : w.row(r)) amax = std::max(amax, std::fabs(v));
  out.scale = symmetric_scale(std::span<const float>(&amax, 1));
  out.values.resize(w.rows() * w.cols());
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t c = 0; c < w.cols(); ++c) out.values[r * w.cols() + c] = quantize_i8(w(r, c), out.scale);
  return out;
}

/// Reference int8 GEMM: acc(b, r) = Σ_c x(b, c) · w(r, c) in int32. `w` is rows × cols, `x` is B × cols, `acc` is
/// B × rows; the caller guarantees the shapes and cols ≤ `int8_conventions::max_reduction`.
inline void reference_gemm_i8(matrix_view<const std::int8_t> w, matrix_view<const std::int8_t> x,
                              matrix_view<std::int32_t> acc) noexcept {
  for (std::size_t b = 0; b < x.rows(); ++b)
    for (std::size_t r = 0; r < w.rows(); ++r) {
      std::int32_t s = 0;
      for (std::size_t c = 0; c < w.cols(); ++c) s += std::int32_t{x(b, c)} * std::int32_t{w(r, c)};
      acc(b, r) = s;
    }
}

/// Dequantizes int32 accumulators: y(b, r) = acc(b, r) · x_scale[b] · w_scale (the one fp32 rounding order every
/// int8 path uses: (float(acc) · x_scale) · w_scale).
inline void dequantize(matrix_view<const std::int32_t> acc, std::span<const float> x_scale, float w_scale,
                       matrix_view<float> y) noexcept {
  for (std::size_t b = 0; b < acc.rows(); ++b)
    for (std::size_t r = 0; r < acc.cols(); ++r)
      y(b, r) = static_cast<float>(acc(b, r)) * x_scale[b] * w_scale;
}

}  // namespace mvq::inline v0::kernel
