#pragma once
/// @file
/// GPTVQ (Van Baalen et al., "GPTVQ: the blessing of dimensionality for LLM quantization", 2024): vector
/// quantization of one layer that minimises the output error tr((W − Ŵ) H (W − Ŵ)ᵀ), H = XᵀX over calibration
/// rows X, instead of the weight error; with an N:M pattern, the masks are chosen inside the same loop
/// (SparseGPT: Frantar & Alistarh, 2023), which gives MVQ (N:M + masked VQ) with output-aware calibration.
///
/// Steps (all on one layer, rows = output channels, cols = reduction):
/// 1. U = GPTQ's upper Cholesky factor of (H + λI)⁻¹ (GPTQ: Frantar et al., 2023; `gptq_inverse_factor`).
/// 2. Codebook initialisation: k-means over every d-wide sub-vector of W (kept positions only under N:M, masks
///    by the saliency of step 3 on W itself), with per-column importance ω_c (see `gptvq_weighting`):
///    assignment argmin_j Σ_t ω_t m_t (x_t − c_jt)², update c_jt = Σ ω m x / Σ ω m; k-means++ seeding on a
///    seeded subsample (as `kmeans`); `em_iter` iterations at most.
/// 3. GPTQ's column loop, d columns at a time: in every block of `block` columns, each row's next sub-vector
///    (the error-updated weights) first gets its N:M mask (per M-group, keep the N largest OBS saliencies
///    w_c²/U_cc², as SparseGPT), then the nearest codeword under the chosen metric (default: the group's exact
///    OBS loss ‖(x − m⊙c) U_QQ⁻¹‖², see `gptvq_weighting`); the error of the d
///    columns, column by column divided by U_cc, is pushed onto the remaining columns of the block at once and
///    onto later blocks by one product at the end of the block. Processing the d columns one after another
///    with the within-group updates is exactly the joint OBS update −E_Q U_QQ⁻¹ U_QF for the group Q (the
///    triangular solve happens in the loop). Pruned weights are errors like any other: their whole value is
///    pushed onto later columns.
/// 4. Codebook update with assignments and masks frozen: min_C tr((W − M⊙C[a]) Hλ (W − M⊙C[a])ᵀ) is a linear
///    least-squares problem in the K·d codeword entries; `finetune_codebook` (codebook_finetune.hpp) solves its
///    normal equations by preconditioned conjugate gradient with products by Hλ only (the (K·d)² normal matrix,
///    2 GiB of doubles for K = 4096, d = 4, is never formed), at most `update_iter` steps, and keeps the result
///    only if the exact loss went down. The paper's code takes 25 Adam steps (lr 1e-3) on the same loss; CG has
///    no learning rate, gives most of its gain in 3–10 steps on ppocr_det layers, and reaches the exact
///    minimiser (to 1e-6 of the loss) in the tests.
///    The damped Hλ = H + λI (the matrix U factors) is used rather than H: with fewer calibration rows than
///    columns H is singular, and the undamped problem would move codewords freely along directions the
///    calibration rows do not see (in-sample output error down, weight error and unseen-input error up).
/// 5. With `rounds` > 1, steps 3 and 4 repeat from the updated codebook; the best result is kept.
/// 6. Non-f32 codebooks: rounded (`round_codebook`), then the loop of step 3 runs once more with the rounded
///    codebook frozen; whichever of the two assignments has the lower loss is kept.
///
/// One codebook per layer. The compressed format stores one codebook of K·d entries per layer; GPTVQ's paper
/// fits one codebook per group of columns (e.g. 256 columns × all rows for Llama, or smaller 2-D blocks) and
/// initialises it from the error-updated weights when the loop reaches the group. Here the group is the whole
/// layer, initialised from W before the loop. Cost in quality: the codebook cannot follow the drift of the
/// error-updated weights from group to group, and one codebook covers all columns. Gain in bits: the paper's
/// per-group codebooks cost K·d·b_c / (group rows · group cols) extra bits per weight (for K = 256, d = 4,
/// 8-bit entries and 256 × 256-weight groups: 0.125 bit/weight); one codebook per layer costs K·d·b_c/(rows·cols)
/// (0.004 bit/weight for a 512 × 1152 layer), and every kernel and `decompress` read the result unchanged.
///
/// Dead columns (H_cc = 0, a column that is always zero in X) follow GPTQ: H_cc is taken as 1; they do not
/// change the output, only the weight error.
///
/// Determinism: rows are independent in steps 3 and 4 (each row's arithmetic happens in a fixed order whatever
/// task runs it), all sums across rows run serially in row order, so the result is bit-identical for any
/// executor and thread count.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "mvq/core/arch.hpp"
#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"
#include "mvq/quant/codebook.hpp"
#include "mvq/quant/codebook_finetune.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/detail/output_loss.hpp"
#include "mvq/quant/kmeans.hpp"
#include "mvq/quant/linalg.hpp"
#include "mvq/quant/nearest.hpp"
#include "mvq/quant/nm_prune.hpp"

