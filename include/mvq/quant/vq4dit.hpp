#pragma once
/// @file
/// VQ4DiT candidate-assignment calibration (Deng et al., 2024, "VQ4DiT: Efficient Post-Training Vector
/// Quantization for Diffusion Transformers"), on the layer-output loss.
///
/// From an initial compressed matrix (k-means or MVQ's masked k-means, `quant::compress`), every sub-vector i
/// keeps its n nearest codewords cand_i (n = 2 in the paper; distance under the sub-vector's mask, nearest first)
/// and a softmax ratio p_i = softmax(z_i) over them; the weight is the soft mixture
///
///     ŵ_i = Σ_c p_ic · m_i ⊙ C[cand_ic],
///
/// and the logits z and the codebook C minimise
///
///     L = tr(E H Eᵀ) / tr(W H Wᵀ)  +  λ · n · mean_{active i, c} p_ic (1 − p_ic),   E = W − Ŵ,  H = XᵀX.
///
/// The first term is the layer-output error relative to the output energy. The paper minimises the
/// block-output MSE instead; the two differ by a data-dependent constant, which here is fixed so that λ means
/// the same on every layer. The second term is the paper's ratio regulariser (the authors' code: n times the
/// mean of p(1−p) over the ratios of the sub-vectors not yet frozen, added with weight 1, so λ = 1 by default).
/// Gradients are closed-form: ∂L/∂Ŵ = −2 E H / tr(W H Wᵀ); ∂L/∂p_ic = ⟨∂L/∂ŵ_i, m_i ⊙ C[cand_ic]⟩ +
/// λ(1 − 2p_ic)/N_active; through the softmax ∂L/∂z_ik = p_ik (∂L/∂p_ik − Σ_c p_ic ∂L/∂p_ic); and
/// ∂L/∂C_j = Σ_{(i,c): cand_ic = j} p_ic m_i ⊙ ∂L/∂ŵ_i, accumulated by `masked_codebook_gradient` once per
/// candidate slot c with the weights p_·c folded into ∂L/∂Ŵ.
///
/// Schedule (the authors' public code): logits start at z_ic = log(d_far / d_ic) (d: Euclidean distance to
/// candidate c, d_far the farthest candidate's; 1e-5 is added to both distances, the code adds it to d_ic only,
/// which makes z = −∞ when every candidate is exact); both parameter groups take RMSprop steps (smoothing 0.9,
/// PyTorch's ε = 1e-8) with learning rates 5e-2 for the logits and 1e-4 for the codebook; after every step a
/// sub-vector whose largest ratio exceeds 0.99 is frozen to its argmax (its logits become a one-hot times 10⁴
/// and get no more updates); once more than 99 % of the sub-vectors are frozen, the rest are frozen to their
/// argmax too and only the codebook keeps training. At the end every sub-vector takes its argmax candidate (ties:
/// the nearer one), and the codebook is rounded to its storage type. The authors' code trains the codebook only
/// after that 99 % point; here both train from the start (set `lr_codebook` = 0 for logits only).
/// The result is never worse than its initialisation: when the final exact loss tr(E H Eᵀ) is not below the
/// initial one, the initialisation is returned (`vq4dit_report::kept_initial`).
///
/// Conv layers are GEMMs here: W is rows × (reduction in the options' order) and H is over the im2col reduction
/// columns in the same order, so nothing distinguishes them from linear layers. Zero-data mode: pass H from
/// `calibration::identity` (the weight-space error) or `calibration::from_channel_stats` (H of a Gaussian input
/// with given per-channel mean and variance, e.g. from batch-norm statistics).
///
/// Bit-identical for any executor and thread count (parallel loops over fixed row blocks, sums in index order).

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
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/quant/codebook.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/detail/output_loss.hpp"
#include "mvq/quant/masked_gradient.hpp"

