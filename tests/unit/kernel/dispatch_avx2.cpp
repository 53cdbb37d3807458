// Compiled with -mavx2 -mfma: the AVX2 instantiations of the dispatched kernels.
#include "dispatch_kernels.hpp"

MVQ_TEST_DISPATCH_KERNELS(MVQ_KERNEL_INSTANTIATE, xsimd::fma3<xsimd::avx2>)
