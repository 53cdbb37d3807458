#pragma once
/// @file
/// Post-training codebook fine-tuning on the layer output, the post-training form of MVQ's masked-gradient
/// fine-tuning (Towards efficient DNN compression and acceleration with masked vector quantization, ASPLOS
/// 2025): with the masks M and the assignments a fixed, minimise the layer-output error
///
///     L(C) = ‖X(W − Ŵ)ᵀ‖² = tr(E H Eᵀ),   E = W − Ŵ,  Ŵ = M ⊙ C[a],  H = XᵀX,
///
/// over the codebook C. Ŵ is linear in C (Ŵ = P C, P selects and masks), so L is quadratic and its minimum
/// solves the normal equations Pᵀ((P C) H) = Pᵀ(W H); the gradient is ∂L/∂C = −2 Pᵀ(E H), i.e.
/// `masked_codebook_gradient` of −2 E H. The equations are solved by preconditioned conjugate gradient whose
/// matrix-vector product is exactly that: decode a direction through the masks, multiply by H, accumulate back
/// through the masks. The (K·d)² matrix is never formed (K may be 65536). The preconditioner is block-Jacobi:
/// for codeword j the d × d block Σ_{i: a_i = j} diag(m_i) H_{S_i S_i} diag(m_i) (S_i: the columns of
/// sub-vector i), i.e. the exact diagonal block of the normal matrix without the coupling of two sub-vectors of
/// one row that share a codeword.
///
/// Optionally the assignments are refined in alternation with the codebook (`rounds`). The loss is a sum over
/// rows, e_r H e_rᵀ, so rows are independent. Within a row the sub-vectors are visited in order and each picks
/// the codeword that minimises the row's exact loss given all the others: with G = E H (kept up to date),
/// changing ŵ_S by δ changes the loss by −2 δ·G_S + δᵀ H_SS δ, which needs only the sub-vector's own d × d
/// block H_SS and G. After a change G is updated (G_r −= δ H_{S,:}), so the search is exact coordinate descent
/// (Gauss–Seidel), not the block-diagonal approximation of H that searching all sub-vectors at once with H_SS
/// alone would be. A round is kept only if the exact loss, recomputed from scratch, dropped.
///
/// f16 and i8 codebooks: the update runs in double, then rounds to the storage type (`round_codebook`); the
/// rounded result is kept only if its exact loss is below the old one. The loss therefore never increases.
///
/// Conv layers are GEMMs here: W is rows × (reduction in the matrix's order) and H is over the im2col reduction
/// columns in the same order. Zero-data use: pass H from `calibration::identity` (weight-space error) or
/// `calibration::from_channel_stats` (H of Gaussian inputs with given per-channel statistics).
///
/// Bit-identical for any executor and thread count (see quant/detail/output_loss.hpp).

#include <algorithm>
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
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/quant/codebook.hpp"
#include "mvq/quant/detail/output_loss.hpp"
#include "mvq/quant/masked_gradient.hpp"
#include "mvq/quant/nearest.hpp"

namespace mvq::inline v0::quant {

/// Options of `finetune_codebook`.
struct finetune_options {
  unsigned cg_iter = 50;  ///< conjugate-gradient iterations per codebook update (0: no codebook update)
  unsigned rounds = 2;    ///< reassignment + codebook-update alternations after the first update (0: update only)
  double tol = 1e-8;      ///< CG stops when the residual norm falls below tol · its initial norm
};

/// What `finetune_codebook` did.
struct finetune_report {
  double initial_loss = 0;      ///< tr(E H Eᵀ) before
  double final_loss = 0;        ///< tr(E H Eᵀ) after (≤ initial_loss)
  unsigned cg_iterations = 0;   ///< CG iterations run, over all updates
  unsigned updates_kept = 0;    ///< codebook updates whose (rounded) result lowered the loss
  unsigned rounds_kept = 0;     ///< reassignment rounds that lowered the loss
  std::size_t reassigned = 0;   ///< sub-vector assignments changed, over the kept rounds
};

namespace detail {

/// Cholesky factors of the block-Jacobi preconditioner, d × d per codeword (lower triangle, row-major).
struct block_jacobi {
  std::size_t k = 0, d = 0;
  std::vector<double> factor;