namespace mvq::inline v0::quant {

/// Options of `vq4dit`. Defaults are the paper's and the authors' public code's.
struct vq4dit_options {
  unsigned candidates = 2;      ///< n, candidate codewords per sub-vector (1 ≤ n ≤ K; VQ4DiT: 2)
  unsigned iters = 500;         ///< optimisation steps
  double lr_logits = 5e-2;      ///< RMSprop learning rate of the ratio logits (VQ4DiT code: 5e-2)
  double lr_codebook = 1e-4;    ///< RMSprop learning rate of the codebook (VQ4DiT code: 1e-4; 0 = frozen)
  double rms_alpha = 0.9;       ///< RMSprop smoothing constant (VQ4DiT code: 0.9)
  double rms_eps = 1e-8;        ///< RMSprop ε (PyTorch's default, which the VQ4DiT code keeps)
  double reg = 1.0;             ///< λ, weight of the ratio regulariser (VQ4DiT code: 1)
  double freeze = 0.99;         ///< freeze a sub-vector whose largest ratio exceeds this (VQ4DiT: 0.99)
  /// Not read: the steps are deterministic (full batch on H), and the k-means initialisation takes its seed
  /// from `compress_options::seed`. Present so a caller can keep one seed per run in its options.
  std::uint64_t seed = 0;
};

/// What `vq4dit` did.
struct vq4dit_report {
  double initial_loss = 0;      ///< tr(E H Eᵀ) of the initialisation
  double final_loss = 0;        ///< tr(E H Eᵀ) of the result
  std::size_t frozen = 0;       ///< sub-vectors frozen by the ratio threshold during the steps
  unsigned all_frozen_at = 0;   ///< step after which every sub-vector was hard (0: never before the end)
  bool kept_initial = false;    ///< the calibrated result was not better, the initialisation was returned
  std::vector<double> objective;  ///< L of every step (before its update)
};

/// The VQ4DiT objective of one layer for fixed candidates and masks (see the file comment), with its gradients.
/// Refers to `w` and `h` (it does not copy them): they must outlive it.
class vq4dit_objective {
public:
  /// Candidates of every sub-vector of `init` (its codebook, masks and layout) against the fp32 weights `w`
  /// (rows × cols, the matrix's reduction order) and H = `h` (cols × cols); the search runs on `ex`.
  template <class Arch = default_simd_arch, class E>
    requires Executor<std::remove_cvref_t<E>>
  [[nodiscard]] static result<vq4dit_objective> create(compressed_matrix_view const& init, matrix_view<const float> w,
                                                       std::span<const double> h, unsigned candidates, E&& ex) {
    const char* who = "vq4dit";
    if (auto r = validate(init); !r) return fail(r.error().code, std::string(who) + ": " + r.error().message);
    const auto& l = init.layout;
    if (l.rows == 0 || l.cols == 0) return fail(errc::invalid_argument, "vq4dit: the matrix is empty");
    if (candidates == 0 || candidates > l.k() || candidates > max_candidates)
      return fail(errc::invalid_argument, "vq4dit: the number of candidates must be in [1, min(K = " +
                                              std::to_string(l.k()) + ", " + std::to_string(max_candidates) +
                                              ")], got " + std::to_string(candidates));
    if (auto r = detail::check_weight(w, l.rows, l.cols, who); !r) return tl::unexpected(r.error());
    if (auto r = detail::check_gram(h, l.cols, who); !r) return tl::unexpected(r.error());
    vq4dit_objective o;
    o.layout_ = l;
    o.w_ = w;
    o.h_ = h;
    o.n_ = candidates;
    o.codes_ = detail::unpack_codes(init);
    o.masks_.assign(init.masks.begin(), init.masks.end());
    const std::size_t ns = l.subvectors(), d = l.d(), n = candidates, spr = l.subvectors_per_row();
    o.cand_.resize(ns * n);
    o.dist_.resize(ns * n);
    // The n nearest codewords under the sub-vector's mask, nearest first (ties: lower index), by insertion into a
    // sorted list of n; Euclidean distances as in the authors' code.
    auto search = [&](std::size_t i) {
      const std::uint32_t kept = o.codes_.kept[i];
      const float* x = &w(i / spr, (i % spr) * d);
      double* bd = o.dist_.data() + i * n;
      std::uint32_t* bj = o.cand_.data() + i * n;
      std::size_t have = 0;
      for (std::uint32_t j = 0; j < l.k(); ++j) {
        const float* c = init.codebook.data() + std::size_t{j} * d;
        double s = 0;
        for (std::size_t t = 0; t < d; ++t) {
          const double df = static_cast<double>(x[t]) - static_cast<double>(c[t]);
          if ((kept >> t) & 1u) s += df * df;
        }
        if (have == n && !(s < bd[n - 1])) continue;
        std::size_t at = have < n ? have++ : n - 1;
        while (at > 0 && s < bd[at - 1]) {
          bd[at] = bd[at - 1];
          bj[at] = bj[at - 1];
          --at;
        }
        bd[at] = s;
        bj[at] = j;
      }
      for (std::size_t c = 0; c < n; ++c) bd[c] = std::sqrt(bd[c]);
    };
    ex.parallel_for((ns + search_block - 1) / search_block, [&](std::size_t blk) {
      for (std::size_t i = blk * search_block; i < std::min(ns, (blk + 1) * search_block); ++i) search(i);
    });
    // One compressed-matrix view per candidate slot (indices = that slot's candidates), so the codebook
    // gradient of each slot is `masked_codebook_gradient` itself.
    o.slot_indices_.resize(n);
    for (std::size_t c = 0; c < n; ++c) {
      o.slot_indices_[c].assign(l.rows * l.index_bytes_per_row(), 0);
      std::vector<std::uint32_t> idx(spr);
      for (std::size_t r = 0; r < l.rows; ++r) {
        for (std::size_t s = 0; s < spr; ++s) idx[s] = o.cand_[(r * spr + s) * n + c];
        pack_bits(idx, l.index_bits(),
                  std::span<std::uint8_t>(o.slot_indices_[c].data() + r * l.index_bytes_per_row(),
                                          l.index_bytes_per_row()));
      }
    }
    double wn = 0;
    {
      std::vector<double> wd(l.rows * l.cols), g(l.rows * l.cols);
      for (std::size_t r = 0; r < l.rows; ++r)
        for (std::size_t c = 0; c < l.cols; ++c) wd[r * l.cols + c] = w(r, c);
      detail::right_multiply_gram<Arch>(wd, l.rows, l.cols, h, g, ex);
      wn = detail::frobenius_dot(wd, g, l.rows, l.cols, ex);
    }
    if (!(wn > 0.0))
      return fail(errc::invalid_argument, "vq4dit: the output energy tr(W H Wᵀ) is zero, nothing to calibrate");
    o.norm_ = wn;
    return o;
  }