namespace mvq::inline v0::quant {

/// The metric of the k-means initialisation and of the assignments in the loop, from U (GPTQ's factor of H⁻¹).
///
/// The diagonal ones weight position t of a sub-vector by ω_t, a function of U_tt. GPTQ's loss of one column
/// quantized with the later ones free is e²/U_tt², which suggests ω = 1/U_tt²; the paper's code weights k-means
/// by U_tt and the assignment by 1/U_tt (`reference`). `obs_block` uses the whole d × d block instead of its
/// diagonal: it is the exact loss of the group once the later columns are updated.
///
/// Measured final output error tr(E H Eᵀ) relative to inverse_u_squared, K = 256 (64 synthetic), d = 4, all
/// other options default (tests/unit/quant/test_gptvq.cpp and test_models_gptvq.cpp, "weightings"; geometric
/// means over 12 synthetic correlated H, 48 × 96, dense and 2:4; and over three ppocr_det layers, dense and 2:4):
///
///   | weighting         | synthetic | ppocr_det | ppocr_det per layer, dense / 2:4                |
///   |-------------------|-----------|-----------|-------------------------------------------------|
///   | inverse_u_squared | 1         | 1         | 1                                               |
///   | inverse_u         | 1.167     | 1.035     | 1.06 / 0.98, 1.09 / 0.98, 1.05 / 1.05           |
///   | u                 | 4.50      | 1.30      | 1.65 / 1.03, 2.30 / 1.06, 1.23 / 0.95           |
///   | reference         | 1.43      | 1.055     | 1.08 / 0.98, 1.13 / 1.00, 1.17 / 0.98           |
///   | obs_block         | 0.693     | 0.940     | 0.96 / 0.97, 0.98 / 0.97, 0.91 / 0.84           |
///
/// (ppocr_det layers 016_conv, 024_conv, 049_conv.) Among the diagonal weightings GPTQ's 1/U² wins clearly on
/// dense layers; under 2:4 on the real layers the three are within a few per cent of each other (the pruned
/// weights' errors, which no weighting changes, dominate). Weighting k-means by U is the worst choice everywhere on dense layers.
/// The exact block metric wins in every case and is the default.
enum class gptvq_weighting : std::uint8_t {
  inverse_u_squared,  ///< ω = 1/U_cc² for both
  inverse_u,          ///< ω = 1/U_cc for both
  u,                  ///< ω = U_cc for both
  reference,          ///< k-means by U_cc, assignment by 1/U_cc (the paper's code)
  /// k-means by 1/U_cc²; assignment by the exact OBS loss of the group Q of d columns, e (U_QQᵀU_QQ)⁻¹ eᵀ =
  /// ‖e U_QQ⁻¹‖² with e = x − m⊙c (U_QQ: the d × d block of U; under N:M the pruned positions' errors count
  /// too). Codewords (under N:M: m⊙c for each of the sub-vector's mask patterns, when there are at most 64)
  /// and sub-vectors are mapped by U_QQ⁻¹ and compared with the SIMD kernel; with more patterns a scalar search,
  /// K·(q + 1)·d terms per sub-vector.
  obs_block,
};

/// "inverse_u_squared", "inverse_u", "u", "reference" or "obs_block".
[[nodiscard]] constexpr const char* to_string(gptvq_weighting w) noexcept {
  switch (w) {
    case gptvq_weighting::inverse_u_squared: return "inverse_u_squared";
    case gptvq_weighting::inverse_u: return "inverse_u";
    case gptvq_weighting::u: return "u";
    case gptvq_weighting::reference: return "reference";
    case gptvq_weighting::obs_block: return "obs_block";
  }
  return "?";
}

/// The weighting `gptvq_options` uses unless told otherwise (the one with the lowest measured output error).
inline constexpr gptvq_weighting gptvq_weighting_default = gptvq_weighting::obs_block;

/// Options of `gptvq`.
struct gptvq_options {
  vq_config vq{.codebook_size = 256, .subvector_dim = 4};  ///< requested K (clamped as `clamped_k`) and d (1..16)
  nm_pattern nm{};                                ///< dense, or N:M with d a multiple of M
  mask_encoding masks = mask_encoding::pattern;   ///< bitmap or pattern (read only when nm is not dense)
  codebook_dtype codebook = codebook_dtype::f32;  ///< i8: GPTVQ's 8-bit codebooks (one scale per layer)
  double percdamp = 0.01;                         ///< λ = percdamp · mean(diag H) (GPTQ)
  std::size_t block = 128;                        ///< columns per lazy-update block, a multiple of d (GPTQ: 128)
  unsigned em_iter = 10;                          ///< k-means iterations of the initialisation (paper: 10–100)
  unsigned update_iter = 10;  ///< most conjugate-gradient steps of the codebook update (0: none)
  /// Rounds of loop + update: each later round runs the loop again with the updated codebook; the result with
  /// the lowest loss is kept. On ppocr_det layers a second round lowered tr(E Hλ Eᵀ) by 1–7 % more at twice
  /// the cost.
  unsigned rounds = 1;
  gptvq_weighting weighting = gptvq_weighting_default;  ///< metric of the initialisation and the assignments
  std::uint64_t seed = 0;                         ///< k-means++ seeding
  reduction_order order = reduction_order::oihw;  ///< the column order of W and H (recorded, not applied)
};

/// What `gptvq` measured on the way (losses are tr(E Hλ Eᵀ) with Hλ the damped H that U factors).
struct gptvq_report {
  double damp = 0;                  ///< λ actually used
  std::size_t dead_columns = 0;     ///< columns with H_cc = 0
  unsigned em_iterations = 0;       ///< k-means iterations done
  unsigned cg_iterations = 0;       ///< conjugate-gradient steps done, all rounds
  double loss_quantized = 0;        ///< after the first round's loop (step 3)
  double loss_updated = 0;          ///< after the first round's codebook update (= loss_quantized if not kept)
  bool update_accepted = false;     ///< whether an update lowered the loss and was kept
  double loss_final = 0;            ///< of the returned matrix
};

/// Checks the options against a rows × cols weight and an H of `h_size` elements.
[[nodiscard]] inline result<void> validate(gptvq_options const& o, std::size_t rows, std::size_t cols,
                                           std::size_t h_size) {
  using std::to_string;
  if (rows == 0 || cols == 0) return fail(errc::invalid_argument, "gptvq: the weight matrix is empty");
  if (const char* e = check(o.vq); *e) return fail(errc::invalid_argument, std::string("gptvq: ") + e);
  const unsigned d = o.vq.subvector_dim;
  if (d > max_kmeans_dim)
    return fail(errc::unsupported, "gptvq: d = " + to_string(d) + " is not supported (1 to " +
                                       to_string(max_kmeans_dim) + ")");
  if (cols % d != 0)
    return fail(errc::shape_mismatch,
                "gptvq: the row length " + to_string(cols) + " is not a multiple of d = " + to_string(d));
  if (!o.nm.dense()) {
    if (const char* e = check(o.vq, o.nm); *e) return fail(errc::unsupported, std::string("gptvq: ") + e);
    if (o.masks == mask_encoding::none)
      return fail(errc::invalid_argument, "gptvq: an N:M pattern needs a mask encoding (bitmap or pattern)");
  }
  if (o.block == 0 || o.block % d != 0)
    return fail(errc::invalid_argument,
                "gptvq: the block of " + to_string(o.block) + " columns is not a positive multiple of d = " + to_string(d));
  if (o.rounds == 0) return fail(errc::invalid_argument, "gptvq: rounds must be at least 1");
  if (!(o.percdamp >= 0) || !std::isfinite(o.percdamp))
    return fail(errc::invalid_argument, "gptvq: percdamp must be finite and non-negative");
  if (o.order != reduction_order::oihw && o.order != reduction_order::ohwi)
    return fail(errc::invalid_argument, "gptvq: the reduction order is neither oihw nor ohwi");
  if (cols > (std::size_t{1} << 24) || h_size != cols * cols)
    return fail(errc::shape_mismatch, "gptvq: H has " + to_string(h_size) + " elements, a weight with " +
                                          to_string(cols) + " columns needs " + to_string(cols) + "² = " +
                                          to_string(cols * cols));
  return {};
}

namespace detail {

/// Most mask patterns of one sub-vector for which the exact N:M metric keeps one mapped codebook per pattern
/// (beyond, e.g. 2:4 with d = 16 and its 1296 patterns, it searches with scalar code).
inline constexpr std::size_t gptvq_max_patterns = 64;

/// Rows per task of the row-parallel loops. Any value gives the same result (rows are independent); a few rows
/// share each read of H's or U's rows.
inline constexpr std::size_t gptvq_row_chunk = 8;

/// ω_c for every column, scaled to mean 1 (a common factor changes no argmin and keeps the fp32 kernel's
/// numbers near 1). `init` selects the k-means weighting of `reference`.
[[nodiscard]] inline std::vector<double> gptvq_column_weights(inverse_factor const& f, gptvq_weighting w, bool init) {
  const std::size_t n = f.n;
  std::vector<double> om(n);
  for (std::size_t c = 0; c < n; ++c) {
    const double u = f.u[c * n + c];
    switch (w) {
      case gptvq_weighting::inverse_u_squared:
      case gptvq_weighting::obs_block: om[c] = 1.0 / (u * u); break;
      case gptvq_weighting::inverse_u: om[c] = 1.0 / u; break;
      case gptvq_weighting::u: om[c] = u; break;
      case gptvq_weighting::reference: om[c] = init ? u : 1.0 / u; break;
    }
  }
  double mean = 0;
  for (double v : om) mean += v;
  mean /= static_cast<double>(n);
  for (double& v : om) v /= mean;
  return om;
}

/// SparseGPT's N:M choice for one group of M weights `w` (OBS saliency w_c²/U_cc², `inv_u2` = 1/U_cc²): the
/// N largest are kept, the lower position on ties.
[[nodiscard]] inline std::uint32_t gptvq_group_mask(const double* w, const double* inv_u2, nm_pattern nm) noexcept {
  double score[max_nm_group];
  for (unsigned t = 0; t < nm.m && t < max_nm_group; ++t) score[t] = w[t] * w[t] * inv_u2[t];
  return keep_largest(score, nm);
}

/// Kept positions of a d-wide sub-vector mask, padded with d (the masked kernel's zero row); returns q.
inline unsigned gptvq_positions(std::uint32_t m, unsigned d, std::uint8_t* pos, unsigned q) noexcept {
  unsigned s = 0;
  for (unsigned t = 0; t < d; ++t)
    if ((m >> t) & 1u) pos[s++] = static_cast<std::uint8_t>(t);
  for (unsigned r = s; r < q; ++r) pos[r] = static_cast<std::uint8_t>(d);
  return s;
}

/// Assignments (rows × spr) and, under N:M, group bitmaps (rows × cols/M) of one weight matrix.
struct gptvq_codes {
  std::vector<std::uint32_t> assign;
  std::vector<std::uint16_t> groups;
};

/// Everything the steps share: shape, pattern, W in double, the factor, the weights.
struct gptvq_problem {
  std::size_t rows = 0, cols = 0, spr = 0;
  unsigned d = 0, q = 0;  // q: kept positions per sub-vector
  std::uint32_t k = 0;
  nm_pattern nm{};
  std::vector<double> w;         // rows × cols
  inverse_factor f;
  std::vector<double> inv_u2;    // 1/U_cc²
  std::vector<double> reg;       // λ + (1 if dead): Hλ = H + diag(reg)
  [[nodiscard]] bool masked() const noexcept { return !nm.dense(); }
  [[nodiscard]] std::uint32_t subvector_mask(gptvq_codes const& c, std::size_t r, std::size_t s) const noexcept {
    if (!masked()) return d >= 32 ? ~0u : (1u << d) - 1;
    const std::size_t gpr = cols / nm.m, g0 = s * d / nm.m;
    std::uint32_t m = 0;
    for (unsigned u = 0; u < d / nm.m; ++u) m |= std::uint32_t{c.groups[r * gpr + g0 + u]} << (u * nm.m);
    return m;
  }
};

/// The codebook scaled by √ω of the d columns starting at c0, prepared for the nearest-codeword kernels.
inline void gptvq_scaled_codebook(std::span<const float> codebook, std::uint32_t k, unsigned d, const double* om,
                                  bool masked, std::vector<float>& tmp, soa_codebook& out) {
  tmp.resize(std::size_t{k} * d);
  for (std::size_t j = 0; j < k; ++j)
    for (unsigned t = 0; t < d; ++t)
      tmp[j * d + t] = static_cast<float>(std::sqrt(om[t]) * codebook[j * d + t]);
  out.assign(tmp, k, d, masked);
}

/// Weighted (masked) k-means initialisation of the codebook (step 2). Points are the sub-vectors of p.w with
/// masks chosen by saliency on W itself; returns the codebook and the iterations done.
template <class Arch, class E>
[[nodiscard]] std::vector<float> gptvq_init_codebook(gptvq_problem const& p, std::span<const double> om,
                                                     unsigned em_iter, std::uint64_t seed, E& ex, unsigned& iters) {
  const std::size_t rows = p.rows, spr = p.spr, n = rows * spr, k = p.k;
  const unsigned d = p.d, q = p.q;
  const bool masked = p.masked();
  std::vector<float> x(n * d);
  std::vector<std::uint32_t> masks(n, d >= 32 ? ~0u : (1u << d) - 1);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t s = 0; s < spr; ++s) {
      const double* wr = p.w.data() + r * p.cols + s * d;
      std::uint32_t m = masks[r * spr + s];
      if (masked) {
        m = 0;
        for (unsigned u = 0; u < d / p.nm.m; ++u)
          m |= gptvq_group_mask(wr + u * p.nm.m, p.inv_u2.data() + s * d + u * p.nm.m, p.nm) << (u * p.nm.m);
        masks[r * spr + s] = m;
      }
      for (unsigned t = 0; t < d; ++t) x[(r * spr + s) * d + t] = ((m >> t) & 1u) ? static_cast<float>(wr[t]) : 0.0f;
    }
  std::vector<float> c = kmeans_pp_seed<Arch>(x.data(), masks.data(), n, d, k, seed);
  std::vector<std::uint8_t> pos(n * q);
  for (std::size_t i = 0; i < n; ++i) gptvq_positions(masks[i], d, pos.data() + i * q, q);
  double rms = 0;
  for (float v : x) rms += static_cast<double>(v) * v;
  rms = std::sqrt(rms / static_cast<double>(n * d));

