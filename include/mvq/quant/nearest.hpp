#pragma once
/// @file
/// The fused nearest-codeword (distance + argmin) kernel of k-means, plain and masked.
///
/// Plain: argmin_j ‖x − c_j‖² = argmin_j (‖c_j‖² − 2 x·c_j), since ‖x‖² is the same for every j. ‖c_j‖² is
/// computed once per codebook. Masked (MVQ): argmin_j Σ_t m_t (x_t − c_jt)² = argmin_j Σ_{t kept} c_jt (c_jt − 2 x_t),
/// again dropping the j-independent Σ m_t x_t²; only the kept positions of x are visited, so a 2:4 sub-vector
/// costs as much as a dense one of half the width.
///
/// The codebook is stored transposed (structure of arrays: row t holds coordinate t of every codeword), so one
/// SIMD register holds one coordinate of W consecutive codewords and the loop over codewords is the vector loop;
/// d (plain) or the kept count (masked) is a template parameter, so the coordinate loop is unrolled and x lives
/// in registers. Ties go to the lowest codeword index: each lane keeps its first strict minimum, and the lanes are
/// reduced by (distance, index).

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "mvq/core/aligned_buffer.hpp"
#include "mvq/core/arch.hpp"
#include "mvq/core/error.hpp"

namespace mvq::inline v0::quant {

/// Largest sub-vector dimension the k-means kernels support.
inline constexpr unsigned max_kmeans_dim = 16;

/// A codebook prepared for the nearest-codeword kernels: K codewords of d floats, transposed and padded.
class soa_codebook {
public:
  /// Codewords are padded to a multiple of this: 4 registers of the widest arch (16 floats with AVX-512).
  static constexpr std::size_t block = 64;

  soa_codebook() = default;
  /// Prepares `k` codewords of `d` floats (`centroids` holds k·d values, codeword j at [j·d, (j+1)·d)).
  /// `masked` selects the padding that keeps padded codewords from ever winning in the masked kernel.
  soa_codebook(std::span<const float> centroids, std::size_t k, unsigned d, bool masked) { assign(centroids, k, d, masked); }

  /// Re-prepares in place (reuses the storage).
  void assign(std::span<const float> centroids, std::size_t k, unsigned d, bool masked) {
    k_ = k;
    d_ = d;
    kp_ = (k + block - 1) / block * block;
    // Row d is all zeros: padded positions of a masked point read it and add nothing.
    ct_.assign((std::size_t{d} + 1) * kp_, 0.0f);
    norms_.assign(kp_, std::numeric_limits<float>::infinity());
    for (std::size_t j = 0; j < k; ++j) {
      float n2 = 0.0f;
      for (unsigned t = 0; t < d; ++t) {
        float c = centroids[j * d + t];
        ct_[t * kp_ + j] = c;
        n2 += c * c;
      }
      norms_[j] = n2;
    }
    // Masked distances have no norm term: a padded codeword gets a huge coordinate, so c·(c − 2x) ≈ 1e36 per
    // kept position, larger than any distance of finite, reasonably scaled weights, and still finite for 16.
    if (masked)
      for (unsigned t = 0; t < d; ++t)
        for (std::size_t j = k; j < kp_; ++j) ct_[t * kp_ + j] = 1e18f;
  }

