#pragma once
/// @file
/// GPTQ for scalar int2–int8 weights (GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
/// Transformers, Frantar et al., ICLR 2023), and round-to-nearest as its baseline. Both return a `scalar_matrix`
/// (core/scalar_matrix.hpp), which `io::mvq_writer::add_scalar_layer` stores.
///
/// Usage, one layer (W rows × cols, already in the reduction order recorded in `opt.order`; X the layer's
/// calibration inputs, n × cols, columns in the same order):
///
///     auto cal = mvq::calibration::create(w.cols());                // core/calibration.hpp
///     if (auto r = cal->add(x, pool); !r) return r;                   // H = XᵀX; call once per batch of rows
///     mvq::quant::gptq_options opt{.bits = 4, .group = 128, .symmetric = true, .order = order};
///     auto q = mvq::quant::gptq(w, cal->gram(), opt, pool);         // result<scalar_matrix>; errors name the input
///     // no calibration rows: quant::round_to_nearest(w, opt, pool) (what gptq gives for H = I)
///     if (auto r = writer.add_scalar_layer({name, "gptq", shape}, q->view()); !r) return r;  // "rtn" for RTN
///     // opt.group must divide cols (validate(opt, rows, cols) says so up front); act_order = true is usually better
///
/// The algorithm (the reference implementation's `GPTQ.fasterquant`): columns j with H_jj = 0 are dead (set
/// H_jj = 1, W[:, j] = 0); λ = percdamp · mean(diag H) is added to the diagonal; U is the upper Cholesky factor of
/// (H + λI)⁻¹ (`gptq_inverse_factor`, quant/linalg.hpp). Columns are quantized one at a time, left to right;
/// after column i the error e = (w_i − ŵ_i) / U_ii is fed back as w_j −= e · U_ij for every later column j.
/// Inside a block of `block` columns every update is applied immediately; the block's errors reach the columns after it
/// in one matrix product when the block ends (lazy batch updates). With `act_order` the columns are processed in
/// the order of decreasing H_jj and the codes are stored back in the original order.
///
/// Scales and zero points follow the reference's `Quantizer.find_params` over a group's weights: the range
/// [min(w, 0), max(w, 0)]; symmetric: scale = 2·max|w| / (2^bits − 1), zero = 2^(bits−1); affine:
/// scale = (max − min) / (2^bits − 1), zero = round(−min / scale); an all-zero group gets the range [−1, 1].
/// Codes are q = clamp(round(w / scale) + zero, 0, 2^bits − 1), rounding half to even (as torch.round).
/// Choices where the reference leaves room, or differs from itself:
///  - per-row scales (group 0) are computed once from the row with dead columns zeroed (the reference computes
///    them before zeroing, so a dead column's weight could widen the range for nothing); per-group scales
///    (without act_order) when the group's first column is reached, from the error-updated weights. Blocks
///    also end at group starts, so a group's weights then hold every update of the columns before it (the
///    reference reads them from the lazily-updated W, which misses the updates of earlier columns of the same
///    block when group < block). The result therefore does not depend on `block` (up to floating-point
///    contraction), and equals the unblocked algorithm.
///  - with act_order and groups, groups are the ORIGINAL column ranges [g·group, (g+1)·group), and their scales
///    are computed before any update from the dead-zeroed weights: the reference's `static_groups`, the only
///    variant whose groups need no per-column group index in the stored layout.
///  - symmetric scales always use 2·max|w| (the reference keeps min = 0 for a group without negative weights
///    and then clips its upper half); ties in diag H keep their column order (a stable sort).
///  - a scale is at least the smallest normal fp32 value, so no code divides by zero.
/// The weights are updated in double. The work is split into fixed chunks of rows (GPTQ treats rows
/// independently), so the result is bit-identical for every executor and thread count.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "mvq/core/arch.hpp"
#include "mvq/core/bitpack.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"
#include "mvq/core/scalar_matrix.hpp"
#include "mvq/quant/linalg.hpp"

