#pragma once
/// @file
/// One layer from dense weights to a `compressed_matrix`: plain k-means VQ, or MVQ (N:M pruning, then masked
/// k-means over the kept weights; Towards efficient DNN compression and acceleration with masked vector
/// quantization, ASPLOS 2025).
///
/// Steps: validate; (mvq) N:M-prune by |w| or |w|·‖x_col‖₂; clamp K for small layers (the largest power of two
/// ≤ n_subvectors/4, at least 2); cluster the d-wide sub-vectors (`kmeans` / `masked_kmeans`); round the
/// codebook to its storage type. MVQ quantizes the codebook after clustering; here every sub-vector is then
/// reassigned to its nearest rounded codeword (one assignment pass), which can only lower the error for the
/// stored codebook. Finally indices and masks are packed, and the statistics are computed from the stored
/// result itself (`decompress`), in double.
///
/// `compress<Arch>` carries the instruction set of its k-means as a template parameter (default: the best of
/// `simd_archs` enabled in the translation unit, see core/arch.hpp), so translation units built with different
/// -m flags never share its definition. The result is bit-identical for any executor and thread count; across
/// architectures with and without FMA it can differ on near ties (see kmeans.hpp).

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
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
#include "mvq/quant/codebook.hpp"
#include "mvq/quant/kmeans.hpp"
#include "mvq/quant/nearest.hpp"
#include "mvq/quant/nm_prune.hpp"

namespace mvq::inline v0::quant {

/// Plain VQ baseline, or N:M prune + masked k-means.
enum class method : std::uint8_t { kmeans, mvq };

/// "kmeans" or "mvq".
[[nodiscard]] constexpr const char* to_string(method m) noexcept { return m == method::kmeans ? "kmeans" : "mvq"; }

/// Options of `compress`.
struct compress_options {
  quant::method method = method::mvq;
  vq_config vq{.codebook_size = 256, .subvector_dim = 8};  ///< requested K (clamped per layer) and d (1..16)
  nm_pattern nm{};                                ///< must be non-dense for method::mvq, dense for kmeans
  reduction_order order = reduction_order::oihw;  ///< the column order of W (recorded in the layout, not applied)
  mask_encoding masks = mask_encoding::pattern;   ///< bitmap or pattern (mvq only)
  codebook_dtype codebook = codebook_dtype::f32;
  std::uint64_t seed = 0;
  unsigned threads = 1;  ///< threads of the pool the overload without an executor builds (0 = 1); no effect on the result
  unsigned max_iter = 100;
  double tol = 1e-4;
};

/// What `compress` reports about a layer.
struct layer_stats {
  std::uint32_t k = 0;                             ///< the K actually used
  double weight_norm2 = 0, weight_err2 = 0;        ///< ‖W‖², ‖W−Ŵ‖²
  std::optional<double> output_norm2, output_err2; ///< ‖XWᵀ‖², ‖X(W−Ŵ)ᵀ‖² when calibration rows are given
  double seconds = 0;                              ///< wall time of `compress`
};

/// K used for a layer of `n_subvectors` when `requested` is asked: the largest power of two ≤ n_subvectors/4
/// (at least 2) when that is smaller than `requested`.
[[nodiscard]] constexpr std::uint32_t clamped_k(std::uint32_t requested, std::size_t n_subvectors) noexcept {
  const std::size_t cap = std::max<std::size_t>(2, std::bit_floor(n_subvectors / 4));
  return static_cast<std::uint32_t>(std::min<std::size_t>(requested, cap));
}

/// Checks the options against a rows × cols weight and an n × calib_cols calibration matrix.
[[nodiscard]] inline result<void> validate(compress_options const& o, std::size_t rows, std::size_t cols,
                                           std::size_t calib_rows, std::size_t calib_cols) {
  using std::to_string;
  if (rows == 0 || cols == 0) return fail(errc::invalid_argument, "compress: the weight matrix is empty");
  if (const char* e = check(o.vq); *e) return fail(errc::invalid_argument, std::string("compress: ") + e);
  const unsigned d = o.vq.subvector_dim;
  if (d > max_kmeans_dim)
    return fail(errc::unsupported, "compress: d = " + to_string(d) + " is not supported (1 to " +
                                       to_string(max_kmeans_dim) + ")");
  if (cols % d != 0)
    return fail(errc::shape_mismatch, "compress: the row length " + to_string(cols) + " is not a multiple of d = " +
                                          to_string(d));
  if (o.method == method::mvq) {
    if (o.nm.dense())
      return fail(errc::invalid_argument, "compress: method mvq needs an N:M pattern (e.g. 2:4)");
    if (const char* e = check(o.vq, o.nm); *e) return fail(errc::unsupported, std::string("compress: ") + e);
    if (o.masks == mask_encoding::none)
      return fail(errc::invalid_argument, "compress: method mvq needs a mask encoding (bitmap or pattern)");
  } else if (!o.nm.dense()) {
    return fail(errc::invalid_argument, "compress: method kmeans takes no N:M pattern (use method mvq)");
  }
  if (calib_rows > 0 && calib_cols != cols)
    return fail(errc::shape_mismatch, "compress: calibration rows have " + to_string(calib_cols) +
                                          " columns, the weight's reduction length is " + to_string(cols));
  return {};
}

namespace detail {

/// Σ over calibration rows x and output rows r of (x·a_r)² and (x·(a_r − b_r))², in double (each calibration
/// row is one task; the per-row sums are added in row order, so the result does not depend on the thread count).
/// `b` is rows × cols contiguous.
template <class Arch, class E>
void output_energy(matrix_view<const float> x, matrix_view<const float> a, std::span<const float> b, E& ex,
                   double& a2, double& e2) {
  const std::size_t n = x.rows(), rows = a.rows(), cols = a.cols();
  std::vector<double> pa(n), pb(n);
  ex.parallel_for(n, [&](std::size_t i) {
    auto xi = x.row(i);
    double sa = 0, sb = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      auto ar = a.row(r);
      const float* br = b.data() + r * cols;
      double ya = 0, yb = 0;
      for (std::size_t c = 0; c < cols; ++c) {
        ya += static_cast<double>(xi[c]) * ar[c];
        yb += static_cast<double>(xi[c]) * (static_cast<double>(ar[c]) - br[c]);
      }
      sa += ya * ya;
      sb += yb * yb;
    }
    pa[i] = sa;
    pb[i] = sb;
  });
  a2 = e2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a2 += pa[i];
    e2 += pb[i];
  }
}

}  // namespace detail

