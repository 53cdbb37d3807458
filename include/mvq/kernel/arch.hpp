#pragma once
/// @file
/// Instruction-set plumbing of the kernels, following xsimd: an architecture is an empty struct in an inheritance
/// chain (`fma3<avx2> : avx2 : avx : generic`), every function touching SIMD takes it as a template parameter, and
/// arch-specific overloads are picked with a trailing `xsimd::kernel::requires_arch<A>` argument that falls back
/// to the nearest base.

#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "mvq/core/arch.hpp"

namespace mvq::inline v0::kernel {

/// The architectures the kernels are written for, best first: core's one list (core/arch.hpp, which says why
/// AVX-512 is absent).
using kernel_archs = mvq::simd_archs;

/// Best architecture of `kernel_archs` that this translation unit is compiled for (-mavx2 -mfma: fma3<avx2>;
/// baseline x86-64: sse2).
using default_arch = mvq::default_simd_arch;

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