namespace mvq::inline v0::quant {

/// Options of `gptq` and `round_to_nearest`.
struct gptq_options {
  unsigned bits = 4;            ///< code width, 2…8
  std::uint32_t group = 0;      ///< columns per scale: 0 = one scale per row, else a divisor of cols (32, 64, 128…)
  bool symmetric = true;        ///< zero point fixed at 2^(bits−1) (true) or one per group (false)
  double percdamp = 0.01;       ///< λ = percdamp · mean(diag H) (GPTQ's default, 1 %); ≥ 0
  std::size_t block = 128;      ///< columns per lazy batch update (GPTQ's default); ≥ 1, no effect on the result
  bool act_order = false;       ///< process columns by decreasing H_jj (GPTQ's "act-order")
  reduction_order order = reduction_order::oihw;  ///< the column order of W (recorded in the layout, not applied)
};

/// Checks the options against a rows × cols weight and returns the layout of the result. Errors name what is
/// wrong: an empty matrix, bits outside 2…8, a group that does not divide cols, block 0, a negative percdamp.
[[nodiscard]] inline result<scalar_layout> validate(gptq_options const& o, std::size_t rows, std::size_t cols) {
  if (rows == 0 || cols == 0)
    return fail(errc::shape_mismatch, "gptq: the weight matrix is empty (" + std::to_string(rows) + " × " +
                                          std::to_string(cols) + ")");
  if (o.bits < min_scalar_bits || o.bits > max_scalar_bits)
    return fail(errc::invalid_argument, "gptq: bits = " + std::to_string(o.bits) + " is outside 2…8");
  if (o.block == 0) return fail(errc::invalid_argument, "gptq: block must be at least 1 column");
  if (!std::isfinite(o.percdamp) || o.percdamp < 0.0)
    return fail(errc::invalid_argument, "gptq: percdamp = " + std::to_string(o.percdamp) +
                                            " must be finite and non-negative");
  scalar_layout l{.rows = rows, .cols = cols, .bits = static_cast<std::uint8_t>(o.bits), .group = o.group,
                  .symmetric = o.symmetric, .order = o.order};
  if (auto r = validate(l); !r) return fail(r.error().code, "gptq: " + r.error().message);
  return l;
}

namespace detail {

/// Scale and zero point of one group.
struct scalar_params {
  float scale = 1.0f;
  std::uint32_t zero = 0;
};

/// The reference's `Quantizer.find_params` over the `n` values at `x` (stride 1), see the file comment.
[[nodiscard]] inline scalar_params find_scalar_params(const double* x, std::size_t n, scalar_layout const& l) noexcept {
  double lo = 0.0, hi = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const auto maxq = static_cast<double>(l.max_code());
  constexpr double smallest = std::numeric_limits<float>::min();
  scalar_params p;
  if (l.symmetric) {
    double a = std::max(-lo, hi);
    if (a == 0.0) a = 1.0;
    p.scale = static_cast<float>(std::max(2.0 * a / maxq, smallest));
    p.zero = l.mid_point();
  } else {
    if (lo == 0.0 && hi == 0.0) {
      lo = -1.0;
      hi = 1.0;
    }
    p.scale = static_cast<float>(std::max((hi - lo) / maxq, smallest));
    const double z = std::nearbyint(-lo / static_cast<double>(p.scale));
    p.zero = static_cast<std::uint32_t>(std::clamp(z, 0.0, maxq));
  }
  return p;
}

/// The code of w: clamp(round(w / scale) + zero, 0, 2^bits − 1), half to even (0 for a NaN, never UB).
[[nodiscard]] inline std::uint32_t quantize_scalar(double w, scalar_params p, std::uint32_t max_code) noexcept {
  const double q = std::nearbyint(w / static_cast<double>(p.scale)) + static_cast<double>(p.zero);
  if (!(q > 0.0)) return 0;
  return q >= static_cast<double>(max_code) ? max_code : static_cast<std::uint32_t>(q);
}

/// Rows one task of `gptq` / `round_to_nearest` handles. Fixed, so the split never depends on the thread count.
inline constexpr std::size_t scalar_rows_per_task = 8;
/// Columns of one tile of the lazy batch update (8 rows × 512 doubles: 32 kB of weights stay in cache while
/// the block's rows of U stream past).
inline constexpr std::size_t gptq_update_tile = 512;

/// Writes row r's codes (`q`, one per column in the original order) and its group parameters into `out`.
inline void store_scalar_row(scalar_matrix& out, std::size_t r, std::span<const std::uint32_t> q,
                             std::span<const scalar_params> params) noexcept {
  auto const& l = out.layout;
  pack_bits(q, l.bits, std::span(out.codes).subspan(r * l.code_bytes_per_row(), l.code_bytes_per_row()));
  for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
    out.scales[r * l.groups_per_row() + g] = params[g].scale;
    if (!l.symmetric) out.zeros[r * l.groups_per_row() + g] = static_cast<std::uint8_t>(params[g].zero);
  }
}

/// Non-finite weights are an error naming the first one.
[[nodiscard]] inline result<void> check_finite_weights(matrix_view<const float> w, const char* who) {
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t c = 0; c < w.cols(); ++c)
      if (!std::isfinite(w(r, c)))
        return fail(errc::invalid_argument, std::string(who) + ": weight (" + std::to_string(r) + ", " +
                                                std::to_string(c) + ") is not finite");
  return {};
}

}  // namespace detail

