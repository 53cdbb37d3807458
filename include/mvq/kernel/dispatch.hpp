#pragma once
/// @file
/// Opt-in runtime dispatch for engines built with baseline flags, following xsimd's dispatch recipe: the kernel
/// entry point is a functor whose call operator is a member template on the architecture, defined out of class
/// (not inline, so `extern template` really suppresses its instantiation). Each architecture is instantiated in a
/// translation unit compiled for it, and `xsimd::dispatch` picks the best one the CPU supports at run time.
///
///   // kernels_avx2.cpp, compiled with -mavx2 -mfma
///   #include <mvq/kernel/dispatch.hpp>
///   MVQ_KERNEL_INSTANTIATE(xsimd::fma3<xsimd::avx2>, mvq::kernel::vq_byte<8>)
///   // kernels_sse2.cpp, baseline flags
///   MVQ_KERNEL_INSTANTIATE(xsimd::sse2, mvq::kernel::vq_byte<8>)
///   // engine.cpp, baseline flags
///   MVQ_KERNEL_EXTERN(xsimd::fma3<xsimd::avx2>, mvq::kernel::vq_byte<8>)
///   MVQ_KERNEL_EXTERN(xsimd::sse2, mvq::kernel::vq_byte<8>)
///   auto r = mvq::kernel::dispatch_gemm<mvq::kernel::dispatch_archs>(w, x, y);
///
/// The kernel headers are included here so the instantiating translation units see every kernel.
/// Caveat shared with every multi-flag build (xsimd's recipe included): non-template inline functions that the
/// per-architecture translation unit happens to emit (standard-library helpers, error formatting) are merged by
/// the linker with the baseline copies, and either copy may win. The kernels keep all SIMD code in templates on
/// the architecture, so what can be merged is scalar code; build the per-architecture units with only the
/// instruction-set flags (-mavx2 -mfma), not -march=native, so that code stays runnable everywhere it is used.

#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_generic.hpp"
#include "mvq/kernel/vq_nibble.hpp"

namespace mvq::inline v0::kernel {

/// The architectures a dispatching engine is expected to instantiate, best first.
using dispatch_archs = xsimd::arch_list<xsimd::fma3<xsimd::avx2>, xsimd::sse2>;

/// fp32 GEMM functor for kernel policy K; `operator()<A>` is defined below and instantiated per architecture.
template <class K>
struct gemm_functor {
  /// Y = X Ŵᵀ on architecture A.
  template <class A>
  result<void> operator()(A, packed<K> const& w, matrix_view<const float> x, matrix_view<float> y) const;
};

/// int8 GEMM functor (int32 accumulators) for kernel policy K.
template <class K>
struct gemm_i8_functor {
  /// ACC = X Ŵᵀ on architecture A.
  template <class A>
  result<void> operator()(A, packed<K> const& w, activations_i8_view x, matrix_view<std::int32_t> acc) const;
};

template <class K>
template <class A>
result<void> gemm_functor<K>::operator()(A, packed<K> const& w, matrix_view<const float> x,
                                         matrix_view<float> y) const {
  return gemm<A>(w, x, y);
}

template <class K>
template <class A>
result<void> gemm_i8_functor<K>::operator()(A, packed<K> const& w, activations_i8_view x,
                                            matrix_view<std::int32_t> acc) const {
  return gemm_i8_acc<A>(w, x, acc);
}

/// Runs the fp32 GEMM on the best architecture of `Archs` the CPU supports.
template <class Archs = dispatch_archs, class K>
[[nodiscard]] result<void> dispatch_gemm(packed<K> const& w, matrix_view<const float> x, matrix_view<float> y) {
  return xsimd::dispatch<Archs>(gemm_functor<K>{})(w, x, y);
}

/// Runs the int8 GEMM on the best architecture of `Archs` the CPU supports.
template <class Archs = dispatch_archs, class K>
[[nodiscard]] result<void> dispatch_gemm_i8_acc(packed<K> const& w, activations_i8_view x,
                                                matrix_view<std::int32_t> acc) {
  return xsimd::dispatch<Archs>(gemm_i8_functor<K>{})(w, x, acc);
}

}  // namespace mvq::inline v0::kernel

#ifndef MVQ_KERNEL_INSTANTIATE
/// Explicitly instantiates the dispatched entry points of kernel policy `...` for architecture `ARCH` (put it in
/// a translation unit compiled for ARCH).
#  define MVQ_KERNEL_INSTANTIATE(ARCH, ...)                                                                     \
    template ::mvq::result<void> mvq::kernel::gemm_functor<__VA_ARGS__>::operator()<ARCH>(                      \
        ARCH, ::mvq::kernel::packed<__VA_ARGS__> const&, ::mvq::matrix_view<const float>, ::mvq::matrix_view<float>) \
        const;                                                                                                  \
    template ::mvq::result<void> mvq::kernel::gemm_i8_functor<__VA_ARGS__>::operator()<ARCH>(                   \
        ARCH, ::mvq::kernel::packed<__VA_ARGS__> const&, ::mvq::kernel::activations_i8_view,                    \
        ::mvq::matrix_view<std::int32_t>) const;
#endif

#ifndef MVQ_KERNEL_EXTERN
/// Declares the instantiations of `MVQ_KERNEL_INSTANTIATE(ARCH, ...)` in the translation units that dispatch, so
/// they never instantiate a kernel for an architecture their flags do not enable.
#  define MVQ_KERNEL_EXTERN(ARCH, ...)                                                                          \
    extern template ::mvq::result<void> mvq::kernel::gemm_functor<__VA_ARGS__>::operator()<ARCH>(               \
        ARCH, ::mvq::kernel::packed<__VA_ARGS__> const&, ::mvq::matrix_view<const float>, ::mvq::matrix_view<float>) \
        const;                                                                                                  \
    extern template ::mvq::result<void> mvq::kernel::gemm_i8_functor<__VA_ARGS__>::operator()<ARCH>(            \
        ARCH, ::mvq::kernel::packed<__VA_ARGS__> const&, ::mvq::kernel::activations_i8_view,                    \
        ::mvq::matrix_view<std::int32_t>) const;
#endif
