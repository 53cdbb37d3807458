#pragma once
/// @file
/// The dense linear algebra of output-aware compression, in double: Cholesky factorisation, GPTQ's factor of
/// the damped inverse Hessian, the layer-output error tr(E H Eᵀ), and the asymmetric calibration target
/// W′ = W Cᵀ H⁻¹ (see core/calibration.hpp).
///
/// Matrices are row-major n × n spans. Every loop's tasks are rows whose inner sums run in a fixed order, so
/// results do not depend on the executor or thread count. The functions carry the translation unit's SIMD
/// architecture as a template parameter (as compress does) so that TUs built with different -m flags, whose
/// compilers may contract a·b + c into one FMA differently, never share one definition.
///
/// Cost: O(n³/3) per factorisation; for a 4608-wide layer about 3·10¹⁰ multiply-adds (seconds on a few cores).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "mvq/core/arch.hpp"
#include "mvq/core/calibration.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"

namespace mvq::inline v0::quant {

namespace detail {
/// Σ a[k]·b[k] over k < n with four interleaved partial sums (a fixed order, independent of the caller).
template <class Arch>
[[nodiscard]] inline double dot4(const double* a, const double* b, std::size_t n) noexcept {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}
}  // namespace detail

/// True when the n × n row-major `h` has no non-zero entry off its diagonal (zero-data H = I, or independent
/// inputs): products with it are then column scalings. Stops at the first off-diagonal non-zero.
[[nodiscard]] inline bool is_diagonal(std::span<const double> h, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      if (i != j && h[i * n + j] != 0.0) return false;
  return true;
}

/// Factorises the symmetric positive definite `a` (n × n) in place into its lower Cholesky factor L (A = L Lᵀ);
/// the strict upper triangle is zeroed. Fails, naming the pivot, when A is not positive definite (the content
/// of `a` is then unspecified).
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<void> cholesky_lower(std::span<double> a, std::size_t n, E&& ex) {
  if (a.size() != n * n)
    return fail(errc::shape_mismatch, "cholesky: the matrix holds " + std::to_string(a.size()) +
                                          " values, n × n = " + std::to_string(n * n));
  // Left-looking, one column at a time: L_jj from row j, then every L_ij (i > j) from rows i and j.
  for (std::size_t j = 0; j < n; ++j) {
    double* rj = a.data() + j * n;
    const double d = rj[j] - detail::dot4<Arch>(rj, rj, j);
    if (!(d > 0) || !std::isfinite(d))
      return fail(errc::invalid_argument, "cholesky: the matrix is not positive definite (pivot " +
                                              std::to_string(j) + " of " + std::to_string(n) + ")");
    const double ljj = std::sqrt(d);
    rj[j] = ljj;
    const std::size_t below = n - j - 1;
    constexpr std::size_t rows_per_task = 16;
    ex.parallel_for((below + rows_per_task - 1) / rows_per_task, [&](std::size_t t) {
      const std::size_t i0 = j + 1 + t * rows_per_task, i1 = std::min(n, i0 + rows_per_task);
      for (std::size_t i = i0; i < i1; ++i) {
        double* ri = a.data() + i * n;
        ri[j] = (ri[j] - detail::dot4<Arch>(ri, rj, j)) / ljj;
      }
    });
  }
  for (std::size_t i = 0; i < n; ++i) std::fill(a.data() + i * n + i + 1, a.data() + (i + 1) * n, 0.0);
  return {};
}

/// GPTQ's factor of the damped inverse Hessian.
struct inverse_factor {
  std::size_t n = 0;
  std::vector<double> u;           ///< n × n row-major upper triangular U with (H + λI)⁻¹ = UᵀU
  double damp = 0;                 ///< the λ actually added to the diagonal
  std::vector<std::uint8_t> dead;  ///< 1 where H_jj was 0 (that input is always zero: GPTQ sets H_jj = 1
                                   ///< and the weight column to 0)
};

/// U with (H + λI)⁻¹ = UᵀU, U upper triangular: exactly the `Hinv` GPTQ (Frantar et al., 2023) iterates over,
/// whose row j holds the update of the columns after j once column j is fixed. Dead columns (H_jj = 0) get
/// H_jj = 1 first; λ = percdamp · mean(diag H). When H + λI is still not positive definite (rounding on a
/// nearly singular H), λ is multiplied by 10 and the factorisation retried, at most 5 times.
///
/// Computed without forming H⁻¹: with J the reversal permutation, the lower Cholesky factor L′ of J H J gives
/// H = R Rᵀ with R = J L′ J upper triangular, so H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ (upper triangular): one
/// factorisation and one triangular inverse, 2n³/3 multiply-adds.
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<inverse_factor> gptq_inverse_factor(std::span<const double> h, std::size_t n, double percdamp,
                                                         E&& ex) {
  if (n == 0 || h.size() != n * n)
    return fail(errc::shape_mismatch, "gptq: H holds " + std::to_string(h.size()) + " values, a width-" +
                                          std::to_string(n) + " layer needs " + std::to_string(n * n));
  if (!(percdamp >= 0) || !std::isfinite(percdamp))
    return fail(errc::invalid_argument, "gptq: the damping fraction must be finite and non-negative");
  for (double v : h)
    if (!std::isfinite(v)) return fail(errc::invalid_argument, "gptq: H has a non-finite entry");
  inverse_factor f;
  f.n = n;
  f.dead.assign(n, 0);
  double mean_diag = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (h[j * n + j] < 0) return fail(errc::invalid_argument, "gptq: H has a negative diagonal entry");
    if (h[j * n + j] == 0) f.dead[j] = 1;
    mean_diag += f.dead[j] ? 1.0 : h[j * n + j];
  }
  mean_diag /= static_cast<double>(n);
  double lambda = percdamp * mean_diag;
  std::vector<double> a(n * n);
  for (int attempt = 0;; ++attempt) {
    // a = J (H + λI) J, dead rows/columns replaced by the unit vector.
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        double v = (f.dead[i] || f.dead[j]) ? (i == j ? 1.0 : 0.0) : h[i * n + j];
        if (i == j) v += lambda;
        a[(n - 1 - i) * n + (n - 1 - j)] = v;
      }
    if (cholesky_lower<Arch>(a, n, ex)) break;
    if (attempt == 5)
      return fail(errc::invalid_argument, "gptq: H + λI is not positive definite even with λ = " +
                                              std::to_string(lambda) + " (H is not a Gram matrix)");
    lambda = lambda > 0 ? lambda * 10 : 1e-10 * mean_diag;
  }
  f.damp = lambda;
  // R[i][j] = L′[n−1−i][n−1−j] (upper). U = R⁻¹: solve R U = I column by column from the bottom; column j of U
  // has entries i ≤ j: U_jj = 1/R_jj, U_ij = −(Σ_{i<k≤j} R_ik U_kj)/R_ii for i = j−1 … 0. One task per column.
  auto r = [&](std::size_t i, std::size_t j) { return a[(n - 1 - i) * n + (n - 1 - j)]; };
  f.u.assign(n * n, 0.0);
  ex.parallel_for(n, [&](std::size_t j) {
    std::vector<double> col(j + 1);  // column j of U, contiguous while it is computed
    col[j] = 1.0 / r(j, j);
    for (std::size_t ii = j; ii-- > 0;) {
      const double* ri = a.data() + (n - 1 - ii) * n + (n - 1 - j);  // ri[j − k] = R_(ii,k)
      double s = 0;
      for (std::size_t k = ii + 1; k <= j; ++k) s += ri[j - k] * col[k];
      col[ii] = -s / r(ii, ii);
    }
    for (std::size_t i = 0; i <= j; ++i) f.u[i * n + j] = col[i];
  });
  return f;
}