  /// z = B⁻¹ r for every codeword block (forward then backward substitution).
  template <class E>
  void apply(std::span<const double> r, std::span<double> z, E& ex) const {
    ex.parallel_for(k, [&](std::size_t j) {
      const double* l = factor.data() + j * d * d;
      const double* rj = r.data() + j * d;
      double* zj = z.data() + j * d;
      for (std::size_t a = 0; a < d; ++a) {
        double s = rj[a];
        for (std::size_t b = 0; b < a; ++b) s -= l[a * d + b] * zj[b];
        zj[a] = s / l[a * d + a];
      }
      for (std::size_t a = d; a-- > 0;) {
        double s = zj[a];
        for (std::size_t b = a + 1; b < d; ++b) s -= l[b * d + a] * zj[b];
        zj[a] = s / l[a * d + a];
      }
    });
  }
};

/// Builds the preconditioner of the normal matrix of hard codes `u` (see the file comment). A position no
/// sub-vector of a codeword keeps has an all-zero row and column; its diagonal becomes 1 (the residual there is
/// always zero). A block that is still not positive definite falls back to its diagonal.
template <class E>
[[nodiscard]] block_jacobi make_block_jacobi(unpacked_codes const& u, std::size_t k, std::size_t d, std::size_t cols,
                                             std::span<const double> h, E& ex) {
  block_jacobi p;
  p.k = k;
  p.d = d;
  p.factor.assign(k * d * d, 0.0);
  const std::size_t spr = cols / d;
  for (std::size_t i = 0; i < u.index.size(); ++i) {
    double* b = p.factor.data() + std::size_t{u.index[i]} * d * d;
    const std::size_t c0 = (i % spr) * d;
    for (std::size_t a = 0; a < d; ++a) {
      if (!((u.kept[i] >> a) & 1u)) continue;
      for (std::size_t t = 0; t < d; ++t)
        if ((u.kept[i] >> t) & 1u) b[a * d + t] += h[(c0 + a) * cols + c0 + t];
    }
  }
  ex.parallel_for(k, [&](std::size_t j) {
    double* b = p.factor.data() + j * d * d;
    double top = 0;
    for (std::size_t a = 0; a < d; ++a) top = std::max(top, b[a * d + a]);
    for (std::size_t a = 0; a < d; ++a) {
      if (b[a * d + a] <= 0.0) {  // never kept (or H has a zero diagonal there): decouple the position
        for (std::size_t t = 0; t < d; ++t) b[a * d + t] = b[t * d + a] = 0.0;
        b[a * d + a] = top > 0.0 ? top : 1.0;
      }
      b[a * d + a] *= 1.0 + 1e-12;  // a relative ridge: H_SS of real data is often singular to rounding
    }
    std::vector<double> l(b, b + d * d);
    bool ok = true;
    for (std::size_t a = 0; a < d && ok; ++a) {
      for (std::size_t c = 0; c <= a; ++c) {
        double s = l[a * d + c];
        for (std::size_t t = 0; t < c; ++t) s -= l[a * d + t] * l[c * d + t];
        if (c == a) {
          if (!(s > 0.0)) {
            ok = false;
            break;
          }
          l[a * d + a] = std::sqrt(s);
        } else {
          l[a * d + c] = s / l[c * d + c];
        }
      }
    }
    if (ok) {
      for (std::size_t a = 0; a < d; ++a)
        for (std::size_t c = a + 1; c < d; ++c) l[a * d + c] = 0.0;
    } else {
      std::fill(l.begin(), l.end(), 0.0);
      for (std::size_t a = 0; a < d; ++a) l[a * d + a] = std::sqrt(b[a * d + a]);
    }
    std::copy(l.begin(), l.end(), b);
  });
  return p;
}

/// Dot product in index order.
[[nodiscard]] inline double dot(std::span<const double> a, std::span<const double> b) noexcept {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// Minimises tr(E H Eᵀ) over the codebook `x` (k·d, double, updated in place) for the hard codes of `m` (whose
/// codebook values are ignored) by preconditioned CG from `x`. Returns the iterations run.
template <class Arch, class E>
unsigned codebook_cg(compressed_matrix_view const& m, unpacked_codes const& u, matrix_view<const float> w,
                     std::span<const double> h, std::span<double> x, unsigned iters, double tol, E& ex) {
  const auto& l = m.layout;
  const std::size_t rows = l.rows, cols = l.cols, d = l.d(), kd = std::size_t{l.k()} * d;
  std::vector<double> e(rows * cols), g(rows * cols);
  std::vector<double> r(kd), z(kd), p(kd), ap(kd);
  const matrix_view<const double> gv(g.data(), rows, cols);
  // r = Pᵀ(E H) = −½ ∂L/∂C: the residual of the normal equations at x.
  (void)output_loss<Arch, double>(u, x, w, d, h, e, g, ex);
  (void)quant::masked_codebook_gradient(m, gv, std::span<double>(r));
  const double r0 = std::sqrt(dot(r, r));
  if (!(r0 > 0.0) || iters == 0) return 0;
  const block_jacobi pre = make_block_jacobi(u, l.k(), d, cols, h, ex);
  pre.apply(r, z, ex);
  p = z;
  double rz = dot(r, z);
  unsigned it = 0;
  while (it < iters) {
    ++it;
    reconstruct<double>(u, p, rows, cols, d, e);  // P p
    right_multiply_gram<Arch>(e, rows, cols, h, g, ex);
    (void)quant::masked_codebook_gradient(m, gv, std::span<double>(ap));  // A p = Pᵀ((P p) H)
    const double pap = dot(p, ap);
    if (!(pap > 0.0) || !(rz > 0.0)) break;
    const double alpha = rz / pap;
    for (std::size_t i = 0; i < kd; ++i) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    if (std::sqrt(dot(r, r)) <= tol * r0) break;
    pre.apply(r, z, ex);
    const double rz_next = dot(r, z);
    const double beta = rz_next / rz;
    rz = rz_next;
    for (std::size_t i = 0; i < kd; ++i) p[i] = z[i] + beta * p[i];
  }
  return it;
}

/// One exact Gauss–Seidel pass over the sub-vectors of every row (see the file comment) with the stored codebook
/// `cb`; `u.index` is updated. Returns the number of changed assignments.
template <class Arch, class E>
std::size_t reassign_rows(unpacked_codes& u, std::span<const float> cb, std::size_t k, std::size_t d,
                          matrix_view<const float> w, std::span<const double> h, E& ex) {
  const std::size_t rows = w.rows(), cols = w.cols(), spr = cols / d;
  std::vector<double> e(rows * cols), g(rows * cols);
  (void)output_loss<Arch, float>(u, cb, w, d, h, e, g, ex);
  std::vector<std::size_t> changed(rows, 0);
  ex.parallel_for(rows, [&](std::size_t r) {
    double* er = e.data() + r * cols;
    double* gr = g.data() + r * cols;
    double hs[max_kmeans_dim * max_kmeans_dim], bq[max_kmeans_dim], o[max_kmeans_dim], uq[max_kmeans_dim];
    unsigned pos[max_kmeans_dim];
    for (std::size_t s = 0; s < spr; ++s) {
      const std::size_t i = r * spr + s, c0 = s * d;
      unsigned q = 0;
      for (unsigned t = 0; t < d; ++t)
        if ((u.kept[i] >> t) & 1u) pos[q++] = t;
      if (q == 0) continue;  // every position pruned: all codewords decode to zeros
      // Kept block of H, the current decoded values o, and b = G_S + H_SS o (score_j = uᵀH u − 2 u·b).
      for (unsigned a = 0; a < q; ++a)
        for (unsigned t = 0; t < q; ++t) hs[a * q + t] = h[(c0 + pos[a]) * cols + c0 + pos[t]];
      const float* cur = cb.data() + std::size_t{u.index[i]} * d;
      for (unsigned a = 0; a < q; ++a) o[a] = cur[pos[a]];
      for (unsigned a = 0; a < q; ++a) {
        double s2 = gr[c0 + pos[a]];
        for (unsigned t = 0; t < q; ++t) s2 += hs[a * q + t] * o[t];
        bq[a] = s2;
      }
      auto score = [&](std::uint32_t j) {
        const float* cj = cb.data() + std::size_t{j} * d;
        double quad = 0, lin = 0;
        for (unsigned a = 0; a < q; ++a) uq[a] = cj[pos[a]];
        for (unsigned a = 0; a < q; ++a) {
          double row = 0;
          for (unsigned t = 0; t < q; ++t) row += hs[a * q + t] * uq[t];
          quad += uq[a] * row;
          lin += uq[a] * bq[a];
        }
        return quad - 2.0 * lin;
      };
      const std::uint32_t old = u.index[i];
      double best = score(old);
      std::uint32_t arg = old;
      for (std::uint32_t j = 0; j < k; ++j) {
        if (j == old) continue;
        const double sj = score(j);
        if (sj < best) {
          best = sj;
          arg = j;
        }
      }
      if (arg == old) continue;
      // δ = new − old decoded values; E_S −= δ, G_r −= δ H_{S,:}.
      const float* nw = cb.data() + std::size_t{arg} * d;
      for (unsigned a = 0; a < q; ++a) {
        const double delta = static_cast<double>(nw[pos[a]]) - o[a];
        er[c0 + pos[a]] -= delta;
        const double* hrow = h.data() + (c0 + pos[a]) * cols;
        for (std::size_t c = 0; c < cols; ++c) gr[c] -= delta * hrow[c];
      }
      u.index[i] = arg;
      ++changed[r];
    }
  });
  std::size_t n = 0;
  for (std::size_t c : changed) n += c;
  return n;
}

/// Checks the arguments shared by `finetune_codebook` and `codebook_output_gradient`.
[[nodiscard]] inline result<void> check_finetune_inputs(compressed_matrix_view const& m, matrix_view<const float> w,
                                                        std::span<const double> h, const char* who) {
  if (auto r = validate(m); !r) return fail(r.error().code, std::string(who) + ": " + r.error().message);
  if (m.layout.rows == 0 || m.layout.cols == 0) return fail(errc::invalid_argument, std::string(who) + ": the matrix is empty");
  if (m.layout.d() > max_kmeans_dim)
    return fail(errc::unsupported, std::string(who) + ": d = " + std::to_string(m.layout.d()) +
                                       " is not supported (1 to " + std::to_string(max_kmeans_dim) + ")");
  if (auto r = check_weight(w, m.layout.rows, m.layout.cols, who); !r) return r;
  return check_gram(h, m.layout.cols, who);
}

}  // namespace detail

/// The layer-output loss tr(E H Eᵀ) of `m` against the fp32 weights `w` and its gradient with respect to the
/// codebook, ∂L/∂C = −2 Pᵀ(E H) (`masked_codebook_gradient` of −2 E H), written to `grad_c` (k·d values).
/// `w` is rows × cols in the matrix's reduction order, `h` is cols × cols row-major.
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<double> codebook_output_gradient(compressed_matrix_view const& m, matrix_view<const float> w,
                                                      std::span<const double> h, std::span<double> grad_c, E&& ex) {
  if (auto r = detail::check_finetune_inputs(m, w, h, "codebook output gradient"); !r) return tl::unexpected(r.error());
  const auto& l = m.layout;
  if (grad_c.size() != std::size_t{l.k()} * l.d())
    return fail(errc::shape_mismatch, "codebook output gradient: ∂L/∂C must hold k·d = " +
                                          std::to_string(std::size_t{l.k()} * l.d()) + " values");
  const detail::unpacked_codes u = detail::unpack_codes(m);
  std::vector<double> e(l.rows * l.cols), g(l.rows * l.cols);
  const double loss = detail::output_loss<Arch, float>(u, m.codebook, w, l.d(), h, e, g, ex);
  for (double& v : g) v *= -2.0;
  if (auto r = masked_codebook_gradient(m, matrix_view<const double>(g.data(), l.rows, l.cols), grad_c); !r)
    return tl::unexpected(r.error());
  return loss;
}

/// Fine-tunes the codebook of `m` (and, with `opt.rounds`, its assignments; the masks never change) to minimise
/// the layer-output error tr(E H Eᵀ) against the fp32 weights `w` (rows × cols in the matrix's reduction order)
/// and the input Gram matrix `h` (cols × cols, row-major, H = XᵀX; see the file comment). The loss never
/// increases. Works for plain VQ and MVQ (masks) and every codebook type; `m` is modified only on success.
/// @tparam Arch instruction set of the translation unit (see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<void> finetune_codebook(compressed_matrix& m, matrix_view<const float> w, std::span<const double> h,
                                             finetune_options const& opt, E&& ex, finetune_report* report = nullptr) {
  if (auto r = detail::check_finetune_inputs(m.view(), w, h, "codebook fine-tuning"); !r) return r;
  if (!(opt.tol >= 0.0) || !std::isfinite(opt.tol))
    return fail(errc::invalid_argument, "codebook fine-tuning: tol must be finite and ≥ 0");
  const auto& l = m.layout;
  const std::size_t rows = l.rows, cols = l.cols, d = l.d(), kd = std::size_t{l.k()} * d;
  detail::unpacked_codes u = detail::unpack_codes(m.view());
  std::vector<double> e(rows * cols), g(rows * cols);
  auto loss_of = [&](std::span<const float> cb) {
    return detail::output_loss<Arch, float>(u, cb, w, d, h, e, g, ex);
  };
  finetune_report rep;
  double loss = loss_of(m.codebook);
  rep.initial_loss = loss;

  // One codebook update: CG in double from the current codebook, round, keep if the exact loss dropped.
  auto update = [&] {
    if (opt.cg_iter == 0) return;
    std::vector<double> x(m.codebook.begin(), m.codebook.end());
    rep.cg_iterations += detail::codebook_cg<Arch>(m.view(), u, w, h, x, opt.cg_iter, opt.tol, ex);
    std::vector<float> cb(kd);
    for (std::size_t i = 0; i < kd; ++i) cb[i] = static_cast<float>(x[i]);
    rounded_codebook rc = round_codebook(cb, l.codebook);
    const double nl = loss_of(cb);
    if (nl < loss) {
      loss = nl;
      m.codebook = std::move(cb);
      if (l.codebook == codebook_dtype::i8) {
        m.codebook_i8 = std::move(rc.codes);
        m.codebook_scale = rc.scale;
      }
      ++rep.updates_kept;
    }
  };

  update();
  for (unsigned round = 0; round < opt.rounds; ++round) {
    std::vector<std::uint32_t> before = u.index;
    const std::size_t changed = detail::reassign_rows<Arch>(u, m.codebook, l.k(), d, w, h, ex);
    if (changed == 0) break;
    const double nl = loss_of(m.codebook);
    if (!(nl < loss)) {  // rounding made the exact loss no better: undo and stop
      u.index = std::move(before);
      break;
    }
    loss = nl;
    ++rep.rounds_kept;
    rep.reassigned += changed;
    detail::pack_indices(u.index, m);  // the CG's products read the packed indices
    update();
  }
  rep.final_loss = loss;
  if (report) *report = rep;
  return {};
}

/// `finetune_codebook` on the calling thread.
template <class Arch = default_simd_arch>
[[nodiscard]] result<void> finetune_codebook(compressed_matrix& m, matrix_view<const float> w, std::span<const double> h,
                                             finetune_options const& opt = {}, finetune_report* report = nullptr) {
  serial_executor ex;
  return finetune_codebook<Arch>(m, w, h, opt, ex, report);
}

}  // namespace mvq::inline v0::quant