/// Compresses W (rows × cols: rows = output channels, cols = reduction, already in the chosen reduction order).
/// `calib` (n × cols; may be empty) selects activation-aware pruning and the output statistics. The result's
/// layout has the options' (clamped) K, d, N:M, reduction order, mask encoding and codebook type. Every
/// parallel loop runs on `ex` (`opt.threads` is not read); the result does not depend on it.
/// @tparam Arch xsimd architecture of the k-means (default: see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<compressed_matrix> compress(matrix_view<const float> w, compress_options const& opt,
                                                 matrix_view<const float> calib, layer_stats* stats, E&& ex) {
  static_assert(Arch::supported(), "compress: the architecture must be enabled in this translation unit.");
  const auto t0 = std::chrono::steady_clock::now();
  if (auto r = validate(opt, w.rows(), w.cols(), calib.rows(), calib.cols()); !r) return tl::unexpected(r.error());
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (float v : w.row(r))
      if (!std::isfinite(v))
        return fail(errc::invalid_argument, "compress: row " + std::to_string(r) + " of the weight has a non-finite value");
  for (std::size_t r = 0; r < calib.rows(); ++r)
    for (float v : calib.row(r))
      if (!std::isfinite(v))
        return fail(errc::invalid_argument, "compress: calibration row " + std::to_string(r) + " has a non-finite value");

  const bool masked = opt.method == method::mvq;
  const unsigned d = opt.vq.subvector_dim;
  const std::size_t rows = w.rows(), cols = w.cols(), spr = cols / d, n = rows * spr;

  compressed_layout layout{.rows = rows,
                           .cols = cols,
                           .vq = {clamped_k(opt.vq.codebook_size, n), opt.vq.subvector_dim},
                           .nm = masked ? opt.nm : nm_pattern{},
                           .order = opt.order,
                           .masks = masked ? opt.masks : mask_encoding::none,
                           .codebook = opt.codebook};
  auto out = compressed_matrix::allocate(layout);
  if (!out) return tl::unexpected(out.error());

  // Sub-vectors as points; under MVQ each carries its kept-position bitmap.
  std::vector<std::uint32_t> sub_masks;
  std::optional<nm_mask> mask;
  if (masked) {
    auto m = nm_prune(w, opt.nm, calib);
    if (!m) return tl::unexpected(m.error());
    mask = std::move(*m);
    sub_masks.resize(n);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t s = 0; s < spr; ++s) sub_masks[r * spr + s] = mask->subvector(r, s, d);
  }
  // Rows of W are contiguous when stride == cols; otherwise copy so the n × d point view is dense.
  std::vector<float> dense_copy;
  const float* wp = w.data();
  if (w.stride() != cols) {
    dense_copy.resize(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) std::copy(w.row(r).begin(), w.row(r).end(), dense_copy.begin() + static_cast<std::ptrdiff_t>(r * cols));
    wp = dense_copy.data();
  }
  matrix_view<const float> points(wp, n, d);
  kmeans_options ko{.k = layout.k(), .max_iter = opt.max_iter, .tol = opt.tol, .seed = opt.seed, .threads = opt.threads};
  auto km = masked ? masked_kmeans<Arch>(points, sub_masks, ko, {}, ex) : kmeans<Arch>(points, ko, {}, ex);
  if (!km) return tl::unexpected(km.error());

  compressed_matrix& cm = *out;
  cm.codebook = std::move(km->centroids);
  std::vector<std::uint32_t> assign = std::move(km->assignments);
  if (opt.codebook != codebook_dtype::f32) {
    auto rc = round_codebook(cm.codebook, opt.codebook);
    cm.codebook_i8 = std::move(rc.codes);
    cm.codebook_scale = rc.scale;
    // Reassign to the nearest rounded codeword (pruned values read as zero, and the masked kernel skips them).
    soa_codebook cb(cm.codebook, layout.k(), d, masked);
    const std::size_t chunk = detail::kmeans_chunk(layout.k(), d);
    std::vector<std::uint8_t> pos;
    unsigned q = 0;
    if (masked) {
      q = static_cast<unsigned>(d * opt.nm.n / opt.nm.m);
      pos.assign(n * q, static_cast<std::uint8_t>(d));
      for (std::size_t i = 0; i < n; ++i) {
        unsigned s = 0;
        for (unsigned t = 0; t < d; ++t)
          if ((sub_masks[i] >> t) & 1u) pos[i * q + s++] = static_cast<std::uint8_t>(t);
      }
    }
    ex.parallel_for((n + chunk - 1) / chunk, [&](std::size_t ci) {
      const std::size_t b = ci * chunk, e = std::min(n, b + chunk);
      if (masked)
        nearest_codewords_masked<Arch>(wp + b * d, pos.data() + b * q, q, e - b, cb, assign.data() + b);
      else
        nearest_codewords<Arch>(wp + b * d, e - b, cb, assign.data() + b);
    });
  }

  const std::size_t ibpr = layout.index_bytes_per_row();
  for (std::size_t r = 0; r < rows; ++r)
    pack_bits(std::span<const std::uint32_t>(assign.data() + r * spr, spr), layout.index_bits(),
              std::span<std::uint8_t>(cm.indices.data() + r * ibpr, ibpr));
  if (masked) pack_masks(*mask, layout.masks, cm.masks);

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
    if (calib.rows() > 0) {
      double y2 = 0, e2 = 0;
      detail::output_energy<Arch>(calib, w, what, ex, y2, e2);
      st.output_norm2 = y2;
      st.output_err2 = e2;
    }
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    *stats = st;
  }
  return out;
}

/// `compress` on a pool of `opt.threads` threads built for this call (and reused by all its loops).
template <class Arch = default_simd_arch>
[[nodiscard]] result<compressed_matrix> compress(matrix_view<const float> w, compress_options const& opt,
                                                 matrix_view<const float> calib = {}, layer_stats* stats = nullptr) {
  thread_pool pool(std::max(1u, opt.threads));
  return compress<Arch>(w, opt, calib, stats, pool);
}

}  // namespace mvq::inline v0::quant
