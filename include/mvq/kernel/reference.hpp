#pragma once
/// @file
/// Obviously-correct scalar references for the fp32 kernels: decompress, then dense loops. Every fast path is
/// tested against these (tight tolerance) or against `reference_gemm_i8` (equal int32 accumulators).

#include <cstddef>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/matrix_view.hpp"

namespace mvq::inline v0::kernel {

/// Reference fp32 GEMM: y(b, r) = Σ_c w(r, c) · x(b, c), accumulated in double and rounded once. `w` is
/// rows × cols, `x` is B × cols, `y` is B × rows; the caller guarantees the shapes.
inline void reference_gemm(matrix_view<const float> w, matrix_view<const float> x, matrix_view<float> y) noexcept {
  for (std::size_t b = 0; b < x.rows(); ++b)
    for (std::size_t r = 0; r < w.rows(); ++r) {
      double s = 0.0;
      for (std::size_t c = 0; c < w.cols(); ++c) s += double{w(r, c)} * double{x(b, c)};
      y(b, r) = static_cast<float>(s);
    }
}

/// Reference GEMM on a compressed matrix: decompress to dense fp32, then `reference_gemm`.
inline void reference_gemm(compressed_matrix_view const& w, matrix_view<const float> x, matrix_view<float> y) {
  const std::vector<float> dense = decompress(w);
  reference_gemm(matrix_view<const float>(dense.data(), w.layout.rows, w.layout.cols), x, y);
}

}  // namespace mvq::inline v0::kernel
