#pragma once
/// @file
/// The int8 conventions every integer path of mvq follows (the codebook quantizer, the kernels, the emulator's
/// processing element), and the one function that quantizes a value to int8.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "mvq/version.hpp"

namespace mvq::inline v0 {

/// The int8 conventions.
///  - Symmetric range [−127, 127] for weights and activations; −128 never occurs, so |a| fits in a uint8 and the
///    `maddubs` sign trick (|x| · sign(w, x)) never saturates: a pair sum is at most 2 · 127 · 127 = 32258 < 32767.
///  - Activations X are [B, in] row-major with one fp32 scale per batch row (x ≈ q · scale); a per-tensor scale is
///    the special case of equal row scales.
///  - Weights have one fp32 scale per matrix (the int8 codebook's scale).
///  - Products are accumulated in int32; "bit-exact" means equal int32 accumulators.
///  - Quantization (`quantize_i8`): scale = max|x| / 127 over the row or matrix, q = clamp(round(x / scale), −127,
///    127) with `std::round` (halves away from zero, independent of the floating-point rounding mode); an
///    all-zero input has scale 1.
struct int8_conventions {
  using weight_type = std::int8_t;          ///< stored weight / codebook entry
  using activation_type = std::int8_t;      ///< quantized activation
  using accumulator_type = std::int32_t;    ///< dot-product accumulator
  static constexpr int qmax = 127;          ///< largest magnitude of a quantized value
  static constexpr int qmin = -127;         ///< smallest quantized value (never −128)
  /// Bits of an operand (weight or activation).
  static constexpr unsigned operand_bits = std::numeric_limits<std::uint8_t>::digits;
  /// Bits of an accumulator.
  static constexpr unsigned accumulator_bits = std::numeric_limits<std::uint32_t>::digits;
  /// Longest reduction an int32 accumulator holds without overflow: cols · 127² ≤ 2³¹ − 1.
  static constexpr std::size_t max_reduction =
      static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()) / (std::size_t{qmax} * qmax);
};

/// Symmetric int8 quantization of one value with a given scale: clamp(round(x / scale), −127, 127), halves away
/// from zero. `scale` must be positive and finite.
[[nodiscard]] inline std::int8_t quantize_i8(float x, float scale) noexcept {
  const float q = std::round(x / scale);
  return static_cast<std::int8_t>(std::clamp(q, float(int8_conventions::qmin), float(int8_conventions::qmax)));
}

/// Scale of a symmetric int8 quantization of `v`: max|v| / 127, or 1 when all values are zero, non-finite, or so
/// small that the quotient underflows.
[[nodiscard]] inline float symmetric_scale(std::span<const float> v) noexcept {
  float amax = 0.0f;
  for (float x : v) amax = std::max(amax, std::fabs(x));
  const float s = amax / float(int8_conventions::qmax);
  return s > 0.0f && std::isfinite(s) ? s : 1.0f;
}

}  // namespace mvq::inline v0
