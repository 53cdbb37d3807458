#pragma once
/// @file
/// Small SIMD building blocks shared by the kernels. Each has an AVX2 overload written with intrinsics (xsimd 8.1
/// has no `maddubs`, no runtime byte shuffle) and a generic overload that passes the same tests; overloads are
/// chosen by xsimd's `requires_arch` tag, so `fma3<avx2>` picks the AVX2 one and `sse2` the generic one.

#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "mvq/kernel/arch.hpp"

#if XSIMD_WITH_AVX2
#  include <immintrin.h>
#endif

namespace mvq::inline v0::kernel::detail {

/// R int8 dot products sharing one activation vector: out[i] = Σ_c w[i][c] · x[c] (int32), generic form.
template <std::size_t R, class A>
inline void dot_rows_i8(const std::int8_t* const* w, const std::int8_t* x, std::size_t n, std::int32_t* out,
                        requires_arch<xsimd::generic>) noexcept {
  for (std::size_t i = 0; i < R; ++i) {
    std::int32_t s = 0;
    for (std::size_t c = 0; c < n; ++c) s += std::int32_t{w[i][c]} * std::int32_t{x[c]};
    out[i] = s;
  }
}

#if XSIMD_WITH_AVX2
/// Sum of the eight int32 lanes. (Templates on the arch, like every SIMD helper: no non-template inline function
/// whose code depends on the target flags, so TUs built for different instruction sets never share a definition.)
template <class A>
inline std::int32_t hsum_epi32(__m256i v) noexcept {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

/// int8 × int8 → int32 lanes: maddubs(|x|, sign(w, x)) then madd with ones. Exact for values in [−127, 127]
/// (pair sums ≤ 32258; the llama.cpp / FBGEMM sign trick). Each int32 lane holds the dot of 4 adjacent bytes.
template <class A>
inline __m256i dot_epi8(__m256i w, __m256i x_abs, __m256i x) noexcept {
  const __m256i p = _mm256_maddubs_epi16(x_abs, _mm256_sign_epi8(w, x));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/// AVX2 form of `dot_rows_i8`: 32 columns per step, a scalar tail.
template <std::size_t R, class A>
inline void dot_rows_i8(const std::int8_t* const* w, const std::int8_t* x, std::size_t n, std::int32_t* out,
                        requires_arch<xsimd::avx2>) noexcept {
  __m256i acc[R];
  for (std::size_t i = 0; i < R; ++i) acc[i] = _mm256_setzero_si256();
  std::size_t c = 0;
  for (; c + 32 <= n; c += 32) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c));
    const __m256i xa = _mm256_abs_epi8(xv);
    for (std::size_t i = 0; i < R; ++i) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i] + c));
      acc[i] = _mm256_add_epi32(acc[i], dot_epi8<A>(wv, xa, xv));
    }
  }
  for (std::size_t i = 0; i < R; ++i) {
    std::int32_t s = hsum_epi32<A>(acc[i]);
    for (std::size_t t = c; t < n; ++t) s += std::int32_t{w[i][t]} * std::int32_t{x[t]};
    out[i] = s;
  }
}
#endif

/// R × 2 int8 dot products: rows w[0..R) against two activation vectors x0, x1 (out0[i], out1[i]), generic form.
template <std::size_t R, class A>
inline void dot_rows2_i8(const std::int8_t* const* w, const std::int8_t* x0, const std::int8_t* x1, std::size_t n,
                         std::int32_t* out0, std::int32_t* out1, requires_arch<xsimd::generic>) noexcept {
  dot_rows_i8<R, A>(w, x0, n, out0, xsimd::generic{});
  dot_rows_i8<R, A>(w, x1, n, out1, xsimd::generic{});
}

#if XSIMD_WITH_AVX2
/// AVX2 form of `dot_rows2_i8`: register blocking R rows × 2 activation rows, so every weight load serves two
/// products (the GEMM micro-kernel of the batched paths).
template <std::size_t R, class A>
inline void dot_rows2_i8(const std::int8_t* const* w, const std::int8_t* x0, const std::int8_t* x1, std::size_t n,
                         std::int32_t* out0, std::int32_t* out1, requires_arch<xsimd::avx2>) noexcept {
  __m256i a0[R], a1[R];
  for (std::size_t i = 0; i < R; ++i) a0[i] = a1[i] = _mm256_setzero_si256();
  std::size_t c = 0;
  for (; c + 32 <= n; c += 32) {
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0 + c));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1 + c));
    const __m256i b0 = _mm256_abs_epi8(v0), b1 = _mm256_abs_epi8(v1);
    for (std::size_t i = 0; i < R; ++i) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i] + c));
      a0[i] = _mm256_add_epi32(a0[i], dot_epi8<A>(wv, b0, v0));
      a1[i] = _mm256_add_epi32(a1[i], dot_epi8<A>(wv, b1, v1));
    }
  }
  for (std::size_t i = 0; i < R; ++i) {
    std::int32_t s0 = hsum_epi32<A>(a0[i]), s1 = hsum_epi32<A>(a1[i]);
    for (std::size_t t = c; t < n; ++t) {
      s0 += std::int32_t{w[i][t]} * std::int32_t{x0[t]};
      s1 += std::int32_t{w[i][t]} * std::int32_t{x1[t]};
    }
    out0[i] = s0;
    out1[i] = s1;
  }
}
#endif

/// R fp32 dot products sharing one activation vector, with xsimd batches (any architecture).
template <std::size_t R, class A>
inline void dot_rows_f32(const float* const* w, const float* x, std::size_t n, float* out) noexcept {
  using batch = xsimd::batch<float, A>;
  constexpr std::size_t W = batch::size;
  batch acc[R];
  for (std::size_t i = 0; i < R; ++i) acc[i] = batch(0.0f);
  std::size_t c = 0;
  for (; c + W <= n; c += W) {
    const batch xv = batch::load_unaligned(x + c);
    for (std::size_t i = 0; i < R; ++i) acc[i] = xsimd::fma(batch::load_unaligned(w[i] + c), xv, acc[i]);
  }
  for (std::size_t i = 0; i < R; ++i) {
    float s = xsimd::hadd(acc[i]);
    for (std::size_t t = c; t < n; ++t) s += w[i][t] * x[t];
    out[i] = s;
  }
}

}  // namespace mvq::inline v0::kernel::detail
