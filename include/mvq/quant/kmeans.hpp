#pragma once
/// @file
/// k-means (Lloyd, 1982) over d-dimensional points, and the masked k-means of MVQ (ASPLOS 2025): every point
/// carries a bitmap of kept positions; the assignment uses a_i = argmin_j Σ_t m_it (w_it − c_jt)² and the update
/// c_jt = Σ_{i: a_i=j} m_it w_it / Σ_{i: a_i=j} m_it, keeping c_jt when the denominator is 0, so pruned values
/// never reach a codeword.
///
/// Determinism: the points are cut into chunks whose size depends only on (n, K, d); each chunk is assigned and
/// summed (in double, in point order) by one task, and the chunk sums are added in chunk order. The result is
/// therefore bit-identical for any executor and thread count, and for a given seed. Across architectures the
/// result can differ: with FMA (fma3<avx2>) the nearest-codeword kernel rounds once per term, without (sse2, avx2)
/// twice, so a point whose two nearest codewords are within a few ulps of each other may be assigned differently.
///
/// Every function that computes carries the architecture as a template parameter (`kmeans<Arch>`), so
/// translation units built with different instruction sets never share a definition; loops run on the `Executor`
/// passed in (one pool reused across all iterations), or on a pool of `kmeans_options::threads` built once per
/// call by the overloads without one.
///
/// Seeding: k-means++ (Arthur and Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007) run
/// on a seeded random subsample of S = min(n, max(K, min(64·K, 2^28 / (K·d)))) points, so seeding costs at most
/// ~2^28 distance terms; when S = K this is a random choice of K distinct points (Forgy).
///
/// Empty clusters: after an update, each empty cluster (in index order) splits the currently largest cluster L
/// (most points, lowest index on ties): c_j = c_L + δ, c_L = c_L − δ with δ_t = ±2^-10·max(|c_Lt|, rms)
/// (sign alternating with t, rms = root mean square of the data) and L's count shared between the two. The idea
/// of splitting the largest cluster by a small symmetric perturbation follows FAISS's Clustering.

#include <algorithm>
#include <bit>
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
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/quant/detail/random.hpp"
#include "mvq/quant/nearest.hpp"