  /// `create` on the calling thread.
  template <class Arch = default_simd_arch>
  [[nodiscard]] static result<vq4dit_objective> create(compressed_matrix_view const& init, matrix_view<const float> w,
                                                       std::span<const double> h, unsigned candidates) {
    return create<Arch>(init, w, h, candidates, serial_executor{});
  }

  [[nodiscard]] compressed_layout const& layout() const noexcept { return layout_; }
  /// n, candidates per sub-vector.
  [[nodiscard]] unsigned candidates() const noexcept { return n_; }
  [[nodiscard]] std::size_t subvectors() const noexcept { return layout_.subvectors(); }
  /// Candidate codeword indices, subvectors × n, nearest first.
  [[nodiscard]] std::span<const std::uint32_t> candidate_indices() const noexcept { return cand_; }
  /// Kept-position bitmap of every sub-vector (bit t: position t kept).
  [[nodiscard]] std::span<const std::uint32_t> kept() const noexcept { return codes_.kept; }
  /// tr(W H Wᵀ), the normaliser of the output term.
  [[nodiscard]] double normaliser() const noexcept { return norm_; }

  /// The initial logits log((d_far + 1e-5) / (d_c + 1e-5)) (see the file comment), subvectors × n.
  [[nodiscard]] std::vector<double> initial_logits() const {
    std::vector<double> z(cand_.size());
    const std::size_t n = n_;
    for (std::size_t i = 0; i < subvectors(); ++i)
      for (std::size_t c = 0; c < n; ++c) z[i * n + c] = std::log((dist_[i * n + n - 1] + 1e-5) / (dist_[i * n + c] + 1e-5));
    return z;
  }