  std::vector<std::uint32_t> a(n, 0);
  std::vector<double> num(k * d), den(k * d);
  std::vector<std::uint64_t> count(k);
  double prev = std::numeric_limits<double>::infinity();
  iters = 0;
  for (unsigned it = 0; it < em_iter; ++it) {
    // E step: one task per sub-vector column s (all rows share its weights, so one scaled codebook serves them).
    ex.parallel_for(spr, [&](std::size_t s) {
      std::vector<float> tmp, xs(rows * d);
      std::vector<std::uint8_t> ps(masked ? rows * q : 0);
      std::vector<std::uint32_t> out(rows);
      soa_codebook cb;
      gptvq_scaled_codebook(c, p.k, d, om.data() + s * d, masked, tmp, cb);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t i = r * spr + s;
        for (unsigned t = 0; t < d; ++t) xs[r * d + t] = static_cast<float>(std::sqrt(om[s * d + t]) * x[i * d + t]);
        if (masked) std::copy(pos.begin() + static_cast<std::ptrdiff_t>(i * q),
                              pos.begin() + static_cast<std::ptrdiff_t>((i + 1) * q),
                              ps.begin() + static_cast<std::ptrdiff_t>(r * q));
      }
      if (masked) nearest_codewords_masked<Arch>(xs.data(), ps.data(), q, rows, cb, out.data());
      else nearest_codewords<Arch>(xs.data(), rows, cb, out.data());
      for (std::size_t r = 0; r < rows; ++r) a[r * spr + s] = out[r];
    });
    // M step, serial in point order: weighted means per position; the weighted error of the assignment.
    std::fill(num.begin(), num.end(), 0.0);
    std::fill(den.begin(), den.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    double err = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t j = a[i], s = i % spr;
      ++count[j];
      for (unsigned t = 0; t < d; ++t) {
        if (!((masks[i] >> t) & 1u)) continue;
        const double wt = om[s * d + t], xv = x[i * d + t], e = xv - c[j * d + t];
        err += wt * e * e;
        num[j * d + t] += wt * xv;
        den[j * d + t] += wt;
      }
    }
    if (!(err > 0) || prev - err < 1e-4 * prev) break;
    prev = err;
    for (std::size_t j = 0; j < k; ++j)
      for (unsigned t = 0; t < d; ++t)
        if (den[j * d + t] > 0) c[j * d + t] = static_cast<float>(num[j * d + t] / den[j * d + t]);
    // Empty clusters split the largest one, as `kmeans` does.
    for (std::size_t j = 0; j < k; ++j) {
      if (count[j] != 0) continue;
      std::size_t big = 0;
      for (std::size_t l = 1; l < k; ++l)
        if (count[l] > count[big]) big = l;
      if (count[big] < 2) break;
      for (unsigned t = 0; t < d; ++t) {
        const float cl = c[big * d + t];
        const float dl = static_cast<float>(0x1p-10 * std::max(static_cast<double>(std::fabs(cl)), rms));
        const float sgn = (t % 2 == 0) ? 1.0f : -1.0f;
        c[j * d + t] = cl + sgn * dl;
        c[big * d + t] = cl - sgn * dl;
      }
      count[j] = count[big] / 2;
      count[big] -= count[j];
    }
    ++iters;
  }
  return c;
}