  [[nodiscard]] std::size_t k() const noexcept { return k_; }
  [[nodiscard]] std::size_t padded_k() const noexcept { return kp_; }
  [[nodiscard]] unsigned d() const noexcept { return d_; }
  /// Row t (t ≤ d; row d is zeros) of the transposed codebook, padded_k() floats.
  [[nodiscard]] const float* row(unsigned t) const noexcept { return ct_.data() + std::size_t{t} * kp_; }
  /// ‖c_j‖² for every codeword, +inf for padding.
  [[nodiscard]] const float* norms() const noexcept { return norms_.data(); }

private:
  std::size_t k_ = 0, kp_ = 0;
  unsigned d_ = 0;
  aligned_buffer<float> ct_, norms_;
};

namespace detail {

/// Lane-wise (distance, index) minimum, lowest index on equal distances. With `second`, also writes the
/// smallest value among all other codewords (each lane's runner-up and the other lanes' minima).
template <class Arch>
[[nodiscard]] inline std::uint32_t reduce_argmin(xsimd::batch<float, Arch> best, xsimd::batch<float, Arch> idx,
                                                 const xsimd::batch<float, Arch>* runner_up = nullptr,
                                                 float* second = nullptr) noexcept {
  constexpr std::size_t w = xsimd::batch<float, Arch>::size;
  alignas(64) float bv[w];
  alignas(64) float bi[w];
  best.store_aligned(bv);
  idx.store_aligned(bi);
  float mv = bv[0], mi = bi[0];
  std::size_t lane = 0;
  for (std::size_t l = 1; l < w; ++l)
    if (bv[l] < mv || (bv[l] == mv && bi[l] < mi)) {
      mv = bv[l];
      mi = bi[l];
      lane = l;
    }
  if (second) {
    alignas(64) float sv[w];
    runner_up->store_aligned(sv);
    float s2 = std::numeric_limits<float>::infinity();
    for (std::size_t l = 0; l < w; ++l) {
      s2 = std::min(s2, sv[l]);
      if (l != lane) s2 = std::min(s2, bv[l]);
    }
    *second = s2;
  }
  return static_cast<std::uint32_t>(mi);
}

/// Lanes 0, 1, ..., W−1 as floats.
template <class Arch>
[[nodiscard]] inline xsimd::batch<float, Arch> lane_iota() noexcept {
  constexpr std::size_t w = xsimd::batch<float, Arch>::size;
  alignas(64) float v[w];
  for (std::size_t l = 0; l < w; ++l) v[l] = static_cast<float>(l);
  return xsimd::batch<float, Arch>::load_aligned(v);
}

/// Codewords per unrolled step: `kmeans_unroll` registers of W lanes. Four independent accumulators per point
/// (times the points processed together) hide the FMA latency. Constants, not macros, so two translation units
/// cannot compile the same inline kernel differently.
inline constexpr std::size_t kmeans_unroll = 4;
/// Points processed together, sharing every codeword load.
inline constexpr unsigned kmeans_points = 2;

/// Nearest codeword of P points of D floats (point p at x[p·D]) under the plain squared distance. With Second,
/// also the runner-up value ‖c‖² − 2x·c over the other codewords (for the bounds of `lloyd`).
template <class Arch, unsigned D, unsigned P, bool Second = false>
inline void nearest_dense_points(const float* x, soa_codebook const& cb, std::uint32_t* out,
                                 float* second = nullptr) noexcept {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t w = b::size;
  constexpr std::size_t unroll = kmeans_unroll;
  static_assert(soa_codebook::block % (unroll * w) == 0, "the codebook padding must be a multiple of a kernel step");
  const std::size_t kp = cb.padded_k();
  const float* norms = cb.norms();
  float xm2[P][D];
  for (unsigned p = 0; p < P; ++p)
    for (unsigned t = 0; t < D; ++t) xm2[p][t] = -2.0f * x[p * D + t];  // exact: a power-of-two scaling
  b best[P], bidx[P], run[P];
  for (unsigned p = 0; p < P; ++p) {
    best[p] = b(std::numeric_limits<float>::infinity());
    bidx[p] = b(0.0f);
    run[p] = best[p];
  }
  const b iota = lane_iota<Arch>();
  for (std::size_t j = 0; j < kp; j += unroll * w) {
    b acc[P][unroll];
    for (std::size_t u = 0; u < unroll; ++u) {
      const b n = b::load_aligned(norms + j + u * w);
      for (unsigned p = 0; p < P; ++p) acc[p][u] = n;
    }
    for (unsigned t = 0; t < D; ++t) {
      const float* row = cb.row(t) + j;
      for (std::size_t u = 0; u < unroll; ++u) {
        const b c = b::load_aligned(row + u * w);
        for (unsigned p = 0; p < P; ++p) acc[p][u] = xsimd::fma(c, b(xm2[p][t]), acc[p][u]);
      }
    }
    const b base = b(static_cast<float>(j)) + iota;
    for (std::size_t u = 0; u < unroll; ++u) {  // in codeword order, strict <: the first minimum stays
      const b cur = base + b(static_cast<float>(u * w));
      for (unsigned p = 0; p < P; ++p) {
        auto lt = acc[p][u] < best[p];
        if constexpr (Second)  // selects only: GCC 12 warns falsely inside xsimd's AVX-512 min
          run[p] = xsimd::select(lt, best[p], xsimd::select(acc[p][u] < run[p], acc[p][u], run[p]));
        best[p] = xsimd::select(lt, acc[p][u], best[p]);
        bidx[p] = xsimd::select(lt, cur, bidx[p]);
      }
    }
  }
  for (unsigned p = 0; p < P; ++p)
    out[p] = Second ? reduce_argmin<Arch>(best[p], bidx[p], &run[p], second + p) : reduce_argmin<Arch>(best[p], bidx[p]);
}

/// Nearest codeword of each of `count` points of D floats (point i at x[i·D]) under the plain squared distance.
template <class Arch, unsigned D>
void nearest_dense(const float* x, std::size_t count, soa_codebook const& cb, std::uint32_t* out,
                   float* second) noexcept {
  constexpr unsigned pts = kmeans_points;
  std::size_t i = 0;
  if (second) {
    for (; i + pts <= count; i += pts) nearest_dense_points<Arch, D, pts, true>(x + i * D, cb, out + i, second + i);
    for (; i < count; ++i) nearest_dense_points<Arch, D, 1, true>(x + i * D, cb, out + i, second + i);
  } else {
    for (; i + pts <= count; i += pts) nearest_dense_points<Arch, D, pts>(x + i * D, cb, out + i);
    for (; i < count; ++i) nearest_dense_points<Arch, D, 1>(x + i * D, cb, out + i);
  }
}

/// Nearest codeword of P masked points under Σ_t m_t (x_t − c_t)²: point p has its values at x[p·d] and its
/// kept positions at pos[p·Q .. p·Q + Q), padded with d (the codebook's zero row). With Second, also the
/// runner-up value Σ_kept c(c − 2x) over the other codewords.
template <class Arch, unsigned Q, unsigned P, bool Second = false>
inline void nearest_masked_points(const float* x, unsigned d, const std::uint8_t* pos, soa_codebook const& cb,
                                  std::uint32_t* out, float* second = nullptr) noexcept {
  using b = xsimd::batch<float, Arch>;
  constexpr std::size_t w = b::size;
  constexpr std::size_t unroll = kmeans_unroll;
  const std::size_t kp = cb.padded_k();
  float x2[P][Q];
  const float* rows[P][Q];
  for (unsigned p = 0; p < P; ++p)
    for (unsigned s = 0; s < Q; ++s) {
      const unsigned t = pos[p * Q + s];
      x2[p][s] = t < d ? 2.0f * x[p * d + t] : 0.0f;
      rows[p][s] = cb.row(t);
    }
  b best[P], bidx[P], run[P];
  for (unsigned p = 0; p < P; ++p) {
    best[p] = b(std::numeric_limits<float>::infinity());
    bidx[p] = b(0.0f);
    run[p] = best[p];
  }
  const b iota = lane_iota<Arch>();
  for (std::size_t j = 0; j < kp; j += unroll * w) {
    b acc[P][unroll];
    for (unsigned p = 0; p < P; ++p)
      for (std::size_t u = 0; u < unroll; ++u) {
        const b c = b::load_aligned(rows[p][0] + j + u * w);
        acc[p][u] = c * (c - b(x2[p][0]));
      }
    for (unsigned s = 1; s < Q; ++s)
      for (unsigned p = 0; p < P; ++p)
        for (std::size_t u = 0; u < unroll; ++u) {
          const b c = b::load_aligned(rows[p][s] + j + u * w);
          acc[p][u] = xsimd::fma(c, c - b(x2[p][s]), acc[p][u]);
        }
    const b base = b(static_cast<float>(j)) + iota;
    for (std::size_t u = 0; u < unroll; ++u) {
      const b cur = base + b(static_cast<float>(u * w));
      for (unsigned p = 0; p < P; ++p) {
        auto lt = acc[p][u] < best[p];
        if constexpr (Second)  // selects only: GCC 12 warns falsely inside xsimd's AVX-512 min
          run[p] = xsimd::select(lt, best[p], xsimd::select(acc[p][u] < run[p], acc[p][u], run[p]));
        best[p] = xsimd::select(lt, acc[p][u], best[p]);
        bidx[p] = xsimd::select(lt, cur, bidx[p]);
      }
    }
  }
  for (unsigned p = 0; p < P; ++p)
    out[p] = Second ? reduce_argmin<Arch>(best[p], bidx[p], &run[p], second + p) : reduce_argmin<Arch>(best[p], bidx[p]);
}

/// Nearest codeword of each of `count` masked points (see `nearest_masked_points`).
template <class Arch, unsigned Q>
void nearest_masked(const float* x, unsigned d, const std::uint8_t* pos, std::size_t count, soa_codebook const& cb,
                    std::uint32_t* out, float* second) noexcept {
  constexpr unsigned pts = kmeans_points;
  std::size_t i = 0;
  if (second) {
    for (; i + pts <= count; i += pts)
      nearest_masked_points<Arch, Q, pts, true>(x + i * d, d, pos + i * Q, cb, out + i, second + i);
    for (; i < count; ++i) nearest_masked_points<Arch, Q, 1, true>(x + i * d, d, pos + i * Q, cb, out + i, second + i);
  } else {
    for (; i + pts <= count; i += pts) nearest_masked_points<Arch, Q, pts>(x + i * d, d, pos + i * Q, cb, out + i);
    for (; i < count; ++i) nearest_masked_points<Arch, Q, 1>(x + i * d, d, pos + i * Q, cb, out + i);
  }
}

template <class Arch, unsigned... Ds>
void nearest_dense_dispatch(unsigned d, const float* x, std::size_t count, soa_codebook const& cb, std::uint32_t* out,
                            float* second, std::integer_sequence<unsigned, Ds...>) noexcept {
  (void)((d == Ds + 1 ? (nearest_dense<Arch, Ds + 1>(x, count, cb, out, second), true) : false) || ...);
}

template <class Arch, unsigned... Qs>
void nearest_masked_dispatch(unsigned q, const float* x, unsigned d, const std::uint8_t* pos, std::size_t count,
                             soa_codebook const& cb, std::uint32_t* out, float* second,
                             std::integer_sequence<unsigned, Qs...>) noexcept {
  (void)((q == Qs + 1 ? (nearest_masked<Arch, Qs + 1>(x, d, pos, count, cb, out, second), true) : false) || ...);
}

}  // namespace detail

/// Nearest codeword index (lowest index on ties) of each of `count` points of d = cb.d() floats, point i at
/// x[i·d]. The caller guarantees 1 ≤ d ≤ max_kmeans_dim and finite inputs.
/// @tparam Arch xsimd architecture (default: the best of `simd_archs` enabled in this translation unit; never
///         AVX-512 by accident, see core/arch.hpp).
/// With `second` (count floats), also writes each point's runner-up value ‖c‖² − 2x·c over the other codewords.
template <class Arch = default_simd_arch>
void nearest_codewords(const float* x, std::size_t count, soa_codebook const& cb, std::uint32_t* out,
                       float* second = nullptr) noexcept {
  static_assert(Arch::supported(), "nearest_codewords: the architecture must be enabled in this translation unit.");
  detail::nearest_dense_dispatch<Arch>(cb.d(), x, count, cb, out, second,
                                       std::make_integer_sequence<unsigned, max_kmeans_dim>{});
}

/// Masked form: each point has q kept positions pos[i·q .. i·q + q) (padded with d), 1 ≤ q ≤ d. The codebook
/// must have been prepared with `masked = true`. With `second`, also writes each point's runner-up value
/// Σ_kept c(c − 2x) over the other codewords.
template <class Arch = default_simd_arch>
void nearest_codewords_masked(const float* x, const std::uint8_t* pos, unsigned q, std::size_t count,
                              soa_codebook const& cb, std::uint32_t* out, float* second = nullptr) noexcept {
  static_assert(Arch::supported(),
                "nearest_codewords_masked: the architecture must be enabled in this translation unit.");
  detail::nearest_masked_dispatch<Arch>(q, x, cb.d(), pos, count, cb, out, second,
                                        std::make_integer_sequence<unsigned, max_kmeans_dim>{});
}

/// Obviously-correct reference: exact squared distances in double, first minimum wins. `mask` (bit t = position
/// t kept) selects the masked distance; all ones gives the plain one.
[[nodiscard]] inline std::uint32_t nearest_reference(std::span<const float> x, std::span<const float> centroids,
                                                     std::size_t k, std::uint32_t mask = 0xffffffffu) noexcept {
  const std::size_t d = x.size();
  double best = std::numeric_limits<double>::infinity();
  std::uint32_t arg = 0;
  for (std::size_t j = 0; j < k; ++j) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t)
      if ((mask >> t) & 1u) {
        double e = static_cast<double>(x[t]) - static_cast<double>(centroids[j * d + t]);
        s += e * e;
      }
    if (s < best) {
      best = s;
      arg = static_cast<std::uint32_t>(j);
    }
  }
  return arg;
}

}  // namespace mvq::inline v0::quant