namespace mvq::inline v0::quant {

/// Options of `kmeans` and `masked_kmeans`.
struct kmeans_options {
  std::uint32_t k = 256;  ///< number of codewords, 1 ≤ k ≤ 65536
  unsigned max_iter = 100;  ///< at most this many update steps
  double tol = 1e-4;        ///< stop when (MSE_prev − MSE) < tol · MSE_prev
  std::uint64_t seed = 0;   ///< seeding randomness
  unsigned threads = 1;     ///< threads of the pool the overloads without an executor build (0 = 1); no effect on the result
  /// Skip the full search for points that provably keep their codeword (Hamerly bounds, see `detail::lloyd`;
  /// used when K·d > 1024). The iterates are those of plain Lloyd either way; false forces the full search.
  bool bounds = true;
};

/// Output of `kmeans` / `masked_kmeans`.
struct kmeans_result {
  std::uint32_t k = 0, d = 0;
  std::vector<float> centroids;            ///< k·d, codeword j at [j·d, (j+1)·d)
  std::vector<std::uint32_t> assignments;  ///< nearest codeword of every point under the final centroids
  /// Mean squared error per element (Σ errors / (n·d), pruned positions count as zero error) after every
  /// assignment step; back() belongs to the final centroids. Exact (double) sums, not the kernel's distances.
  std::vector<double> mse_history;
  unsigned iterations = 0;        ///< update steps done
  std::uint64_t empty_splits = 0; ///< clusters re-seeded by splitting
  std::uint64_t searched = 0;     ///< points that went through the full nearest-codeword search, summed over passes
  /// Final mean squared error per element.
  [[nodiscard]] double mse() const noexcept { return mse_history.empty() ? 0.0 : mse_history.back(); }
};

namespace detail {

/// Points per work chunk: fixed by (K, d) only, large enough that the per-chunk sums (K·d doubles) stay small
/// next to the points themselves.
[[nodiscard]] inline std::size_t kmeans_chunk(std::size_t k, unsigned d) noexcept {
  return std::max<std::size_t>(std::size_t{1} << 12, std::bit_ceil(k * d * 2));
}

/// Squared distance of point x (mask m) to centroid c, in double.
template <class Arch>
[[nodiscard]] double masked_dist2(const float* x, const float* c, unsigned d, std::uint32_t m) noexcept {
  double s = 0;
  for (unsigned t = 0; t < d; ++t) {
    const double e = static_cast<double>(x[t]) - static_cast<double>(c[t]);
    s += ((m >> t) & 1u) ? e * e : 0.0;
  }
  return s;
}

/// Squared distance of point x to centroid c, in double.
template <class Arch>
[[nodiscard]] double dist2(const float* x, const float* c, unsigned d) noexcept {
  double s = 0;
  for (unsigned t = 0; t < d; ++t) {
    const double e = static_cast<double>(x[t]) - static_cast<double>(c[t]);
    s += e * e;
  }
  return s;
}

/// k-means++ seeding on a random subsample (see the file comment). `x` is n×d contiguous with pruned positions
/// zeroed; `masks` has one bitmap per point (all ones for plain k-means).
template <class Arch>
[[nodiscard]] std::vector<float> kmeans_pp_seed(const float* x, const std::uint32_t* masks, std::size_t n,
                                                       unsigned d, std::size_t k, std::uint64_t seed) {
  splitmix64 rng{seed};
  const std::size_t budget = (std::size_t{1} << 28) / (k * d);
  const std::size_t s_size = std::min(n, std::max(k, std::min(64 * k, budget)));
  // Partial Fisher–Yates: the first s_size entries of `idx` are a uniform random subset.
  std::vector<std::uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0u);
  for (std::size_t i = 0; i < s_size && s_size < n; ++i) std::swap(idx[i], idx[i + rng.below(n - i)]);
  std::vector<float> c(k * d, 0.0f);
  std::vector<double> mind(s_size, std::numeric_limits<double>::infinity());
  std::vector<char> taken(s_size, 0);
  std::size_t pick = static_cast<std::size_t>(rng.below(s_size));
  for (std::size_t j = 0; j < k; ++j) {
    if (j > 0) {
      double total = 0;
      for (std::size_t i = 0; i < s_size; ++i) total += taken[i] ? 0.0 : mind[i];
      if (j >= s_size) {
        pick = j % s_size;  // fewer points than codewords: repeat points (the splits spread them later)
      } else if (!(total > 0)) {
        pick = 0;  // all remaining points coincide with a centre: take the first untaken one
        while (taken[pick]) ++pick;
      } else {
        double u = rng.uniform() * total, acc = 0;
        pick = s_size;
        for (std::size_t i = 0; i < s_size; ++i) {
          if (taken[i]) continue;
          acc += mind[i];
          if (u < acc) {
            pick = i;
            break;
          }
        }
        if (pick == s_size) {  // u landed on the rounding slack at the end: take the last candidate
          for (std::size_t i = s_size; i-- > 0;)
            if (!taken[i] && mind[i] > 0) {
              pick = i;
              break;
            }
        }
      }
    }
    taken[pick] = 1;
    const float* p = x + std::size_t{idx[pick]} * d;
    std::copy(p, p + d, c.begin() + static_cast<std::ptrdiff_t>(j * d));
    if (j + 1 < k && j + 1 < s_size)
      for (std::size_t i = 0; i < s_size; ++i) {
        const std::size_t pi = idx[i];
        mind[i] = std::min(mind[i], masked_dist2<Arch>(x + pi * d, c.data() + j * d, d, masks[pi]));
      }
  }
  return c;
}

/// Lloyd iterations on n×d contiguous points `x` (pruned positions zeroed). `masks` is null for plain k-means.
/// Each pass is one `ex.parallel_for` over the fixed chunks.
template <class Arch, class E>
[[nodiscard]] kmeans_result lloyd(const float* x, const std::uint32_t* masks, std::size_t n, unsigned d,
                                  kmeans_options const& opt, std::vector<float> centroids, E& ex) {
  const std::size_t k = opt.k;
  const bool masked = masks != nullptr;
  kmeans_result res;
  res.k = opt.k;
  res.d = d;
  res.assignments.assign(n, 0);

  // Kept positions per point for the masked kernel, padded with d (the codebook's zero row).
  unsigned q = 0;
  std::vector<std::uint8_t> pos;
  if (masked) {
    const std::uint32_t full = d >= 32 ? ~0u : (1u << d) - 1;
    for (std::size_t i = 0; i < n; ++i) q = std::max(q, static_cast<unsigned>(std::popcount(masks[i] & full)));
    q = std::max(q, 1u);
    pos.assign(n * q, static_cast<std::uint8_t>(d));
    for (std::size_t i = 0; i < n; ++i) {
      unsigned s = 0;
      for (unsigned t = 0; t < d; ++t)
        if ((masks[i] >> t) & 1u) pos[i * q + s++] = static_cast<std::uint8_t>(t);
    }
  }

  // ‖x_i‖² (pruned positions are zero, so this is the norm of the kept part) and the data RMS.
  std::vector<double> xn2(n);
  double rms = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (unsigned t = 0; t < d; ++t) s += static_cast<double>(x[i * d + t]) * x[i * d + t];
    xn2[i] = s;
    rms += s;
  }
  rms = std::sqrt(rms / static_cast<double>(n * d));