/// Step 3: GPTQ's loop, d columns at a time, with the codebook frozen. Returns assignments and masks.
template <class Arch, class E>
[[nodiscard]] gptvq_codes gptvq_quantize(gptvq_problem const& p, std::span<const float> codebook,
                                         std::span<const double> om, std::size_t block, bool obs_block, E& ex) {
  const std::size_t rows = p.rows, cols = p.cols, spr = p.spr, n = cols;
  const unsigned d = p.d, q = p.q;
  const bool masked = p.masked();
  const std::size_t gpr = masked ? cols / p.nm.m : 0;
  const double* u = p.f.u.data();
  gptvq_codes out;
  out.assign.assign(rows * spr, 0);
  if (masked) out.groups.assign(rows * gpr, 0);
  std::vector<double> wk = p.w;  // the error-updated weights
  std::vector<soa_codebook> cbs, pcbs;
  // N:M with the exact metric: one mapped codebook (m⊙c)·L per mask pattern of a sub-vector when there are few
  // patterns (C(M,N)^(d/M): 6 for 2:4 with d = 4, 36 with d = 8), so the SIMD kernel compares z = x·L with them.
  const std::uint32_t group_patterns = masked ? pattern_count(p.nm) : 1;
  std::size_t sub_patterns = 1;
  for (unsigned g = 0; masked && g < d / p.nm.m && sub_patterns <= gptvq_max_patterns; ++g) sub_patterns *= group_patterns;
  const bool per_pattern = obs_block && masked && sub_patterns <= gptvq_max_patterns;
  std::vector<float> tmp;
  std::vector<double> linv;
  double obs_scale = 0;
  for (std::size_t c = 0; c < cols; ++c) obs_scale += p.inv_u2[c];
  obs_scale = std::sqrt(static_cast<double>(cols) / obs_scale);
  const std::size_t chunks = (rows + gptvq_row_chunk - 1) / gptvq_row_chunk;
  for (std::size_t b0 = 0; b0 < cols; b0 += block) {
    const std::size_t b1 = std::min(cols, b0 + block), s0 = b0 / d, s1 = b1 / d;
    cbs.resize(s1 - s0);
    if (obs_block) {
      // L = U_QQ⁻¹ per group (upper triangular); codewords and sub-vectors are compared as c·L and x·L.
      linv.assign((s1 - s0) * d * d, 0.0);
      for (std::size_t s = s0; s < s1; ++s) {
        double* l = linv.data() + (s - s0) * d * d;
        const std::size_t c0 = s * d;
        for (unsigned j = 0; j < d; ++j) {
          l[j * d + j] = 1.0 / u[(c0 + j) * n + c0 + j];
          for (unsigned i = j; i-- > 0;) {
            double acc = 0;
            for (unsigned k2 = i + 1; k2 <= j; ++k2) acc += u[(c0 + i) * n + c0 + k2] * l[k2 * d + j];
            l[i * d + j] = -acc / u[(c0 + i) * n + c0 + i];
          }
        }
        for (unsigned i = 0; i < d * d; ++i) l[i] *= obs_scale;
        tmp.resize(std::size_t{p.k} * d);
        for (std::size_t j = 0; j < p.k; ++j)
          for (unsigned t2 = 0; t2 < d; ++t2) {
            double acc = 0;
            for (unsigned t = 0; t <= t2; ++t) acc += static_cast<double>(codebook[j * d + t]) * l[t * d + t2];
            tmp[j * d + t2] = static_cast<float>(acc);
          }
        cbs[s - s0].assign(tmp, p.k, d, false);
        if (per_pattern) {
          pcbs.resize((s1 - s0) * sub_patterns);
          for (std::size_t pi = 0; pi < sub_patterns; ++pi) {
            std::uint32_t m = 0;
            for (std::size_t g = 0, rest = pi; g < d / p.nm.m; ++g, rest /= group_patterns)
              m |= pattern_bitmap(p.nm, static_cast<std::uint32_t>(rest % group_patterns)) << (g * p.nm.m);
            for (std::size_t j = 0; j < p.k; ++j)
              for (unsigned t2 = 0; t2 < d; ++t2) {
                double acc = 0;
                for (unsigned t = 0; t <= t2; ++t)
                  if ((m >> t) & 1u) acc += static_cast<double>(codebook[j * d + t]) * l[t * d + t2];
                tmp[j * d + t2] = static_cast<float>(acc);
              }
            pcbs[(s - s0) * sub_patterns + pi].assign(tmp, p.k, d, false);
          }
        }
      }
    } else {
      for (std::size_t s = s0; s < s1; ++s)
        gptvq_scaled_codebook(codebook, p.k, d, om.data() + s * d, masked, tmp, cbs[s - s0]);
    }
    ex.parallel_for(chunks, [&](std::size_t ci) {
      const std::size_t r0 = ci * gptvq_row_chunk, r1 = std::min(rows, r0 + gptvq_row_chunk), nr = r1 - r0;
      float xs[gptvq_row_chunk * max_kmeans_dim];
      std::uint8_t ps[gptvq_row_chunk * max_kmeans_dim];
      std::uint32_t sm[gptvq_row_chunk], a[gptvq_row_chunk];
      std::vector<double> err(nr * (b1 - b0));
      for (std::size_t s = s0; s < s1; ++s) {
        const std::size_t c0 = s * d;
        for (std::size_t i = 0; i < nr; ++i) {
          const std::size_t r = r0 + i;
          const double* wr = wk.data() + r * cols + c0;
          std::uint32_t m = d >= 32 ? ~0u : (1u << d) - 1;
          if (masked) {
            m = 0;
            for (unsigned g = 0; g < d / p.nm.m; ++g) {
              const std::uint32_t bm = gptvq_group_mask(wr + g * p.nm.m, p.inv_u2.data() + c0 + g * p.nm.m, p.nm);
              out.groups[r * gpr + c0 / p.nm.m + g] = static_cast<std::uint16_t>(bm);
              m |= bm << (g * p.nm.m);
            }
            gptvq_positions(m, d, ps + i * q, q);
          }
          sm[i] = m;
          if (obs_block) {
            const double* l = linv.data() + (s - s0) * d * d;
            for (unsigned t2 = 0; t2 < d; ++t2) {
              double acc = 0;
              for (unsigned t = 0; t <= t2; ++t) acc += wr[t] * l[t * d + t2];
              xs[i * d + t2] = static_cast<float>(acc);
            }
          } else {
            for (unsigned t = 0; t < d; ++t)
              xs[i * d + t] = ((m >> t) & 1u) ? static_cast<float>(std::sqrt(om[c0 + t]) * wr[t]) : 0.0f;
          }
        }
        if (per_pattern) {
          for (std::size_t i = 0; i < nr; ++i) {
            std::size_t pi = 0;
            for (std::size_t g = d / p.nm.m; g-- > 0;)
              pi = pi * group_patterns + pattern_rank(p.nm, (sm[i] >> (g * p.nm.m)) & ((1u << p.nm.m) - 1));
            nearest_codewords<Arch>(xs + i * d, 1, pcbs[(s - s0) * sub_patterns + pi], a + i);
          }
        } else if (obs_block && masked) {
          // Exact group loss under a mask: ‖z − Σ_{t kept} c_t L_t‖² with z = x·L (pruned positions keep their
          // whole value as error), scalar: K·(q + 1)·d terms per sub-vector.
          const double* l = linv.data() + (s - s0) * d * d;
          for (std::size_t i = 0; i < nr; ++i) {
            double z[max_kmeans_dim], pr[max_kmeans_dim];
            for (unsigned t2 = 0; t2 < d; ++t2) z[t2] = xs[i * d + t2];
            double best = std::numeric_limits<double>::infinity();
            std::uint32_t arg = 0;
            for (std::uint32_t j = 0; j < p.k; ++j) {
              const float* cw = codebook.data() + std::size_t{j} * d;
              for (unsigned t2 = 0; t2 < d; ++t2) pr[t2] = z[t2];
              for (unsigned t = 0; t < d; ++t) {
                if (!((sm[i] >> t) & 1u)) continue;
                for (unsigned t2 = t; t2 < d; ++t2) pr[t2] -= static_cast<double>(cw[t]) * l[t * d + t2];
              }
              double dist = 0;
              for (unsigned t2 = 0; t2 < d; ++t2) dist += pr[t2] * pr[t2];
              if (dist < best) {
                best = dist;
                arg = j;
              }
            }
            a[i] = arg;
          }
        } else if (masked) {
          nearest_codewords_masked<Arch>(xs, ps, q, nr, cbs[s - s0], a);
        } else {
          nearest_codewords<Arch>(xs, nr, cbs[s - s0], a);
        }
        for (std::size_t i = 0; i < nr; ++i) {
          const std::size_t r = r0 + i;
          out.assign[r * spr + s] = a[i];
          double* wr = wk.data() + r * cols;
          double* er = err.data() + i * (b1 - b0);
          const float* cw = codebook.data() + std::size_t{a[i]} * d;
          // Column by column: the error divided by U_cc, pushed onto the rest of the block.
          for (unsigned t = 0; t < d; ++t) {
            const std::size_t c = c0 + t;
            const double qv = ((sm[i] >> t) & 1u) ? static_cast<double>(cw[t]) : 0.0;
            const double e = (wr[c] - qv) / u[c * n + c];
            er[c - b0] = e;
            for (std::size_t c2 = c + 1; c2 < b1; ++c2) wr[c2] -= e * u[c * n + c2];
          }
        }
      }
      // Lazy update of the later blocks: W[:, b1:] −= Err · U[b0:b1, b1:].
      for (std::size_t i = 0; i < nr; ++i) {
        double* wr = wk.data() + (r0 + i) * cols;
        const double* er = err.data() + i * (b1 - b0);
        for (std::size_t c = b0; c < b1; ++c) {
          const double e = er[c - b0];
          if (e == 0) continue;
          const double* uc = u + c * n;
          for (std::size_t c2 = b1; c2 < cols; ++c2) wr[c2] -= e * uc[c2];
        }
      }
    });
  }
  return out;
}

