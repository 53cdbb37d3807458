#pragma once
/// @file
/// Aggregate header of the kernel area (runtime dispatch is opt-in: include "mvq/kernel/dispatch.hpp").

#include "mvq/kernel/any_layer.hpp"
#include "mvq/kernel/arch.hpp"
#include "mvq/kernel/conv.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/executor.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/reference.hpp"
#include "mvq/kernel/simd.hpp"
#include "mvq/kernel/traits.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_generic.hpp"
#include "mvq/kernel/vq_nibble.hpp"