  // Bounds (Hamerly, "Making k-means even faster", SDM 2010): lower[i] ≤ distance from x_i to every codeword
  // other than its own. A point whose own distance is below max(lower, half the gap to the nearest other
  // codeword) by more than twice the kernel's rounding error cannot change its assignment, so the kernel is
  // skipped for it; the kernel would have returned the same index, so the iterates equal plain Lloyd's.
  // The half-gap test does not hold for the masked (semi-)norm and is used for plain k-means only.
  // Below K·d ≈ 1024 the full search is so cheap that the bookkeeping costs more than it saves, and while many
  // points still move (early iterations) the bounds skip too few points to pay for themselves (measured): they
  // are switched on once fewer than 10 % of the points changed codeword in a pass. The switch depends only on
  // the data, never on the thread count.
  const bool use_bounds = opt.bounds && k * d > 1024;
  bool bounded = false, prime = false;
  std::vector<double> lower(use_bounds ? n : 0, 0.0);
  std::vector<double> delta(k, 0.0), half_gap(k, 0.0);
  double dmax1 = 0, dmax2 = 0, cmax = 0;
  std::size_t dargmax = 0;
  const bool use_gap = use_bounds && !masked && k <= 2048;
  const double err_coef = (d + 4) * 0x1p-22;  // ≥ 4× the rounding bound γ_{d+2} of the kernel's fp32 value

  const std::size_t chunk = kmeans_chunk(k, d);
  const std::size_t n_chunks = (n + chunk - 1) / chunk;
  struct partial {
    std::vector<double> sums;           // k·d
    std::vector<std::uint32_t> counts;  // k points
    std::vector<std::uint32_t> kept;    // k·d kept elements (masked)
    std::vector<double> dist;           // exact squared distance of each point to its codeword, −1 = unknown
    std::vector<std::uint32_t> need, new_a;
    std::vector<float> px, second;
    std::vector<std::uint8_t> ppos;
    double err = 0;
    std::size_t searched = 0, changed = 0;
  };
  std::vector<partial> parts(n_chunks);
  soa_codebook cb;
  std::vector<double> sums(k * d);
  std::vector<std::uint64_t> counts(k), kept(masked ? k * d : 0);
  std::vector<float> old;

