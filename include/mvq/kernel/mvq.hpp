#pragma once
/// @file
/// MVQ kernels (MVQ, ASPLOS 2025: N:M mask + vector quantization): K ≤ 256 byte indices, d ∈ {4, 8, 16}, an N:M
/// mask per sub-vector. The mask selects N·d/M entries of the d-wide codeword and the matching activations, and
/// only those kept weights are multiplied (the accelerator's Q = (N/M)·d PEs per sub-vector).
///
/// Packing (`pack_for<mvq_byte<D, P>>`, once at load time): per row, one index byte and one d-bit kept-position
/// bitmap per sub-vector (pattern-encoded masks are expanded; bitmaps may keep fewer than N, down to nothing).
///  - generic path: for every set bit t of the bitmap, w = codeword[t], x = x_s[t].
///  - AVX2 fp32 path (same shapes as the int8 one): the controls become `vpermps` lane indices, 8 kept pairs per
///    FMA.
///  - AVX2 int8 path (d = 16, at most 4 kept per 8 positions, e.g. 2:4): `vpshufb` compacts the codeword and the
///    activation sub-vector with the same control (from two 256-entry tables indexed by the bitmap's bytes;
///    missing positions are 0x80 and read as zero), four sub-vectors fill one 256-bit register of kept pairs, then
///    `maddubs` + `madd`: every multiply is a kept weight.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/simd.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// Kernel policy: MVQ with K ≤ 256, sub-vector dimension D ∈ {4, 8, 16} and N:M pattern P (D a multiple of M).
template <std::uint8_t D, nm_pattern P>
struct mvq_byte {
  static_assert(require_valid<(D == 4 || D == 8 || D == 16) ? config_error::none : config_error::policy_mvq_dim>);
  static_assert(require_valid<P.dense() ? config_error::policy_mvq_sparse : config_error::none>);
  /// The kernel's configuration and derived numbers (shared with the emulator's processing element); its
  /// static_assert rejects a pattern whose M does not divide D.
  using traits = kernel_traits<kernel_config{.vq = {.codebook_size = 256, .subvector_dim = D}, .nm = P}>;
  /// True when the kernel can run a matrix of layout `l`.
  [[nodiscard]] static bool accepts(compressed_layout const& l) { return check_fits<traits>(l, "mvq_byte").has_value(); }
  /// Weights multiplied per sub-vector.
  static constexpr std::size_t kept = traits::kept_per_subvector;
};