/// The codes as codebook_finetune and output_loss read them: index and kept-position bitmap per sub-vector.
[[nodiscard]] inline unpacked_codes gptvq_unpacked(gptvq_problem const& p, gptvq_codes const& c) {
  unpacked_codes u;
  u.index = c.assign;
  u.kept.resize(p.rows * p.spr);
  for (std::size_t r = 0; r < p.rows; ++r)
    for (std::size_t s = 0; s < p.spr; ++s) u.kept[r * p.spr + s] = p.subvector_mask(c, r, s);
  return u;
}

/// A compressed matrix of `layout` holding codebook `cb` (effective values) and codes `c`.
[[nodiscard]] inline result<compressed_matrix> gptvq_pack(gptvq_problem const& p, compressed_layout const& layout,
                                                          std::span<const float> cb, gptvq_codes const& c) {
  auto out = compressed_matrix::allocate(layout);
  if (!out) return out;
  out->codebook.assign(cb.begin(), cb.end());
  pack_indices(c.assign, *out);
  if (p.masked()) {
    nm_mask mask{.nm = p.nm, .rows = p.rows, .cols = p.cols, .bitmaps = c.groups};
    pack_masks(mask, layout.masks, out->masks);
  }
  return out;
}

}  // namespace detail

/// Compresses W (rows × cols, rows = output channels, cols = reduction) with GPTVQ against the layer's input
/// statistics H = XᵀX (cols × cols, row-major, symmetric; e.g. `calibration::gram()`; any positive multiple of it
/// gives the same result). The result is an ordinary `compressed_matrix` (one codebook per layer, see the file
/// comment) with K = clamped_k(K, rows·cols/d). `stats` gets the weight error and the output error from H:
/// output_norm2 = tr(W H Wᵀ), output_err2 = tr(E H Eᵀ); `report` what the steps measured.
/// @tparam Arch xsimd architecture of the nearest-codeword kernels (default: see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<compressed_matrix> gptvq(matrix_view<const float> w, std::span<const double> h,
                                              gptvq_options const& opt, E& ex, layer_stats* stats = nullptr,
                                              gptvq_report* report = nullptr) {
  static_assert(Arch::supported(), "gptvq: the architecture must be enabled in this translation unit.");
  const auto t0 = std::chrono::steady_clock::now();
  if (auto v = validate(opt, w.rows(), w.cols(), h.size()); !v) return tl::unexpected(v.error());
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (float v : w.row(r))
      if (!std::isfinite(v))
        return fail(errc::invalid_argument, "gptvq: row " + std::to_string(r) + " of the weight has a non-finite value");
  for (std::size_t i = 0; i < h.size(); ++i)
    if (!std::isfinite(h[i]))
      return fail(errc::invalid_argument, "gptvq: H has a non-finite value at (" + std::to_string(i / w.cols()) +
                                              ", " + std::to_string(i % w.cols()) + ")");
  const std::size_t rows = w.rows(), cols = w.cols();
  for (std::size_t c = 0; c < cols; ++c)
    if (h[c * cols + c] < 0)
      return fail(errc::invalid_argument, "gptvq: H has a negative diagonal entry at column " + std::to_string(c) +
                                              " (it is not XᵀX)");

  detail::gptvq_problem p;
  p.rows = rows;
  p.cols = cols;
  p.d = opt.vq.subvector_dim;
  p.spr = cols / p.d;
  p.nm = opt.nm;
  p.q = static_cast<unsigned>(kept_per_subvector(opt.vq, opt.nm));
  p.k = clamped_k(opt.vq.codebook_size, rows * p.spr);
  compressed_layout layout{.rows = rows,
                           .cols = cols,
                           .vq = {p.k, opt.vq.subvector_dim},
                           .nm = opt.nm,
                           .order = opt.order,
                           .masks = opt.nm.dense() ? mask_encoding::none : opt.masks,
                           .codebook = opt.codebook};
  if (auto v = validate(layout); !v) return tl::unexpected(v.error());

  auto fac = gptq_inverse_factor<Arch>(h, cols, opt.percdamp, ex);
  if (!fac) return tl::unexpected(error{fac.error().code, "gptvq: " + fac.error().message});
  p.f = std::move(*fac);
  p.w.resize(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) p.w[r * cols + c] = w(r, c);
  p.inv_u2.resize(cols);
  p.reg.resize(cols);
  gptvq_report rep;
  rep.damp = p.f.damp;
  for (std::size_t c = 0; c < cols; ++c) {
    const double uc = p.f.u[c * cols + c];
    p.inv_u2[c] = 1.0 / (uc * uc);
    p.reg[c] = p.f.damp + (p.f.dead[c] ? 1.0 : 0.0);
    rep.dead_columns += p.f.dead[c] != 0;
  }
  const std::vector<double> om_init = detail::gptvq_column_weights(p.f, opt.weighting, true);
  const std::vector<double> om = detail::gptvq_column_weights(p.f, opt.weighting, false);
  const bool obs_block = opt.weighting == gptvq_weighting::obs_block;

  // Hλ: the matrix U factors, the objective of the codebook update and of every keep-or-drop decision.
  std::vector<double> hl(h.begin(), h.end());
  for (std::size_t c = 0; c < cols; ++c) hl[c * cols + c] += p.reg[c];
  std::vector<double> se(rows * cols), sg(rows * cols);
  auto loss_of = [&](std::span<const float> c, detail::gptvq_codes const& codes_) {
    return detail::output_loss<Arch, float>(detail::gptvq_unpacked(p, codes_), c, w, p.d, hl, se, sg, ex);
  };
  compressed_layout layout32 = layout;
  layout32.codebook = codebook_dtype::f32;

  std::vector<float> cb = detail::gptvq_init_codebook<Arch>(p, om_init, opt.em_iter, opt.seed, ex, rep.em_iterations);
  detail::gptvq_codes codes;
  std::vector<float> cur = cb;
  rep.loss_final = std::numeric_limits<double>::infinity();
  for (unsigned round = 0; round < opt.rounds; ++round) {
    detail::gptvq_codes c = detail::gptvq_quantize<Arch>(p, cur, om, opt.block, obs_block, ex);
    double lq = 0, lu = 0;
    bool improved = false;
    if (opt.update_iter > 0) {  // finetune_codebook measures the loss before and after
      auto m = detail::gptvq_pack(p, layout32, cur, c);
      if (!m) return tl::unexpected(m.error());
      finetune_report fr;
      if (auto r = finetune_codebook<Arch>(*m, w, hl, {.cg_iter = opt.update_iter, .rounds = 0}, ex, &fr); !r)
        return tl::unexpected(error{r.error().code, "gptvq: " + r.error().message});
      rep.cg_iterations += fr.cg_iterations;
      lq = fr.initial_loss;
      lu = fr.final_loss;
      if (fr.updates_kept > 0) {  // kept only when it lowered the loss
        improved = true;
        rep.update_accepted = true;
        cur = std::move(m->codebook);
      }
    } else {
      lq = lu = loss_of(cur, c);
    }
    if (round == 0) {
      rep.loss_quantized = lq;
      rep.loss_updated = lu;
    }
    if (lu < rep.loss_final) {
      rep.loss_final = lu;
      cb = cur;
      codes = std::move(c);
    }
    if (!improved) break;  // the next round would repeat this one
  }
  rounded_codebook rc;
  if (opt.codebook != codebook_dtype::f32) {
    rc = round_codebook(cb, opt.codebook);
    const double kept = loss_of(cb, codes);
    detail::gptvq_codes again = detail::gptvq_quantize<Arch>(p, cb, om, opt.block, obs_block, ex);
    const double redone = loss_of(cb, again);
    rep.loss_final = std::min(kept, redone);
    if (redone < kept) codes = std::move(again);
  }
  auto packed = detail::gptvq_pack(p, layout, cb, codes);
  if (!packed) return tl::unexpected(packed.error());
  compressed_matrix& cm = *packed;
  cm.codebook_i8 = std::move(rc.codes);
  cm.codebook_scale = rc.scale;

  if (stats) {
    const std::vector<float> what = decompress(cm.view());
    layer_stats st;
    st.k = layout.k();
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const double wv = w(r, c), e = wv - static_cast<double>(what[r * cols + c]);
        st.weight_norm2 += wv * wv;
        st.weight_err2 += e * e;
      }
    st.output_norm2 = output_energy<Arch>(w, h, ex);
    st.output_err2 = output_error<Arch>(w, what, h, ex);
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    *stats = st;
  }
  if (report) *report = rep;
  return packed;
}

/// `gptvq` on the calling thread (`serial_executor`).
template <class Arch = default_simd_arch>
[[nodiscard]] result<compressed_matrix> gptvq(matrix_view<const float> w, std::span<const double> h,
                                              gptvq_options const& opt, layer_stats* stats = nullptr,
                                              gptvq_report* report = nullptr) {
  serial_executor ex;
  return gptvq<Arch>(w, h, opt, ex, stats, report);
}

}  // namespace mvq::inline v0::quant