  for (unsigned it = 0;; ++it) {
    cb.assign(centroids, k, d, masked);
    const bool full = !bounded, want_second = bounded || prime;
    cmax = 0;  // the largest codeword norm bounds the kernel's rounding error
    for (std::size_t j = 0; j < k; ++j) {
      double c2 = 0;
      for (unsigned t = 0; t < d; ++t) c2 += static_cast<double>(centroids[j * d + t]) * centroids[j * d + t];
      cmax = std::max(cmax, std::sqrt(c2));
    }
    ex.parallel_for(n_chunks, [&](std::size_t ci) {
      const std::size_t b = ci * chunk, e = std::min(n, b + chunk);
      partial& p = parts[ci];
      p.dist.assign(e - b, -1.0);
      p.need.clear();
      p.changed = 0;
      auto own_dist = [&](std::size_t i, std::uint32_t a) {
        const float* xi = x + i * d;
        const float* ca = centroids.data() + std::size_t{a} * d;
        if (!masked) return dist2<Arch>(xi, ca, d);
        double s2 = 0;
        for (unsigned r = 0; r < q; ++r) {
          const unsigned t = pos[i * q + r];
          const double df = t < d ? static_cast<double>(xi[t]) - ca[t] : 0.0;
          s2 += df * df;
        }
        return s2;
      };
      // 1. Which points may change their codeword? (all of them without bounds)
      for (std::size_t i = b; i < e && !full; ++i) {
        const std::uint32_t a = res.assignments[i];
        const double du2 = own_dist(i, a);
        const double l = lower[i] - (a == dargmax ? dmax2 : dmax1);
        const double z = std::max(l, half_gap[a]);
        const double rt = std::sqrt(xn2[i]) + cmax;
        const double eps = err_coef * rt * rt;
        lower[i] = l;
        if (z > 0 && du2 + 2 * eps < z * z) p.dist[i - b] = du2;
        else p.need.push_back(static_cast<std::uint32_t>(i));
      }
      // 2. Full search for those (packed so the kernel sees contiguous points, unless it is every point).
      const std::size_t m = full ? e - b : p.need.size();
      p.searched = m;
      if (m > 0) {
        p.new_a.resize(m);
        p.second.resize(want_second ? m : 0);
        const float* px = x + b * d;
        const std::uint8_t* ppos = masked ? pos.data() + b * q : nullptr;
        if (!full) {
          p.px.resize(m * d);
          if (masked) p.ppos.resize(m * q);
          for (std::size_t r = 0; r < m; ++r) {
            const std::size_t i = p.need[r];
            std::copy(x + i * d, x + (i + 1) * d, p.px.begin() + static_cast<std::ptrdiff_t>(r * d));
            if (masked)
              std::copy(pos.begin() + static_cast<std::ptrdiff_t>(i * q),
                        pos.begin() + static_cast<std::ptrdiff_t>((i + 1) * q),
                        p.ppos.begin() + static_cast<std::ptrdiff_t>(r * q));
          }
          px = p.px.data();
          ppos = p.ppos.data();
        }
        float* sec = want_second ? p.second.data() : nullptr;
        if (masked) nearest_codewords_masked<Arch>(px, ppos, q, m, cb, p.new_a.data(), sec);
        else nearest_codewords<Arch>(px, m, cb, p.new_a.data(), sec);
        for (std::size_t r = 0; r < m; ++r) {
          const std::size_t i = full ? b + r : p.need[r];
          p.changed += res.assignments[i] != p.new_a[r];
          res.assignments[i] = p.new_a[r];
          if (want_second) {
            const double rt = std::sqrt(xn2[i]) + cmax;
            const double v2 = static_cast<double>(p.second[r]) + xn2[i] - err_coef * rt * rt;
            lower[i] = v2 > 0 ? std::sqrt(v2) : 0.0;
          }
        }
      }
      // 3. Exact error and per-cluster sums, in point order.
      p.sums.assign(k * d, 0.0);
      p.counts.assign(k, 0);
      if (masked) p.kept.assign(k * d, 0);
      double err = 0;
      for (std::size_t i = b; i < e; ++i) {
        const std::uint32_t j = res.assignments[i];
        const float* xi = x + i * d;
        double* sj = p.sums.data() + std::size_t{j} * d;
        ++p.counts[j];
        double du2 = p.dist[i - b];
        if (du2 < 0) du2 = own_dist(i, j);
        err += du2;
        if (masked) {
          std::uint32_t* kj = p.kept.data() + std::size_t{j} * d;
          for (unsigned r = 0; r < q; ++r) {
            const unsigned t = pos[i * q + r];
            if (t < d) {
              sj[t] += xi[t];
              ++kj[t];
            }
          }
        } else {
          for (unsigned t = 0; t < d; ++t) sj[t] += xi[t];
        }
      }
      p.err = err;
    });
    double err = 0;
    std::size_t changed = 0;
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    std::fill(kept.begin(), kept.end(), 0);
    for (auto const& p : parts) {  // chunk order: independent of the thread count
      err += p.err;
      res.searched += p.searched;
      changed += p.changed;
      for (std::size_t i = 0; i < k * d; ++i) sums[i] += p.sums[i];
      for (std::size_t j = 0; j < k; ++j) counts[j] += p.counts[j];
      if (masked)
        for (std::size_t i = 0; i < k * d; ++i) kept[i] += p.kept[i];
    }
    const double mse = err / static_cast<double>(n * d);
    const double prev = res.mse_history.empty() ? std::numeric_limits<double>::infinity() : res.mse_history.back();
    res.mse_history.push_back(mse);
    if (it >= opt.max_iter || !(mse > 0) || (std::isfinite(prev) && prev - mse < opt.tol * prev)) break;

    // Update: the mean of each cluster (masked: per position, over the points that keep it).
    old = centroids;
    for (std::size_t j = 0; j < k; ++j) {
      if (counts[j] == 0) continue;
      for (unsigned t = 0; t < d; ++t) {
        const std::size_t jt = j * d + t;
        const double den = masked ? static_cast<double>(kept[jt]) : static_cast<double>(counts[j]);
        if (den > 0) centroids[jt] = static_cast<float>(sums[jt] / den);
      }
    }
    for (std::size_t j = 0; j < k; ++j) {
      if (counts[j] != 0) continue;
      std::size_t big = 0;
      for (std::size_t l = 1; l < k; ++l)
        if (counts[l] > counts[big]) big = l;
      if (counts[big] < 2) break;  // nothing left to split
      for (unsigned t = 0; t < d; ++t) {
        const float cl = centroids[big * d + t];
        const float dl = static_cast<float>(0x1p-10 * std::max(static_cast<double>(std::fabs(cl)), rms));
        const float sgn = (t % 2 == 0) ? 1.0f : -1.0f;
        centroids[j * d + t] = cl + sgn * dl;
        centroids[big * d + t] = cl - sgn * dl;
      }
      counts[j] = counts[big] / 2;
      counts[big] -= counts[j];
      ++res.empty_splits;
    }
    ++res.iterations;

    // The lower bounds are valid after a pass that tracked runner-ups; decide whether the next pass tracks them.
    if (want_second) bounded = true;
    prime = use_bounds && !bounded && it > 0 && changed * 10 < n;
    if (bounded) {  // codeword movements and separations for the next pass
      dmax1 = dmax2 = 0;
      dargmax = 0;
      for (std::size_t j = 0; j < k; ++j) {
        double m2 = 0;
        for (unsigned t = 0; t < d; ++t) {
          const double df = static_cast<double>(centroids[j * d + t]) - old[j * d + t];
          m2 += df * df;
        }
        delta[j] = std::sqrt(m2) * (1 + 0x1p-40);
        if (delta[j] > dmax1) {
          dmax2 = dmax1;
          dmax1 = delta[j];
          dargmax = j;
        } else if (delta[j] > dmax2) {
          dmax2 = delta[j];
        }
      }
      if (use_gap) {
        std::fill(half_gap.begin(), half_gap.end(), std::numeric_limits<double>::infinity());
        for (std::size_t j = 0; j < k; ++j)
          for (std::size_t l = j + 1; l < k; ++l) {
            const double g = std::sqrt(masked_dist2<Arch>(centroids.data() + j * d, centroids.data() + l * d, d, ~0u));
            half_gap[j] = std::min(half_gap[j], g);
            half_gap[l] = std::min(half_gap[l], g);
          }
        for (auto& g : half_gap) g = k > 1 ? 0.5 * g * (1 - 0x1p-40) : 0.0;
      }
    }
  }
  res.centroids = std::move(centroids);
  return res;
}

