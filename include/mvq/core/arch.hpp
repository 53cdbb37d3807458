#pragma once
/// @file
/// The instruction sets the library's SIMD code is written for, and the default one of a translation unit.
/// Following xsimd, an architecture is an empty struct in an inheritance chain (`fma3<avx2> : avx2 : avx :
/// generic`) and everything touching SIMD takes it as a template parameter, so two translation units built with
/// different -m flags instantiate different functions instead of two definitions of one inline function.
///
/// AVX-512 is deliberately absent. The code targets AVX2 + FMA; a build with -march=native on an AVX-512 machine
/// must not silently run code paths the AVX2 tests never ran, so such a build still picks fma3<avx2>. (For the
/// quantizer's nearest-codeword search AVX-512 would not change any result either: every lane computes the same
/// FMA chain whatever the width, so it could only change the speed.) A caller may still name another xsimd
/// architecture explicitly where an entry point accepts it.

#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "mvq/version.hpp"

namespace mvq::inline v0 {

/// The architectures the SIMD code is written and tested for, best first.
using simd_archs = xsimd::arch_list<xsimd::fma3<xsimd::avx2>, xsimd::avx2, xsimd::sse4_1, xsimd::ssse3, xsimd::sse2>;

namespace detail {
template <class L>
struct best_supported_arch;
template <>
struct best_supported_arch<xsimd::arch_list<>> {
  using type = xsimd::unavailable;
};
template <class A, class... As>
struct best_supported_arch<xsimd::arch_list<A, As...>> {
  using type = std::conditional_t<A::supported(), A, typename best_supported_arch<xsimd::arch_list<As...>>::type>;
};
}  // namespace detail

/// Best architecture of `simd_archs` this translation unit is compiled for (-mavx2 -mfma or -march=native on an
/// AVX2/AVX-512 machine: fma3<avx2>; baseline x86-64: sse2).
using default_simd_arch = typename detail::best_supported_arch<simd_archs>::type;

/// True when `A` is one of `simd_archs`.
template <class A>
inline constexpr bool is_simd_arch = simd_archs::contains<A>();

/// True when `A` has fused multiply-add (xsimd's `fma` is then one rounding; otherwise a multiply and an add).
template <class A>
inline constexpr bool has_fma = std::is_base_of_v<xsimd::fma3<xsimd::avx2>, A> ||
                                std::is_base_of_v<xsimd::fma3<xsimd::avx>, A> ||
                                std::is_base_of_v<xsimd::fma3<xsimd::sse4_2>, A>;

}  // namespace mvq::inline v0