namespace detail {
/// Compaction controls for one byte of a kept bitmap: the positions of its set bits, ascending, padded with 0x80
/// (vpshufb reads 0x80 as zero), 4 slots in bytes 0..3, bytes 4..7 zero. `High` adds 8 to every position and
/// moves the slots to bytes 4..7.
template <bool High>
inline constexpr std::array<std::uint64_t, 256> mvq_ctrl_table = [] {
  std::array<std::uint64_t, 256> t{};
  for (unsigned v = 0; v < 256; ++v) {
    std::uint64_t c = 0x80808080u;
    unsigned slot = 0;
    for (unsigned b = 0; b < 8 && slot < 4; ++b)
      if ((v >> b) & 1u) {
        c = (c & ~(std::uint64_t{0xff} << (8 * slot))) | (std::uint64_t{b + (High ? 8u : 0u)} << (8 * slot));
        ++slot;
      }
    t[v] = High ? c << 32 : c;  // the other half zero, so a low and a high entry combine with OR
  }
  return t;
}();

template <class A>
inline std::int32_t mvq16_row_i8(const std::uint8_t* idx, const std::uint8_t* bm, const std::int8_t* cb,
                                 const std::int8_t* x, std::size_t subvecs, requires_arch<xsimd::generic>) noexcept {
  std::int32_t s = 0;
  for (std::size_t v = 0; v < subvecs; ++v) {
    const std::int8_t* w = cb + std::size_t{idx[v]} * 16;
    const unsigned m = unsigned{bm[2 * v]} | unsigned{bm[2 * v + 1]} << 8;
    for (unsigned t = 0; t < 16; ++t)
      if ((m >> t) & 1u) s += std::int32_t{w[t]} * std::int32_t{x[v * 16 + t]};
  }
  return s;
}

#if XSIMD_WITH_AVX2
/// d = 16 row dot with at most 4 kept per 8 positions, AVX2 (see the file comment).
template <class A>
inline std::int32_t mvq16_row_i8(const std::uint8_t* idx, const std::uint8_t* bm, const std::int8_t* cb,
                                 const std::int8_t* x, std::size_t subvecs, requires_arch<xsimd::avx2>) noexcept {
  auto const& tl = mvq_ctrl_table<false>;
  auto const& th = mvq_ctrl_table<true>;
  const long long all80 = static_cast<long long>(0x8080808080808080ull);
  const __m256i hi80 = _mm256_setr_epi64x(0, all80, 0, all80);  // zeroes the high qword of each lane
  const __m256i lo80 = _mm256_setr_epi64x(all80, 0, all80, 0);
  __m256i acc = _mm256_setzero_si256();
  std::size_t v = 0;
  for (; v + 4 <= subvecs; v += 4) {
    const auto ctrl = [&](std::size_t u) {
      return static_cast<long long>(tl[bm[2 * (v + u)]] | th[bm[2 * (v + u) + 1]]);
    };
    // lane 0: (sub-vector v, v + 2), lane 1: (v + 1, v + 3); low qword of a lane compacts A, high qword B
    const __m256i c = _mm256_setr_epi64x(ctrl(0), ctrl(2), ctrl(1), ctrl(3));
    const __m256i ca = _mm256_or_si256(c, hi80), cbk = _mm256_or_si256(c, lo80);
    const __m256i wa = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(cb + std::size_t{idx[v + 1]} * 16),
                                           reinterpret_cast<const __m128i*>(cb + std::size_t{idx[v]} * 16));
    const __m256i wb = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(cb + std::size_t{idx[v + 3]} * 16),
                                           reinterpret_cast<const __m128i*>(cb + std::size_t{idx[v + 2]} * 16));
    const __m256i xa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + v * 16));
    const __m256i xb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + v * 16 + 32));
    // ca keeps the low qword's controls (A → bytes 0..7), cbk the high qword's (B → bytes 8..15)
    const __m256i w = _mm256_or_si256(_mm256_shuffle_epi8(wa, ca), _mm256_shuffle_epi8(wb, cbk));
    const __m256i xv = _mm256_or_si256(_mm256_shuffle_epi8(xa, ca), _mm256_shuffle_epi8(xb, cbk));
    acc = _mm256_add_epi32(acc, dot_epi8<A>(w, _mm256_abs_epi8(xv), xv));
  }
  std::int32_t s = hsum_epi32<A>(acc);
  if (v < subvecs) s += mvq16_row_i8<A>(idx + v, bm + 2 * v, cb, x + v * 16, subvecs - v, xsimd::generic{});
  return s;
}