/// Shared argument checks; copies the points into a contiguous buffer (pruned positions zeroed when masked).
template <class Arch>
[[nodiscard]] result<std::vector<float>> kmeans_prepare(matrix_view<const float> points,
                                                               std::span<const std::uint32_t> masks, bool masked,
                                                               kmeans_options const& opt, std::span<const float> init) {
  const std::size_t n = points.rows();
  const std::size_t d = points.cols();
  if (n == 0 || d == 0) return fail(errc::invalid_argument, "k-means: no points to cluster");
  if (d > max_kmeans_dim)
    return fail(errc::unsupported, "k-means: sub-vector dimension d = " + std::to_string(d) +
                                       " is not supported (1 to " + std::to_string(max_kmeans_dim) + ")");
  if (opt.k == 0 || opt.k > 65536)
    return fail(errc::invalid_argument, "k-means: k = " + std::to_string(opt.k) + " must be between 1 and 65536");
  if (masked && masks.size() != n)
    return fail(errc::shape_mismatch, "masked k-means: " + std::to_string(masks.size()) + " masks for " +
                                          std::to_string(n) + " points");
  if (!init.empty() && init.size() != std::size_t{opt.k} * d)
    return fail(errc::shape_mismatch, "k-means: the initial centroids hold " + std::to_string(init.size()) +
                                          " values, k·d = " + std::to_string(std::size_t{opt.k} * d));
  std::vector<float> x(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    auto row = points.row(i);
    for (std::size_t t = 0; t < d; ++t) {
      const bool keep = !masked || ((masks[i] >> t) & 1u);
      if (keep && !std::isfinite(row[t]))
        return fail(errc::invalid_argument, "k-means: point " + std::to_string(i) + " has a non-finite value");
      x[i * d + t] = keep ? row[t] : 0.0f;
    }
  }
  for (float v : init)
    if (!std::isfinite(v)) return fail(errc::invalid_argument, "k-means: the initial centroids are not finite");
  return x;
}

}  // namespace detail

