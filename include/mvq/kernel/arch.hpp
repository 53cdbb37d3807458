#pragma once
/// @file
/// Instruction-set plumbing of the kernels, following xsimd: an architecture is an empty struct in an inheritance
/// chain (`fma3<avx2> : avx2 : avx : generic`), every function touching SIMD takes it as a template parameter, and
/// arch-specific overloads are picked with a trailing `xsimd::kernel::requires_arch<A>` argument that falls back
/// to the nearest base.

#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace mvq::inline v0::kernel {

/// The architectures the kernels are written for, best first. AVX-512 is deliberately absent: the kernels target
/// AVX2 + FMA (the machine class) and must not silently change code paths when a build uses
/// -march=native on an AVX-512 machine; such a build still runs the fma3<avx2> code.
using kernel_archs = xsimd::arch_list<xsimd::fma3<xsimd::avx2>, xsimd::avx2, xsimd::sse4_1, xsimd::ssse3, xsimd::sse2>;

namespace detail {
template <class L>
struct best_supported;
template <>
struct best_supported<xsimd::arch_list<>> {
  using type = xsimd::unavailable;
};
template <class A, class... As>
struct best_supported<xsimd::arch_list<A, As...>> {
  using type = std::conditional_t<A::supported(), A, typename best_supported<xsimd::arch_list<As...>>::type>;
};
}  // namespace detail

/// Best architecture of `kernel_archs` that this translation unit is compiled for (-mavx2 -mfma: fma3<avx2>;
/// baseline x86-64: sse2).
using default_arch = typename detail::best_supported<kernel_archs>::type;

/// True when `A` has AVX2 integer instructions (vpshufb on 256 bits, vpmaddubsw, vpsignb, vpermd).
template <class A>
inline constexpr bool has_avx2 = std::is_base_of_v<xsimd::avx2, A>;

/// True when `A` is one of the architectures the kernels support.
template <class A>
inline constexpr bool is_kernel_arch = kernel_archs::contains<A>();

/// Tag argument that selects an overload for `A` or the nearest base of it (xsimd's `requires_arch`).
template <class A>
using requires_arch = xsimd::kernel::requires_arch<A>;

}  // namespace mvq::inline v0::kernel
