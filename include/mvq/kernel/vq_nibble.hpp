#pragma once
/// @file
/// VQ kernels for codebooks of at most 16 entries (4-bit codes), d ∈ {2, 4}, no mask: in-register lookup tables
/// read with `vpshufb`, after FAISS "fast scan" (André et al., VLDB 2015; FAISS `IndexPQFastScan`).
///
/// For each activation sub-vector s a 16-entry table T_s[j] = ⟨codeword j, x_s⟩ holds every partial dot product the
/// sub-vector can contribute; an output row is Σ_s T_s[code(row, s)]. Codes are packed (`pack_for`, once at load
/// time) as nibbles in blocks of 32 rows: per pair of sub-vectors (s, s+1) 32 bytes, byte i of the first half =
/// code(row i, s) | code(row i + 16, s) << 4, the second half the same for s + 1. One `vpshufb` then looks up 16
/// rows of two sub-vectors at once (the table of s in the low 128-bit lane, of s + 1 in the high lane).
/// Lookups accumulate in uint16 (even and odd bytes split) and are flushed to int32 every 256 steps, before a
/// uint16 can overflow (256 · 255 = 65280 < 65536).
///
/// Two variants:
///  - `lut_variant::exact` (int8 activations and codebook): T_s is an exact int32 and is split into byte planes,
///    T = Σ_p plane_p · 256^p, every plane unsigned except the last, which is signed (d = 2: |T| ≤ 2·127² = 32258,
///    two planes; d = 4: |T| ≤ 64516, three planes, the last ∈ {−1, 0}). The int32 accumulators equal the
///    reference int8 GEMM's bit for bit.
///  - `lut_variant::u8` (fp32 activations and codebook): one uint8 plane, T_s ≈ bias_s + Δ · q_s[j] with
///    bias_s = min_j T_s[j], Δ = max_s (max_j T_s[j] − bias_s) / 255 over the batch row,
///    q = ⌊(T − bias)·(1/Δ) + ½⌋ (round to nearest).
///    Error bound: every lookup is off by at most Δ/2, so |ŷ − y| ≤ S · Δ / 2 for S = cols/d sub-vectors (plus
///    fp32 rounding of the tables, relative 1e-6). FAISS quantizes its fast-scan tables the same way.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/simd.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// Precision of the in-register tables of `vq_nibble`.
enum class lut_variant : std::uint8_t {
  exact,  ///< int8 activations, split byte-plane tables, bit-exact int32
  u8,     ///< fp32 activations, one uint8 table per sub-vector, error ≤ S·Δ/2
};

/// Kernel policy: VQ with K ≤ 16 (nibble codes), sub-vector dimension D ∈ {2, 4}, table precision V.
template <std::uint8_t D, lut_variant V>
struct vq_nibble {
  static_assert(require_valid<(D == 2 || D == 4) ? config_error::none : config_error::policy_vq_nibble_dim>);
  /// The kernel's configuration and derived numbers (shared with the emulator's processing element).
  using traits = kernel_traits<kernel_config{.vq = {.codebook_size = 16, .subvector_dim = D}}>;
  /// True when the kernel can run a matrix of layout `l`.
  [[nodiscard]] static bool accepts(compressed_layout const& l) { return check_fits<traits>(l, "vq_nibble").has_value(); }
  /// Byte planes of a table: one for u8; two (d = 2) or three (d = 4) for exact.
  static constexpr std::size_t planes = V == lut_variant::u8 ? 1 : D == 2 ? 2 : 3;
};

