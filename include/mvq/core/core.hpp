#pragma once
/// @file
/// Aggregate header of the core area.

#include "mvq/core/aligned_buffer.hpp"
#include "mvq/core/arch.hpp"
#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/float_formats.hpp"
#include "mvq/core/int8.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"
#include "mvq/core/scalar_matrix.hpp"
#include "mvq/core/sentences.hpp"