/// Round-to-nearest: every group's scale and zero point from its weights (as in `gptq`), every weight rounded
/// to its nearest code, no error feedback. The baseline GPTQ is measured against; `opt.percdamp`, `opt.block`
/// and `opt.act_order` are not read. Bit-identical for every executor.
template <class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<scalar_matrix> round_to_nearest(matrix_view<const float> w, gptq_options const& opt, E&& ex) {
  auto layout = validate(opt, w.rows(), w.cols());
  if (!layout) return tl::unexpected(layout.error());
  if (auto r = detail::check_finite_weights(w, "round_to_nearest"); !r) return tl::unexpected(r.error());
  auto out = scalar_matrix::allocate(*layout);
  if (!out) return tl::unexpected(out.error());
  auto const& l = *layout;
  const std::size_t tasks = (l.rows + detail::scalar_rows_per_task - 1) / detail::scalar_rows_per_task;
  ex.parallel_for(tasks, [&](std::size_t t) {
    std::vector<double> row(l.cols);
    std::vector<std::uint32_t> q(l.cols);
    std::vector<detail::scalar_params> params(l.groups_per_row());
    const std::size_t r_end = std::min(l.rows, (t + 1) * detail::scalar_rows_per_task);
    for (std::size_t r = t * detail::scalar_rows_per_task; r < r_end; ++r) {
      for (std::size_t c = 0; c < l.cols; ++c) row[c] = w(r, c);
      for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
        const std::size_t c0 = g * l.group_size();
        params[g] = detail::find_scalar_params(row.data() + c0, l.group_size(), l);
        for (std::size_t c = c0; c < c0 + l.group_size(); ++c)
          q[c] = detail::quantize_scalar(row[c], params[g], l.max_code());
      }
      detail::store_scalar_row(*out, r, q, params);
    }
  });
  return out;
}

/// `round_to_nearest` on the calling thread.
[[nodiscard]] inline result<scalar_matrix> round_to_nearest(matrix_view<const float> w, gptq_options const& opt) {
  return round_to_nearest(w, opt, serial_executor{});
}

