#pragma once
// The kernel policies the dispatch test instantiates per architecture.
#include "mvq/kernel/dispatch.hpp"

#define MVQ_TEST_DISPATCH_KERNELS(X, ARCH) \
  X(ARCH, mvq::kernel::vq_byte<8>)         \
  X(ARCH, mvq::kernel::mvq_byte<16, mvq::sparse_2_4>)