  /// Softmax of every sub-vector's logits (max-subtracted), subvectors × n.
  [[nodiscard]] std::vector<double> ratios(std::span<const double> logits) const {
    std::vector<double> p(logits.size());
    const std::size_t n = n_;
    for (std::size_t i = 0; i < subvectors(); ++i) softmax(logits.subspan(i * n, n), std::span<double>(p).subspan(i * n, n));
    return p;
  }

  /// L at (logits, codebook) with regulariser weight `reg`; writes ∂L/∂z (subvectors × n; zero for frozen
  /// sub-vectors) and ∂L/∂C (k·d). `frozen` (one byte per sub-vector, nonzero = frozen) excludes sub-vectors from
  /// the regulariser's mean and from logit updates. Returns L; `output_term`, when given, receives its first
  /// term tr(E H Eᵀ) / tr(W H Wᵀ).
  template <class Arch = default_simd_arch, class E>
  double evaluate(std::span<const double> logits, std::span<const std::uint8_t> frozen, std::span<const double> codebook,
                  double reg, std::span<double> grad_logits, std::span<double> grad_codebook, E& ex,
                  double* output_term = nullptr) const {
    const auto& l = layout_;
    const std::size_t rows = l.rows, cols = l.cols, d = l.d(), n = n_, spr = l.subvectors_per_row();
    const std::size_t ns = subvectors(), blocks = (rows + detail::gram_row_block - 1) / detail::gram_row_block;
    const std::vector<double> p = ratios(logits);
    std::vector<double> e(rows * cols), g(rows * cols);
    // E = W − Σ_c p_c m ⊙ C[cand_c]
    ex.parallel_for(blocks, [&](std::size_t b) {
      const std::size_t r1 = std::min(rows, (b + 1) * detail::gram_row_block);
      for (std::size_t r = b * detail::gram_row_block; r < r1; ++r)
        for (std::size_t s = 0; s < spr; ++s) {
          const std::size_t i = r * spr + s;
          for (std::size_t t = 0; t < d; ++t) {
            double v = 0;
            if ((codes_.kept[i] >> t) & 1u)
              for (std::size_t c = 0; c < n; ++c) v += p[i * n + c] * codebook[std::size_t{cand_[i * n + c]} * d + t];
            e[r * cols + s * d + t] = static_cast<double>(w_(r, s * d + t)) - v;
          }
        }
    });
    detail::right_multiply_gram<Arch>(e, rows, cols, h_, g, ex);
    const double out = detail::frobenius_dot(e, g, rows, cols, ex) / norm_;
    for (double& v : g) v *= -2.0 / norm_;  // g = ∂L/∂Ŵ
    std::size_t active = 0;
    for (std::size_t i = 0; i < ns; ++i) active += frozen[i] ? 0 : 1;
    const double rw = active ? reg / static_cast<double>(active) : 0.0;
    // ∂L/∂p, then through the softmax; the regulariser's value per row block.
    std::vector<double> regpart(blocks, 0.0);
    ex.parallel_for(blocks, [&](std::size_t b) {
      const std::size_t r1 = std::min(rows, (b + 1) * detail::gram_row_block);
      double gp[max_candidates];
      double rs = 0;
      for (std::size_t r = b * detail::gram_row_block; r < r1; ++r)
        for (std::size_t s = 0; s < spr; ++s) {
          const std::size_t i = r * spr + s;
          if (frozen[i]) {
            for (std::size_t c = 0; c < n; ++c) grad_logits[i * n + c] = 0.0;
            continue;
          }
          const double* gi = g.data() + r * cols + s * d;
          double mean = 0;
          for (std::size_t c = 0; c < n; ++c) {
            const double* cw = codebook.data() + std::size_t{cand_[i * n + c]} * d;
            double v = 0;
            for (std::size_t t = 0; t < d; ++t)
              if ((codes_.kept[i] >> t) & 1u) v += gi[t] * cw[t];
            const double pc = p[i * n + c];
            gp[c] = v + rw * (1.0 - 2.0 * pc);
            rs += pc * (1.0 - pc);
            mean += pc * gp[c];
          }
          for (std::size_t c = 0; c < n; ++c) grad_logits[i * n + c] = p[i * n + c] * (gp[c] - mean);
        }
      regpart[b] = rs;
    });
    double regsum = 0;
    for (double v : regpart) regsum += v;
    // ∂L/∂C: slot by slot, ∂L/∂Ŵ weighted by that slot's ratios, through the masks.
    std::fill(grad_codebook.begin(), grad_codebook.end(), 0.0);
    std::vector<double> gc(grad_codebook.size());
    compressed_matrix_view slot{l, {}, {}, 1.0f, {}, masks_};  // the gradient reads layout, indices and masks only
    for (std::size_t c = 0; c < n; ++c) {
      ex.parallel_for(blocks, [&](std::size_t b) {
        const std::size_t r1 = std::min(rows, (b + 1) * detail::gram_row_block);
        for (std::size_t r = b * detail::gram_row_block; r < r1; ++r)
          for (std::size_t s = 0; s < spr; ++s) {
            const double pc = p[(r * spr + s) * n + c];
            for (std::size_t t = 0; t < d; ++t) e[r * cols + s * d + t] = pc * g[r * cols + s * d + t];
          }
      });
      slot.indices = slot_indices_[c];
      (void)masked_codebook_gradient(slot, matrix_view<const double>(e.data(), rows, cols), std::span<double>(gc));
      for (std::size_t i = 0; i < gc.size(); ++i) grad_codebook[i] += gc[i];
    }
    if (output_term) *output_term = out;
    return out + rw * regsum;
  }