/// d = 16 fp32 row dot with at most 4 kept per 8 positions, AVX2: the same compaction controls as the int8 path
/// become `vpermps` lane indices (positions & 7: the low byte selects from codeword floats 0..7, the high byte
/// from 8..15), missing slots (0x80) are masked to zero, one FMA per sub-vector on the 8 kept pairs.
template <class A>
inline float mvq16_row_f32(const std::uint8_t* idx, const std::uint8_t* bm, const float* cb, const float* x,
                           std::size_t subvecs) noexcept {
  auto const& tl = mvq_ctrl_table<false>;
  auto const& th = mvq_ctrl_table<true>;
  const __m256i seven = _mm256_set1_epi32(7), high = _mm256_set1_epi32(0x80);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (std::size_t v = 0; v < subvecs; ++v) {
    const __m256i c = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(tl[bm[2 * v]] | th[bm[2 * v + 1]])));
    const __m256i lane = _mm256_and_si256(c, seven);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(c, high), _mm256_setzero_si256()));
    const float* w = cb + std::size_t{idx[v]} * 16;
    const float* xs = x + v * 16;
    const __m256 wk = _mm256_blend_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(w), lane),
                                      _mm256_permutevar8x32_ps(_mm256_loadu_ps(w + 8), lane), 0xf0);
    const __m256 xk = _mm256_blend_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(xs), lane),
                                      _mm256_permutevar8x32_ps(_mm256_loadu_ps(xs + 8), lane), 0xf0);
    // both operands masked: a missing slot contributes exactly 0 even when the activation it reads is not finite
    const __m256 prod = _mm256_mul_ps(_mm256_and_ps(wk, keep), _mm256_and_ps(xk, keep));
    if (v % 2 == 0)
      acc0 = _mm256_add_ps(acc0, prod);
    else
      acc1 = _mm256_add_ps(acc1, prod);
  }
  return xsimd::hadd(xsimd::batch<float, A>(_mm256_add_ps(acc0, acc1)));
}
#endif
}  // namespace detail

