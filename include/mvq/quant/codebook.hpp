#pragma once
/// @file
/// Codebook storage formats: fp32, fp16 (IEEE binary16, round to nearest even), and int8 with one symmetric
/// scale per codebook (MVQ, ASPLOS 2025, quantizes its codebooks to 8 bits). The int8 range is [−127, 127]
/// (−128 is never produced), so the grid is symmetric around zero: the core int8 conventions (`symmetric_scale`,
/// `quantize_i8`: halves away from zero), the same rounding the kernels use, effective value q·scale in fp32.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/float_formats.hpp"
#include "mvq/core/int8.hpp"

namespace mvq::inline v0::quant {

/// Rounds `values` in place to what `type` can store and returns the int8 codes and scale when `type` is i8
/// (empty codes and scale 1 otherwise). Afterwards `values` hold the effective values every consumer uses.
struct rounded_codebook {
  std::vector<std::int8_t> codes;  ///< int8 codes when i8
  float scale = 1.0f;              ///< codebook = codes · scale when i8
};

/// Rounds a codebook to its storage type (see the file comment); `values` become the effective fp32 values.
inline rounded_codebook round_codebook(std::span<float> values, codebook_dtype type) {
  rounded_codebook out;
  switch (type) {
    case codebook_dtype::f32: break;
    case codebook_dtype::f16:
      for (float& v : values) v = from_f16(to_f16(v));
      break;
    case codebook_dtype::i8: {
      out.scale = symmetric_scale(values);
      out.codes.resize(values.size());
      for (std::size_t i = 0; i < values.size(); ++i) {
        out.codes[i] = quantize_i8(values[i], out.scale);
        values[i] = static_cast<float>(out.codes[i]) * out.scale;
      }
      break;
    }
  }
  return out;
}

}  // namespace mvq::inline v0::quant