/// Plain k-means of the rows of `points` (n × d, 1 ≤ d ≤ 16) into opt.k codewords. `init` (k·d values) replaces
/// the k-means++ seeding when given. The passes run on `ex`; the result does not depend on it.
/// @tparam Arch xsimd architecture of the nearest-codeword search (default: see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<kmeans_result> kmeans(matrix_view<const float> points, kmeans_options const& opt,
                                           std::span<const float> init, E&& ex) {
  static_assert(Arch::supported(), "kmeans: the architecture must be enabled in this translation unit.");
  auto x = detail::kmeans_prepare<Arch>(points, {}, false, opt, init);
  if (!x) return tl::unexpected(x.error());
  const auto d = static_cast<unsigned>(points.cols());
  std::vector<float> c = init.empty() ? detail::kmeans_pp_seed<Arch>(x->data(), std::vector<std::uint32_t>(points.rows(), ~0u).data(),
                                                                     points.rows(), d, opt.k, opt.seed)
                                      : std::vector<float>(init.begin(), init.end());
  return detail::lloyd<Arch>(x->data(), nullptr, points.rows(), d, opt, std::move(c), ex);
}

/// `kmeans` on a pool of `opt.threads` threads built for this call (and reused by all its passes).
template <class Arch = default_simd_arch>
[[nodiscard]] result<kmeans_result> kmeans(matrix_view<const float> points, kmeans_options const& opt,
                                           std::span<const float> init = {}) {
  thread_pool pool(std::max(1u, opt.threads));
  return kmeans<Arch>(points, opt, init, pool);
}

/// Masked k-means (MVQ): `masks[i]` bit t set when element t of point i is kept. Pruned values are ignored
/// entirely (they may hold anything finite). `init` (k·d values) replaces the seeding when given. The passes
/// run on `ex`; the result does not depend on it.
/// @tparam Arch xsimd architecture of the nearest-codeword search (default: see core/arch.hpp)
template <class Arch = default_simd_arch, class E>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]] result<kmeans_result> masked_kmeans(matrix_view<const float> points, std::span<const std::uint32_t> masks,
                                                  kmeans_options const& opt, std::span<const float> init, E&& ex) {
  static_assert(Arch::supported(), "masked_kmeans: the architecture must be enabled in this translation unit.");
  auto x = detail::kmeans_prepare<Arch>(points, masks, true, opt, init);
  if (!x) return tl::unexpected(x.error());
  const auto d = static_cast<unsigned>(points.cols());
  std::vector<float> c = init.empty() ? detail::kmeans_pp_seed<Arch>(x->data(), masks.data(), points.rows(), d, opt.k, opt.seed)
                                      : std::vector<float>(init.begin(), init.end());
  return detail::lloyd<Arch>(x->data(), masks.data(), points.rows(), d, opt, std::move(c), ex);
}

/// `masked_kmeans` on a pool of `opt.threads` threads built for this call (and reused by all its passes).
template <class Arch = default_simd_arch>
[[nodiscard]] result<kmeans_result> masked_kmeans(matrix_view<const float> points, std::span<const std::uint32_t> masks,
                                                  kmeans_options const& opt, std::span<const float> init = {}) {
  thread_pool pool(std::max(1u, opt.threads));
  return masked_kmeans<Arch>(points, masks, opt, init, pool);
}

}  // namespace mvq::inline v0::quant