/// Σ_r (w_r − ŵ_r) H (w_r − ŵ_r)ᵀ: the layer-output error ‖X(W − Ŵ)ᵀ‖² over the calibration rows, in double.
/// `what` is rows × cols contiguous; `h` is cols × cols. One task per row; rows are added in order.
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] double output_error(matrix_view<const float> w, std::span<const float> what, std::span<const double> h,
                                  E&& ex) {
  const std::size_t rows = w.rows(), cols = w.cols();
  std::vector<double> per(rows, 0.0);
  // A diagonal H (zero-data mode) needs only its diagonal: O(rows·cols) instead of O(rows·cols²).
  const bool diagonal = is_diagonal(h, cols);
  ex.parallel_for(rows, [&](std::size_t r) {
    std::vector<double> e(cols);
    for (std::size_t c = 0; c < cols; ++c)
      e[c] = static_cast<double>(w(r, c)) - static_cast<double>(what[r * cols + c]);
    double s = 0;
    for (std::size_t i = 0; i < cols; ++i)
      if (e[i] != 0) s += diagonal ? e[i] * (h[i * cols + i] * e[i]) : e[i] * detail::dot4<Arch>(h.data() + i * cols, e.data(), cols);
    per[r] = s;
  });
  double s = 0;
  for (double v : per) s += v;
  return s;
}