namespace detail {
/// The nibble layout's numbers, read from the policy's traits (the same for every d and variant).
using nibble_traits = vq_nibble<2, lut_variant::u8>::traits;
inline constexpr std::size_t nibble_rows = nibble_traits::interleave_rows;  ///< rows of a code block
inline constexpr std::size_t nibble_half = nibble_rows / 2;                 ///< byte i holds rows i and i + half
inline constexpr std::size_t nibble_entries = nibble_traits::max_k;         ///< table entries per sub-vector
inline constexpr std::size_t nibble_pair = 2 * nibble_entries;              ///< bytes of a table plane per pair
static_assert(nibble_pair == nibble_rows && nibble_half == nibble_entries,
              "vq_nibble: a pair's codes and a pair's table plane each fill one 256-bit register");

/// Lookup steps between two uint16 → int32 flushes: 256 · 255 fits uint16, 256 · 127 fits int16.
inline constexpr std::size_t lut_flush_steps = 256;
/// How far ahead (bytes) the nibble-code stream is prefetched by default; tuned on the benchmark machine (AMD
/// EPYC, DDR). A constant, not a macro: every translation unit sees the same value, and a caller that wants
/// another distance instantiates `lut_blocks` with its own `Prefetch` argument.
inline constexpr std::size_t lut_prefetch_bytes = 2048;

/// Σ_p Σ_pairs plane_p[code] · 256^p for the 32 rows of one block, generic form. `codes`: pairs × 32 bytes;
/// `tab`: pairs × P × 32 bytes (last plane signed when `Signed`).
template <std::size_t P, bool Signed, class A>
inline void lut_block(const std::uint8_t* codes, const std::uint8_t* tab, std::size_t pairs, std::int32_t* out,
                      requires_arch<xsimd::generic>) noexcept {
  std::int32_t acc[nibble_rows] = {};
  for (std::size_t q = 0; q < pairs; ++q) {
    const std::uint8_t* c = codes + q * nibble_pair;
    const std::uint8_t* t = tab + q * P * nibble_pair;
    for (std::size_t h = 0; h < 2; ++h)      // sub-vector s (h = 0) or s + 1 (h = 1)
      for (std::size_t i = 0; i < nibble_half; ++i) {  // rows i and i + half
        const unsigned lo = c[h * nibble_half + i] & 15u, hi = c[h * nibble_half + i] >> 4;
        for (std::size_t p = 0; p < P; ++p) {
          const std::uint8_t* tp = t + p * nibble_pair + h * nibble_entries;
          const bool sgn = Signed && p == P - 1;
          const std::int32_t vlo = sgn ? std::int32_t{static_cast<std::int8_t>(tp[lo])} : std::int32_t{tp[lo]};
          const std::int32_t vhi = sgn ? std::int32_t{static_cast<std::int8_t>(tp[hi])} : std::int32_t{tp[hi]};
          acc[i] += vlo * (1 << (8 * p));
          acc[i + nibble_half] += vhi * (1 << (8 * p));
        }
      }
  }
  std::copy(acc, acc + nibble_rows, out);
}

/// NB blocks `stride` bytes apart at once (generic form: one after the other).
template <std::size_t P, bool Signed, std::size_t NB, class A>
inline void lut_blocks(const std::uint8_t* codes, std::size_t stride, const std::uint8_t* tab, std::size_t pairs,
                       std::int32_t* out, requires_arch<xsimd::generic>) noexcept {
  for (std::size_t k = 0; k < NB; ++k) lut_block<P, Signed, A>(codes + k * stride, tab, pairs, out + nibble_rows * k, A{});
}

#if XSIMD_WITH_AVX2
/// AVX2 form: NB blocks (NB independent code streams) share each table load; two `vpshufb` per pair, plane and
/// block; uint16/int16 accumulators split into even and odd bytes.
template <std::size_t P, bool Signed, std::size_t NB, class A, std::size_t Prefetch = lut_prefetch_bytes>
inline void lut_blocks(const std::uint8_t* codes, std::size_t stride, const std::uint8_t* tab, std::size_t pairs,
                       std::int32_t* out, requires_arch<xsimd::avx2>) noexcept {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  // int32 accumulators: [lo even, lo odd, hi even, hi odd] × 8 lanes (rows 2i / 2i+1, + 16 for hi)
  __m256i a32[NB][4];
  for (auto& b : a32)
    for (auto& v : b) v = _mm256_setzero_si256();
  for (std::size_t q0 = 0; q0 < pairs; q0 += lut_flush_steps) {
    const std::size_t q1 = std::min(pairs, q0 + lut_flush_steps);
    __m256i a16[NB][P][4];
    for (auto& b : a16)
      for (auto& pl : b)
        for (auto& v : pl) v = _mm256_setzero_si256();
    for (std::size_t q = q0; q < q1; ++q) {
      __m256i lo[NB], hi[NB];
      for (std::size_t k = 0; k < NB; ++k) {
        const std::uint8_t* c = codes + k * stride + q * nibble_pair;
        // software prefetch of the code streams, one 64-byte line every other pair
        if (q % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(c + Prefetch), _MM_HINT_T0);
        const __m256i cv = _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
        lo[k] = _mm256_and_si256(cv, low4);
        hi[k] = _mm256_and_si256(_mm256_srli_epi16(cv, 4), low4);
      }
      for (std::size_t p = 0; p < P; ++p) {
        const __m256i t = _mm256_load_si256(reinterpret_cast<const __m256i*>(tab + (q * P + p) * nibble_pair));
        for (std::size_t k = 0; k < NB; ++k) {
          const __m256i vlo = _mm256_shuffle_epi8(t, lo[k]);
          const __m256i vhi = _mm256_shuffle_epi8(t, hi[k]);
          auto& a = a16[k][p];
          if (Signed && p == P - 1) {
            a[0] = _mm256_add_epi16(a[0], _mm256_srai_epi16(_mm256_slli_epi16(vlo, 8), 8));
            a[1] = _mm256_add_epi16(a[1], _mm256_srai_epi16(vlo, 8));
            a[2] = _mm256_add_epi16(a[2], _mm256_srai_epi16(_mm256_slli_epi16(vhi, 8), 8));
            a[3] = _mm256_add_epi16(a[3], _mm256_srai_epi16(vhi, 8));
          } else {
            // FAISS's trick: add the whole 16-bit lane (even + 256·odd, wrapping) and the odd bytes separately;
            // even = whole − 256·odd is recovered at the flush (exact modulo 2^16; the even sum fits 16 bits)
            a[0] = _mm256_add_epi16(a[0], vlo);
            a[1] = _mm256_add_epi16(a[1], _mm256_srli_epi16(vlo, 8));
            a[2] = _mm256_add_epi16(a[2], vhi);
            a[3] = _mm256_add_epi16(a[3], _mm256_srli_epi16(vhi, 8));
          }
        }
      }
    }
    // flush: both 128-bit lanes hold the same rows (sub-vectors s and s + 1); widen and add them
    for (std::size_t k = 0; k < NB; ++k)
      for (std::size_t p = 0; p < P; ++p) {
        auto& a = a16[k][p];
        if (!(Signed && p == P - 1)) {
          a[0] = _mm256_sub_epi16(a[0], _mm256_slli_epi16(a[1], 8));
          a[2] = _mm256_sub_epi16(a[2], _mm256_slli_epi16(a[3], 8));
        }
        for (int j = 0; j < 4; ++j) {
          const __m128i l0 = _mm256_castsi256_si128(a[j]), l1 = _mm256_extracti128_si256(a[j], 1);
          __m256i w;
          if (Signed && p == P - 1)
            w = _mm256_add_epi32(_mm256_cvtepi16_epi32(l0), _mm256_cvtepi16_epi32(l1));
          else
            w = _mm256_add_epi32(_mm256_cvtepu16_epi32(l0), _mm256_cvtepu16_epi32(l1));
          a32[k][j] = _mm256_add_epi32(a32[k][j], _mm256_slli_epi32(w, static_cast<int>(8 * p)));
        }
      }
  }
  for (std::size_t k = 0; k < NB; ++k) {
    alignas(32) std::int32_t t[4][8];
    for (int j = 0; j < 4; ++j) _mm256_store_si256(reinterpret_cast<__m256i*>(t[j]), a32[k][j]);
    for (int i = 0; i < 8; ++i) {
      out[nibble_rows * k + 2 * i] = t[0][i];
      out[nibble_rows * k + 2 * i + 1] = t[1][i];
      out[nibble_rows * k + nibble_half + 2 * i] = t[2][i];
      out[nibble_rows * k + nibble_half + 2 * i + 1] = t[3][i];
    }
  }
}
#endif
}  // namespace detail

