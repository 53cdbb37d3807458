#pragma once
/// @file
/// Gradient of a loss with respect to the codewords of a (masked) compressed matrix, for fine-tuning the
/// codebook as MVQ does (ASPLOS 2025): with ŵ_i = m_i ⊙ c_{a_i}, ∂L/∂c_j = Σ_{i: a_i = j} m_i ⊙ ∂L/∂ŵ_i.
/// Pruned positions contribute nothing, so fine-tuning never moves a codeword towards a pruned weight.

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"

namespace mvq::inline v0::quant {

namespace detail {

// The one implementation behind both overloads (float for training frameworks, double for the output-aware
// solvers of codebook_finetune.hpp and vq4dit.hpp, whose conjugate-gradient steps need the extra digits).
template <class T>
[[nodiscard]] result<void> masked_codebook_gradient(compressed_matrix_view const& m, matrix_view<const T> grad_w,
                                                    std::span<T> grad_c) {
  auto const& l = m.layout;
  if (grad_w.rows() != l.rows || grad_w.cols() != l.cols)
    return fail(errc::shape_mismatch, "masked gradient: ∂L/∂Ŵ is " + std::to_string(grad_w.rows()) + "×" +
                                          std::to_string(grad_w.cols()) + ", the matrix is " +
                                          std::to_string(l.rows) + "×" + std::to_string(l.cols));
  if (grad_c.size() != std::size_t{l.k()} * l.d())
    return fail(errc::shape_mismatch, "masked gradient: ∂L/∂c must hold k·d = " +
                                          std::to_string(std::size_t{l.k()} * l.d()) + " values");
  std::fill(grad_c.begin(), grad_c.end(), T{0});
  for (std::size_t r = 0; r < l.rows; ++r)
    for (std::size_t s = 0; s < l.subvectors_per_row(); ++s) {
      T* g = grad_c.data() + std::size_t{m.index(r, s)} * l.d();
      for (std::size_t t = 0; t < l.d(); ++t) {
        const std::size_t c = s * l.d() + t;
        const bool kept = l.nm.dense() || ((m.group_bitmap(r, c / l.nm.m) >> (c % l.nm.m)) & 1u);
        if (kept) g[t] += grad_w(r, c);
      }
    }
  return {};
}

}  // namespace detail

/// Writes ∂L/∂c (k·d values, codeword j at [j·d, (j+1)·d)) given ∂L/∂Ŵ (`grad_w`, rows × cols of `m`).
/// Sums run in row-major sub-vector order.
[[nodiscard]] inline result<void> masked_codebook_gradient(compressed_matrix_view const& m,
                                                           matrix_view<const float> grad_w, std::span<float> grad_c) {
  return detail::masked_codebook_gradient<float>(m, grad_w, grad_c);
}

/// The same in double (sums in the same order).
[[nodiscard]] inline result<void> masked_codebook_gradient(compressed_matrix_view const& m,
                                                           matrix_view<const double> grad_w, std::span<double> grad_c) {
  return detail::masked_codebook_gradient<double>(m, grad_w, grad_c);
}

}  // namespace mvq::inline v0::quant
