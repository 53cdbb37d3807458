#pragma once
/// @file
/// Aggregate header of the core area.

#include "mvq/core/aligned_buffer.hpp"
#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/float_formats.hpp"
#include "mvq/core/matrix_view.hpp"