/// tr(W H Wᵀ) = ‖XWᵀ‖²: the output energy the error is relative to.
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] double output_energy(matrix_view<const float> w, std::span<const double> h, E&& ex) {
  const std::vector<float> zero(w.rows() * w.cols(), 0.0f);
  return output_error<Arch>(w, zero, h, ex);
}

/// The asymmetric calibration target W′ = W Cᵀ (H + λI)⁻¹ of a paired accumulator (core/calibration.hpp):
/// quantizing W′ under H minimises ‖X_fp Wᵀ − X_q Ŵᵀ‖². λ = percdamp · mean(diag H), as in the factorisation.
/// Returns rows × cols floats.
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<std::vector<float>> output_target(matrix_view<const float> w, calibration const& cal,
                                                       double percdamp, E&& ex) {
  const std::size_t rows = w.rows(), n = w.cols();
  if (!cal.paired()) return fail(errc::invalid_argument, "output target: the calibration is not paired");
  if (cal.cols() != n)
    return fail(errc::shape_mismatch, "output target: the calibration has width " + std::to_string(cal.cols()) +
                                          ", the weight's reduction length is " + std::to_string(n));
  auto h = cal.gram();
  double mean_diag = 0;
  for (std::size_t j = 0; j < n; ++j) mean_diag += h[j * n + j];
  mean_diag /= static_cast<double>(n);
  const double lambda = std::max(percdamp * mean_diag, 1e-12 * std::max(mean_diag, 1e-300));
  std::vector<double> l(h.begin(), h.end());
  for (std::size_t j = 0; j < n; ++j) l[j * n + j] += lambda;
  if (auto r = cholesky_lower<Arch>(l, n, ex); !r)
    return fail(errc::invalid_argument, "output target: H + λI is not positive definite: " + r.error().message);
  std::vector<double> lt(n * n);  // Lᵀ, so both triangular solves read rows
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) lt[j * n + i] = l[i * n + j];
  auto c = cal.cross();
  std::vector<float> out(rows * n);
  ex.parallel_for(rows, [&](std::size_t r) {
    // b = C wᵀ (row r of W Cᵀ), then solve (L Lᵀ) x = b.
    std::vector<double> wr(n), b(n);
    for (std::size_t j = 0; j < n; ++j) wr[j] = w(r, j);
    for (std::size_t i = 0; i < n; ++i) b[i] = detail::dot4<Arch>(c.data() + i * n, wr.data(), n);
    for (std::size_t i = 0; i < n; ++i) b[i] = (b[i] - detail::dot4<Arch>(l.data() + i * n, b.data(), i)) / l[i * n + i];
    for (std::size_t i = n; i-- > 0;)
      b[i] = (b[i] - detail::dot4<Arch>(lt.data() + i * n + i + 1, b.data() + i + 1, n - i - 1)) / lt[i * n + i];
    for (std::size_t j = 0; j < n; ++j) out[r * n + j] = static_cast<float>(b[j]);
  });
  return out;
}

}  // namespace mvq::inline v0::quant