/// Packed nibble codes for `vq_nibble<D, V>`.
template <std::uint8_t D, lut_variant V>
struct packed<vq_nibble<D, V>> : detail::packed_base {
  static constexpr bool supports_f32 = V == lut_variant::u8;     ///< the u8 variant takes fp32 activations
  static constexpr bool supports_i8 = V == lut_variant::exact;   ///< the exact variant takes int8 activations
  using traits = typename vq_nibble<D, V>::traits;               ///< configuration and derived numbers
  static_assert(require_valid<simd_int8<traits>>);
  static constexpr std::size_t block = traits::interleave_rows;  ///< rows per code block
  static constexpr std::size_t planes = vq_nibble<D, V>::planes;  ///< byte planes per table
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() {
    return std::string("vq_nibble_d") + std::to_string(D) + (V == lut_variant::exact ? "_exact" : "_u8");
  }

private:
  std::size_t rows_ = 0, cols_ = 0, pairs_ = 0;
  std::uint32_t k_ = 0;
  detail::aligned_buffer<std::uint8_t> codes_;  ///< [row block][pair][32]
  std::vector<std::int8_t> cb_i8_;              ///< max_k·D (entries ≥ k are zero)
  std::vector<float> cb_f32_;                   ///< max_k·D
  detail::aligned_buffer<float> cbt_;            ///< transposed: [u][max_k], entries ≥ k repeat entry 0
  float scale_ = 1.0f;

public:
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }   ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }   ///< reduction length
  [[nodiscard]] float weight_scale() const noexcept { return scale_; }  ///< int8 codebook scale
  /// Bytes of packed codes (what a GEMV streams).
  [[nodiscard]] std::size_t bytes() const noexcept { return codes_.size(); }

  /// Packs a compressed matrix with K ≤ 16, d = D and no mask.
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    auto const& l = c.layout;
    if (auto r = check_fits<traits>(l, name()); !r) return tl::unexpected(r.error());
    if (auto r = check_sizes(c, name()); !r) return tl::unexpected(r.error());
    packed p;
    p.order_ = l.order;
    p.rows_ = l.rows;
    p.cols_ = l.cols;
    p.k_ = l.k();
    const std::size_t subvecs = l.subvectors_per_row();
    p.pairs_ = (subvecs + 1) / 2;
    const std::size_t blocks = (l.rows + block - 1) / block;
    p.codes_ = detail::aligned_buffer<std::uint8_t>(blocks * p.pairs_ * detail::nibble_pair);
    for (std::size_t r = 0; r < l.rows; ++r)
      for (std::size_t s = 0; s < subvecs; ++s) {
        const std::size_t i = r % block;
        std::uint8_t& byte = p.codes_[((r / block) * p.pairs_ + s / 2) * detail::nibble_pair + (s % 2) * detail::nibble_half + i % detail::nibble_half];
        byte = static_cast<std::uint8_t>(byte | (c.index(r, s) << (i < detail::nibble_half ? 0 : 4)));
      }
    const codebook_i8 q = weight_codebook_i8(c);
    p.scale_ = q.scale;
    p.cb_i8_.assign(traits::max_k * D, 0);
    p.cb_f32_.assign(traits::max_k * D, 0.0f);
    std::copy(q.values.begin(), q.values.end(), p.cb_i8_.begin());
    std::copy(c.codebook.begin(), c.codebook.end(), p.cb_f32_.begin());
    constexpr std::size_t kk = traits::max_k;
    p.cbt_ = detail::aligned_buffer<float>(D * kk);
    for (std::size_t j = 0; j < kk; ++j)
      for (std::size_t u = 0; u < D; ++u) p.cbt_[u * kk + j] = c.codebook[(j < l.k() ? j : 0) * D + u];
    return p;
  }

  /// Scratch of the u8 variant's fp32 path: per batch row its quantized tables (pairs × 32 bytes), step and offset,
  /// plus one row's fp32 tables and biases.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t batch, std::size_t) const noexcept {
    if constexpr (V != lut_variant::u8) return 0;
    return workspace::bytes_for<std::uint8_t>(batch * pairs_ * 2 * traits::max_k) + 2 * workspace::bytes_for<float>(batch) +
           workspace::bytes_for<float>(2 * pairs_ * traits::max_k) + workspace::bytes_for<float>(2 * pairs_);
  }
  /// Scratch of the exact variant's int8 path: per batch row its byte-plane tables (pairs × planes × 32 bytes).
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t batch, std::size_t) const noexcept {
    if constexpr (V != lut_variant::exact) return 0;
    return workspace::bytes_for<std::uint8_t>(batch * pairs_ * planes * 2 * traits::max_k);
  }

  /// Exact variant: int32 accumulators; trusts its arguments (see `can_run`), scratch from `ws`.
  template <class A, class E>
    requires(V == lut_variant::exact)
  void run_i8(matrix_view<const std::int8_t> x, matrix_view<std::int32_t> acc, E& ex, workspace ws) const {
    const std::size_t per_b = pairs_ * planes * detail::nibble_pair;
    std::span<std::uint8_t> tab = ws.take<std::uint8_t>(x.rows() * per_b);
    for (std::size_t b = 0; b < x.rows(); ++b) {
      for (std::size_t s = 0; s < 2 * pairs_; ++s)
        for (std::size_t j = 0; j < traits::max_k; ++j) {
          std::int32_t t = 0;
          if (s * D < cols_)
            for (std::size_t u = 0; u < D; ++u) t += std::int32_t{cb_i8_[j * D + u]} * std::int32_t{x(b, s * D + u)};
          for (std::size_t pl = 0; pl < planes; ++pl) {
            // planes below the last: bytes of the two's-complement value; the last: the arithmetic remainder
            const std::int32_t v = pl + 1 < planes ? (t >> (8 * pl)) & 0xff : t >> (8 * pl);
            tab[b * per_b + ((s / 2) * planes + pl) * detail::nibble_pair + (s % 2) * traits::max_k + j] = static_cast<std::uint8_t>(v & 0xff);
          }
        }
    }
    run_blocks<A>(x.rows(), tab.data(), per_b, ex, [&](std::size_t b, std::size_t r, std::int32_t v) { acc(b, r) = v; });
  }

  /// u8 variant: fp32 outputs within S·Δ/2 of the exact product; trusts its arguments (see `can_run`), scratch
  /// from `ws`.
  template <class A, class E>
    requires(V == lut_variant::u8)
  void run_f32(matrix_view<const float> x, matrix_view<float> y, E& ex, workspace ws) const {
    using batch = xsimd::batch<float, A>;
    constexpr std::size_t W = batch::size;
    static_assert(traits::max_k % W == 0, "vq_nibble: a table must be a whole number of float batches");
    const std::size_t per_b = pairs_ * detail::nibble_pair, subvecs = cols_ / D;
    std::span<std::uint8_t> tab = ws.take<std::uint8_t>(x.rows() * per_b);
    std::fill(tab.begin(), tab.end(), std::uint8_t{0});  // the padding sub-vector of an odd count looks up zeros
    std::span<float> step = ws.take<float>(x.rows()), offset = ws.take<float>(x.rows());
    std::span<float> t = ws.take<float>(2 * pairs_ * traits::max_k), lo = ws.take<float>(2 * pairs_);
    for (std::size_t b = 0; b < x.rows(); ++b) {
      const float* xr = x.row(b).data();
      float span = 0.0f;
      double bias_sum = 0.0;
      // T_s[j] for all 16 j at once from the transposed codebook (entries ≥ k repeat entry 0, so they never
      // widen the range); bias_s = min_j T_s[j]
      for (std::size_t s = 0; s < subvecs; ++s) {
        batch mn(0.0f), mx(0.0f);
        for (std::size_t h = 0; h < traits::max_k; h += W) {
          batch v(0.0f);
          for (std::size_t u = 0; u < D; ++u) v = xsimd::fma(batch::load_aligned(cbt_.data() + u * traits::max_k + h), batch(xr[s * D + u]), v);
          v.store_aligned(t.data() + s * traits::max_k + h);
          mn = h == 0 ? v : xsimd::min(mn, v);
          mx = h == 0 ? v : xsimd::max(mx, v);
        }
        alignas(64) float m[2][W];
        mn.store_aligned(m[0]);
        mx.store_aligned(m[1]);
        float l = m[0][0], hi = m[1][0];
        for (std::size_t i = 1; i < W; ++i) {
          l = std::min(l, m[0][i]);
          hi = std::max(hi, m[1][i]);
        }
        lo[s] = l;
        span = std::max(span, hi - l);
        bias_sum += l;
      }
      const float delta = span > 0.0f ? span / 255.0f : 1.0f;
      const batch inv(1.0f / delta), half(0.5f), top(255.0f);
      // q = ⌊(T − bias)·(1/Δ) + ½⌋ ∈ [0, 255]: round to nearest (halves up) of a non-negative value
      for (std::size_t s = 0; s < subvecs; ++s) {
        std::uint8_t* dst = tab.data() + b * per_b + (s / 2) * detail::nibble_pair + (s % 2) * traits::max_k;
        const batch bias(lo[s]);
        for (std::size_t h = 0; h < traits::max_k; h += W) {
          const batch q = xsimd::min(xsimd::fma(batch::load_aligned(t.data() + s * traits::max_k + h) - bias, inv, half), top);
          alignas(64) std::int32_t qi[W];
          xsimd::batch_cast<std::int32_t>(q).store_aligned(qi);
          for (std::size_t i = 0; i < W; ++i) dst[h + i] = static_cast<std::uint8_t>(qi[i]);
        }
      }
      step[b] = delta;
      offset[b] = static_cast<float>(bias_sum);
    }
    run_blocks<A>(x.rows(), tab.data(), per_b, ex,
                  [&](std::size_t b, std::size_t r, std::int32_t v) { y(b, r) = static_cast<float>(v) * step[b] + offset[b]; });
  }