/// GPTQ (see the file comment) of W (rows × cols) with H = XᵀX (cols × cols, row-major, symmetric; e.g.
/// `calibration::gram()`). Errors name what is wrong: an invalid option (`validate(gptq_options)`), H of the
/// wrong size, a non-finite weight or H entry, an H that stays indefinite after damping (from
/// `gptq_inverse_factor`), or error-updated weights that leave the fp32 range. Every loop runs on `ex`; the
/// result does not depend on it.
/// @tparam Arch xsimd architecture of the Cholesky factorization (default: see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<scalar_matrix> gptq(matrix_view<const float> w, std::span<const double> h,
                                         gptq_options const& opt, E&& ex) {
  static_assert(Arch::supported(), "gptq: the architecture must be enabled in this translation unit.");
  auto layout = validate(opt, w.rows(), w.cols());
  if (!layout) return tl::unexpected(layout.error());
  auto const& l = *layout;
  const std::size_t n = l.cols;
  if (h.size() / n != n || h.size() % n != 0)
    return fail(errc::shape_mismatch, "gptq: H has " + std::to_string(h.size()) + " elements, a " +
                                          std::to_string(n) + " × " + std::to_string(n) +
                                          " Gram matrix of the weight's columns needs " + std::to_string(n * n));
  if (auto r = detail::check_finite_weights(w, "gptq"); !r) return tl::unexpected(r.error());
  for (std::size_t i = 0; i < h.size(); ++i)
    if (!std::isfinite(h[i]))
      return fail(errc::invalid_argument, "gptq: H(" + std::to_string(i / n) + ", " + std::to_string(i % n) +
                                              ") is not finite");

  // Processing order: perm[k] is the original column processed k-th.
  std::vector<std::uint8_t> dead(n);
  std::vector<double> diag(n);
  for (std::size_t j = 0; j < n; ++j) {
    dead[j] = h[j * n + j] == 0.0;
    diag[j] = dead[j] ? 1.0 : h[j * n + j];
  }
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  if (opt.act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](std::size_t a, std::size_t b) { return diag[a] > diag[b]; });
  std::vector<double> hp;
  std::span<const double> hk = h;
  if (opt.act_order) {
    hp.resize(n * n);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b) hp[a * n + b] = h[perm[a] * n + perm[b]];
    hk = hp;
  }
  auto factor = gptq_inverse_factor<Arch>(hk, n, opt.percdamp, ex);
  if (!factor) return tl::unexpected(factor.error());  // its messages already begin with "gptq: "
  hp = {};
  const std::vector<double>& u = factor->u;

  auto out = scalar_matrix::allocate(l);
  if (!out) return tl::unexpected(out.error());
  const std::size_t gs = l.group_size(), ng = l.groups_per_row();
  const bool dynamic_groups = l.group != 0 && !opt.act_order;  // scales found when a group's first column is reached
  const std::size_t rpt = detail::scalar_rows_per_task;
  const std::size_t block = std::min(opt.block, n);  // a larger block is the whole row; never allocate beyond it
  const std::size_t tasks = (l.rows + rpt - 1) / rpt;
  std::vector<std::size_t> overflow(tasks, 0);  // 1 + the first row whose scale left the fp32 range, else 0

  ex.parallel_for(tasks, [&](std::size_t t) {
    const std::size_t r0 = t * rpt, nr = std::min(l.rows, r0 + rpt) - r0;
    std::vector<double> wk(nr * n);          // error-updated weights, processing order
    std::vector<double> err(nr * block);  // the current block's scaled errors
    std::vector<std::uint32_t> q(nr * n);     // codes, original order
    std::vector<detail::scalar_params> params(nr * ng);
    for (std::size_t r = 0; r < nr; ++r)
      for (std::size_t k = 0; k < n; ++k) wk[r * n + k] = dead[perm[k]] ? 0.0 : static_cast<double>(w(r0 + r, perm[k]));
    if (!dynamic_groups) {
      // Per-row scales (order does not matter for a min/max), or act_order's static groups in original order.
      std::vector<double> orig(n);
      for (std::size_t r = 0; r < nr; ++r) {
        for (std::size_t k = 0; k < n; ++k) orig[perm[k]] = wk[r * n + k];
        for (std::size_t g = 0; g < ng; ++g)
          params[r * ng + g] = detail::find_scalar_params(orig.data() + g * gs, gs, l);
      }
    }
    for (std::size_t i1 = 0; i1 < n;) {
      std::size_t i2 = std::min(n, i1 + block);
      if (dynamic_groups) i2 = std::min(i2, (i1 / gs + 1) * gs);  // a block never straddles a group start
      for (std::size_t i = i1; i < i2; ++i) {
        const double d = u[i * n + i];
        const std::size_t c = perm[i];
        for (std::size_t r = 0; r < nr; ++r) {
          double* wr = wk.data() + r * n;
          if (dynamic_groups && i % gs == 0) params[r * ng + i / gs] = detail::find_scalar_params(wr + i, gs, l);
          const detail::scalar_params p = params[r * ng + c / gs];
          if (!std::isfinite(p.scale) || !std::isfinite(wr[i])) {
            if (overflow[t] == 0) overflow[t] = r0 + r + 1;
            continue;
          }
          const std::uint32_t code = detail::quantize_scalar(wr[i], p, l.max_code());
          q[r * n + c] = code;
          const double e = (wr[i] - static_cast<double>(dequantize_scalar(code, p.scale, p.zero))) / d;
          err[r * block + (i - i1)] = e;
          const double* ui = u.data() + i * n;
          for (std::size_t j = i + 1; j < i2; ++j) wr[j] -= e * ui[j];
        }
      }
      // Lazy batch update: W[:, i2:] −= Err · U[i1:i2, i2:], subtracting the block's columns in order (the same
      // order as the unblocked algorithm), tiled over the remaining columns.
      for (std::size_t j0 = i2; j0 < n; j0 += detail::gptq_update_tile) {
        const std::size_t j1 = std::min(n, j0 + detail::gptq_update_tile);
        for (std::size_t k = i1; k < i2; ++k) {
          const double* uk = u.data() + k * n;
          for (std::size_t r = 0; r < nr; ++r) {
            const double e = err[r * block + (k - i1)];
            double* wr = wk.data() + r * n;
            for (std::size_t j = j0; j < j1; ++j) wr[j] -= e * uk[j];
          }
        }
      }
      i1 = i2;
    }
    for (std::size_t r = 0; r < nr; ++r)
      detail::store_scalar_row(*out, r0 + r, std::span(q).subspan(r * n, n), std::span(params).subspan(r * ng, ng));
  });
  for (std::size_t bad : overflow)
    if (bad != 0)
      return fail(errc::invalid_argument, "gptq: row " + std::to_string(bad - 1) +
                                              ": the error-updated weights leave the fp32 range (is H nearly "
                                              "singular? raise percdamp)");
  return out;
}

/// `gptq` on the calling thread.
template <class Arch = default_simd_arch>
[[nodiscard]] result<scalar_matrix> gptq(matrix_view<const float> w, std::span<const double> h,
                                         gptq_options const& opt) {
  return gptq<Arch>(w, h, opt, serial_executor{});
}

}  // namespace mvq::inline v0::quant