  /// Largest candidate count `evaluate` supports.
  static constexpr unsigned max_candidates = 64;
  /// Sub-vectors per task of the candidate search (fixed: the split never depends on the thread count).
  static constexpr std::size_t search_block = 256;

private:
  static void softmax(std::span<const double> z, std::span<double> p) noexcept {
    double top = -std::numeric_limits<double>::infinity();
    for (double v : z) top = std::max(top, v);
    double s = 0;
    for (std::size_t c = 0; c < z.size(); ++c) s += (p[c] = std::exp(z[c] - top));
    for (double& v : p) v /= s;
  }

  compressed_layout layout_{};
  matrix_view<const float> w_{};
  std::span<const double> h_{};
  unsigned n_ = 0;
  detail::unpacked_codes codes_;
  std::vector<std::uint8_t> masks_;
  std::vector<std::uint32_t> cand_;
  std::vector<double> dist_;
  std::vector<std::vector<std::uint8_t>> slot_indices_;
  double norm_ = 1;
};

/// VQ4DiT calibration of one layer (see the file comment): `quant::compress` with `init` (k-means or MVQ; with
/// MVQ the N:M pruning scores |w|·√H_cc, what `compress` computes from calibration rows since ‖x_col‖₂² = H_cc),
/// then candidate assignment and codebook calibration on tr(E H Eᵀ). `w` is rows × cols in `init.order`, `h` is
/// the cols × cols Gram matrix of the layer's inputs (over the im2col columns for a conv).
/// `stats`: k, weight errors, and output_norm2 = tr(W H Wᵀ), output_err2 = tr(E H Eᵀ) of the result.
/// @tparam Arch instruction set of the translation unit (see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<compressed_matrix> vq4dit(matrix_view<const float> w, std::span<const double> h,
                                               compress_options const& init, vq4dit_options const& opt, E&& ex,
                                               layer_stats* stats = nullptr, vq4dit_report* report = nullptr) {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt.candidates == 0 || opt.candidates > vq4dit_objective::max_candidates)
    return fail(errc::invalid_argument, "vq4dit: the number of candidates must be in [1, " +
                                            std::to_string(vq4dit_objective::max_candidates) + "], got " +
                                            std::to_string(opt.candidates));
  auto finite_nonneg = [](double v) { return std::isfinite(v) && v >= 0.0; };
  if (!finite_nonneg(opt.lr_logits) || !finite_nonneg(opt.lr_codebook) || !finite_nonneg(opt.reg) ||
      !(opt.rms_alpha >= 0.0 && opt.rms_alpha < 1.0) || !(opt.rms_eps > 0.0) || !std::isfinite(opt.rms_eps) ||
      !(opt.freeze > 0.0 && opt.freeze <= 1.0))
    return fail(errc::invalid_argument, "vq4dit: learning rates and λ must be finite and ≥ 0, RMSprop α in [0, 1), "
                                        "ε finite and > 0, the freezing threshold in (0, 1]");
  if (w.rows() == 0 || w.cols() == 0) return fail(errc::invalid_argument, "vq4dit: the weight matrix is empty");
  if (auto r = detail::check_gram(h, w.cols(), "vq4dit"); !r) return tl::unexpected(r.error());
  // MVQ's activation-aware pruning from H: one calibration row √diag(H) has column norms √H_cc.
  std::vector<float> xdiag(w.cols());
  for (std::size_t c = 0; c < w.cols(); ++c) {
    const double v = h[c * w.cols() + c];
    if (v < 0.0) return fail(errc::invalid_argument, "vq4dit: H has a negative diagonal entry at " + std::to_string(c));
    xdiag[c] = static_cast<float>(std::sqrt(v));
  }
  const bool aware = init.method == method::mvq;
  auto start = compress<Arch>(w, init, aware ? matrix_view<const float>(xdiag.data(), 1, w.cols()) : matrix_view<const float>{},
                              nullptr, ex);
  if (!start) return tl::unexpected(start.error());
  auto obj = vq4dit_objective::create<Arch>(start->view(), w, h, opt.candidates, ex);
  if (!obj) return tl::unexpected(obj.error());
  const auto& l = start->layout;
  const std::size_t ns = l.subvectors(), n = opt.candidates, kd = std::size_t{l.k()} * l.d();
  const std::size_t rows = l.rows, cols = l.cols;

  std::vector<double> z = obj->initial_logits(), cb(start->codebook.begin(), start->codebook.end());
  std::vector<double> gz(z.size()), gcb(kd), vz(z.size(), 0.0), vcb(kd, 0.0);
  std::vector<std::uint8_t> frozen(ns, 0);
  vq4dit_report rep;
  // The authors' code freezes by overwriting the logits with one-hot · 10⁴, which makes the softmax exactly
  // one-hot in floating point.
  auto freeze_to = [&](std::size_t i, std::size_t c) {
    for (std::size_t t = 0; t < n; ++t) z[i * n + t] = t == c ? 1e4 : 0.0;
    frozen[i] = 1;
  };
  auto argmax = [&](std::size_t i) {
    std::size_t best = 0;
    for (std::size_t c = 1; c < n; ++c)
      if (z[i * n + c] > z[i * n + best]) best = c;
    return best;
  };
  std::size_t nfrozen = 0;
  bool all_hard = false;
  for (unsigned it = 0; it < opt.iters; ++it) {
    rep.objective.push_back(obj->template evaluate<Arch>(z, frozen, cb, opt.reg, gz, gcb, ex));
    // RMSprop (PyTorch's form: v ← αv + (1−α)g², θ ← θ − lr·g/(√v + ε)).
    const double a = opt.rms_alpha;
    if (!all_hard)
      for (std::size_t i = 0; i < z.size(); ++i) {
        if (frozen[i / n]) continue;
        vz[i] = a * vz[i] + (1 - a) * gz[i] * gz[i];
        z[i] -= opt.lr_logits * gz[i] / (std::sqrt(vz[i]) + opt.rms_eps);
      }
    if (opt.lr_codebook > 0)
      for (std::size_t i = 0; i < kd; ++i) {
        vcb[i] = a * vcb[i] + (1 - a) * gcb[i] * gcb[i];
        cb[i] -= opt.lr_codebook * gcb[i] / (std::sqrt(vcb[i]) + opt.rms_eps);
      }
    if (all_hard) continue;
    const std::vector<double> p = obj->ratios(z);
    for (std::size_t i = 0; i < ns; ++i) {
      if (frozen[i]) continue;
      const std::size_t c = argmax(i);
      if (p[i * n + c] > opt.freeze) {
        freeze_to(i, c);
        ++nfrozen;
      }
    }
    if (static_cast<double>(nfrozen) > opt.freeze * static_cast<double>(ns)) {
      for (std::size_t i = 0; i < ns; ++i)
        if (!frozen[i]) freeze_to(i, argmax(i));
      all_hard = true;
      rep.all_frozen_at = it + 1;
    }
  }
  rep.frozen = nfrozen;

  // Hard result: argmax candidates, codebook rounded to its storage type.
  compressed_matrix out = *start;
  std::vector<std::uint32_t> idx(ns);
  const auto cand = obj->candidate_indices();
  for (std::size_t i = 0; i < ns; ++i) idx[i] = cand[i * n + argmax(i)];
  for (std::size_t i = 0; i < kd; ++i) out.codebook[i] = static_cast<float>(cb[i]);
  rounded_codebook rc = round_codebook(out.codebook, l.codebook);
  if (l.codebook == codebook_dtype::i8) {
    out.codebook_i8 = std::move(rc.codes);
    out.codebook_scale = rc.scale;
  }
  detail::pack_indices(idx, out);

  std::vector<double> e(rows * cols), g(rows * cols);
  const detail::unpacked_codes u0 = detail::unpack_codes(start->view()), u1 = detail::unpack_codes(out.view());
  rep.initial_loss = detail::output_loss<Arch, float>(u0, start->codebook, w, l.d(), h, e, g, ex);
  rep.final_loss = detail::output_loss<Arch, float>(u1, out.codebook, w, l.d(), h, e, g, ex);
  if (!(rep.final_loss < rep.initial_loss)) {
    out = std::move(*start);
    rep.final_loss = rep.initial_loss;
    rep.kept_initial = true;
  }
  if (stats) {
    const std::vector<float> what = decompress(out.view());
    layer_stats st;
    st.k = l.k();
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const double wv = w(r, c), er = wv - static_cast<double>(what[r * cols + c]);
        st.weight_norm2 += wv * wv;
        st.weight_err2 += er * er;
      }
    st.output_norm2 = obj->normaliser();
    st.output_err2 = rep.final_loss;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    *stats = st;
  }
  if (report) *report = std::move(rep);
  return out;
}

/// `vq4dit` on a pool of `init.threads` threads built for this call.
template <class Arch = default_simd_arch>
[[nodiscard]] result<compressed_matrix> vq4dit(matrix_view<const float> w, std::span<const double> h,
                                               compress_options const& init, vq4dit_options const& opt = {},
                                               layer_stats* stats = nullptr, vq4dit_report* report = nullptr) {
  thread_pool pool(std::max(1u, init.threads));
  return vq4dit<Arch>(w, h, init, opt, pool, stats, report);
}

}  // namespace mvq::inline v0::quant