/// Packed MVQ weights.
template <std::uint8_t D, nm_pattern P>
struct packed<mvq_byte<D, P>> : detail::packed_base {
  using traits = typename mvq_byte<D, P>::traits;  ///< configuration and derived numbers
  static_assert(require_valid<simd_int8<traits>>);
  static constexpr bool supports_f32 = true;  ///< fp32 codebook × fp32 activations, kept weights only
  static constexpr bool supports_i8 = true;   ///< int8 codebook × int8 activations, kept weights only
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() {
    return "mvq_d" + std::to_string(D) + "_" + std::to_string(P.n) + "_" + std::to_string(P.m);
  }

private:
  std::size_t rows_ = 0, cols_ = 0, subvecs_ = 0;
  detail::aligned_buffer<std::uint8_t> idx_;  ///< rows × subvecs
  detail::aligned_buffer<std::uint8_t> bm_;   ///< rows × subvecs × ⌈D/8⌉ bytes, little-endian bitmaps
  detail::aligned_buffer<std::int8_t> cb_i8_;  ///< max_k·D
  detail::aligned_buffer<float> cb_f32_;       ///< max_k·D
  float scale_ = 1.0f;
  static constexpr std::size_t bm_bytes = (D + 7) / 8;

public:
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }   ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }   ///< reduction length
  [[nodiscard]] float weight_scale() const noexcept { return scale_; }  ///< int8 codebook scale
  /// Bytes a GEMV streams (indices + bitmaps).
  [[nodiscard]] std::size_t bytes() const noexcept { return idx_.size() + bm_.size(); }

  /// Packs a compressed matrix with K ≤ 256, d = D and pattern P (pattern or bitmap masks).
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    auto const& l = c.layout;
    if (auto r = check_fits<traits>(l, name()); !r) return tl::unexpected(r.error());
    if (auto r = check_sizes(c, name()); !r) return tl::unexpected(r.error());
    packed p;
    p.order_ = l.order;
    p.rows_ = l.rows;
    p.cols_ = l.cols;
    p.subvecs_ = l.subvectors_per_row();
    p.idx_ = detail::aligned_buffer<std::uint8_t>(l.rows * p.subvecs_);
    p.bm_ = detail::aligned_buffer<std::uint8_t>(l.rows * p.subvecs_ * bm_bytes);
    constexpr std::size_t groups = D / P.m;
    for (std::size_t r = 0; r < l.rows; ++r)
      for (std::size_t s = 0; s < p.subvecs_; ++s) {
        p.idx_[r * p.subvecs_ + s] = static_cast<std::uint8_t>(c.index(r, s));
        std::uint32_t bm = 0;
        for (std::size_t g = 0; g < groups; ++g)
          bm |= (c.group_bitmap(r, s * groups + g) & ((1u << P.m) - 1)) << (g * P.m);
        for (std::size_t b = 0; b < bm_bytes; ++b)
          p.bm_[(r * p.subvecs_ + s) * bm_bytes + b] = static_cast<std::uint8_t>(bm >> (8 * b));
      }
    const codebook_i8 q = weight_codebook_i8(c);
    p.scale_ = q.scale;
    p.cb_i8_ = detail::aligned_buffer<std::int8_t>(traits::max_k * D);
    p.cb_f32_ = detail::aligned_buffer<float>(traits::max_k * D);
    std::copy(q.values.begin(), q.values.end(), p.cb_i8_.data());
    std::copy(c.codebook.begin(), c.codebook.end(), p.cb_f32_.data());
    return p;
  }

  /// No scratch: indices and bitmaps are read in place.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t, std::size_t) const noexcept { return 0; }
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t, std::size_t) const noexcept { return 0; }

  /// Y = X Ŵᵀ on the fp32 codebook, kept weights only; trusts its arguments (see `can_run`).
  template <class A, class E>
  void run_f32(matrix_view<const float> x, matrix_view<float> y, E& ex, workspace) const {
    detail::for_row_blocks(ex, rows_, 4, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t b = 0; b < x.rows(); ++b) {
          const float* xr = x.row(b).data();
#if XSIMD_WITH_AVX2
          if constexpr (has_avx2<A> && D == 16 && P.m <= 8 && 2 * P.n <= P.m) {
            y(b, r) = detail::mvq16_row_f32<A>(idx_.data() + r * subvecs_, bm_.data() + r * subvecs_ * bm_bytes,
                                               cb_f32_.data(), xr, subvecs_);
            continue;
          }
#endif
          float s = 0.0f;
          for (std::size_t v = 0; v < subvecs_; ++v) {
            const float* w = cb_f32_.data() + std::size_t{idx_[r * subvecs_ + v]} * D;
            const std::uint32_t m = bitmap(r, v);
            // visit only the kept positions: countr_zero walks the set bits
            for (std::uint32_t bits = m; bits; bits &= bits - 1) {
              const unsigned t = static_cast<unsigned>(std::countr_zero(bits));
              s += w[t] * xr[v * D + t];
            }
          }
          y(b, r) = s;
        }
    });
  }

  /// int32 accumulators on the int8 codebook, kept weights only; trusts its arguments (see `can_run`).
  template <class A, class E>
  void run_i8(matrix_view<const std::int8_t> x, matrix_view<std::int32_t> acc, E& ex, workspace) const {
    detail::for_row_blocks(ex, rows_, 4, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t b = 0; b < x.rows(); ++b) {
          const std::int8_t* xr = x.row(b).data();
          if constexpr (D == 16 && P.m <= 8 && 2 * P.n <= P.m) {
            acc(b, r) = detail::mvq16_row_i8<A>(idx_.data() + r * subvecs_, bm_.data() + r * subvecs_ * bm_bytes,
                                                cb_i8_.data(), xr, subvecs_, A{});
          } else {
            std::int32_t s = 0;
            for (std::size_t v = 0; v < subvecs_; ++v) {
              const std::int8_t* w = cb_i8_.data() + std::size_t{idx_[r * subvecs_ + v]} * D;
              for (std::uint32_t bits = bitmap(r, v); bits; bits &= bits - 1) {
                const unsigned t = static_cast<unsigned>(std::countr_zero(bits));
                s += std::int32_t{w[t]} * std::int32_t{xr[v * D + t]};
              }
            }
            acc(b, r) = s;
          }
        }
    });
  }

private:
  [[nodiscard]] std::uint32_t bitmap(std::size_t r, std::size_t v) const noexcept {
    std::uint32_t m = 0;
    for (std::size_t b = 0; b < bm_bytes; ++b) m |= std::uint32_t{bm_[(r * subvecs_ + v) * bm_bytes + b]} << (8 * b);
    return m;
  }
};

}  // namespace mvq::inline v0::kernel