private:
  template <class A, class E, class Out>
  void run_blocks(std::size_t batch, const std::uint8_t* tab, std::size_t per_b, E& ex, Out&& out) const {
    detail::for_row_blocks(ex, rows_, block, [&](std::size_t r0, std::size_t r1) {
      // four blocks at a time for one-plane tables (four code streams in flight, one table load for all;
      // measured 1.3× over one block when streaming from DRAM, bench/kernels.md);
      // three-plane tables would need more accumulators than AVX2 has registers
      constexpr std::size_t nb = planes == 1 ? 4 : 1;
      std::size_t r = r0;
      for (; r + (nb - 1) * block < r1; r += nb * block) {
        const std::uint8_t* cb = codes_.data() + (r / block) * pairs_ * detail::nibble_pair;
        const std::size_t n = std::min(nb * block, r1 - r);
        for (std::size_t b = 0; b < batch; ++b) {
          std::int32_t acc[block * nb];
          detail::lut_blocks<planes, V == lut_variant::exact, nb, A>(cb, pairs_ * detail::nibble_pair, tab + b * per_b, pairs_, acc, A{});
          for (std::size_t i = 0; i < n; ++i) out(b, r + i, acc[i]);
        }
      }
      for (; r < r1; r += block) {
        const std::uint8_t* cb = codes_.data() + (r / block) * pairs_ * detail::nibble_pair;
        const std::size_t n = std::min(block, r1 - r);
        for (std::size_t b = 0; b < batch; ++b) {
          std::int32_t acc[block];
          detail::lut_blocks<planes, V == lut_variant::exact, 1, A>(cb, pairs_ * detail::nibble_pair, tab + b * per_b, pairs_, acc, A{});
          for (std::size_t i = 0; i < n; ++i) out(b, r + i, acc[i]);
        }
      }
    });
  }
};

}  // namespace mvq::inline v0::kernel
