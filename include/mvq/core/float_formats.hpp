#pragma once
/// @file
/// Conversions between fp32 and the narrow float formats of safetensors: IEEE fp16, bfloat16, and the OCP
/// fp8 formats E4M3 (no infinities, 0x7F/0xFF are NaN, max 448) and E5M2 (IEEE-like, max 57344).
/// Narrowing rounds to nearest, ties to even.

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "mvq/version.hpp"

namespace mvq::inline v0 {

namespace detail {

/// Rounds a finite fp32 `f` to a float format with `mant` mantissa bits and exponent bias `bias`, returning
/// sign-less bits (exponent << mant | mantissa). `max_bits` is the largest finite encoding (saturation
/// is the caller's choice).
[[nodiscard]] constexpr std::uint32_t round_to_narrow(float f, unsigned mant, int bias, std::uint32_t inf_bits,
                                                      bool saturate, std::uint32_t max_bits) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f) & 0x7fffffffu;
  int exp = static_cast<int>(x >> 23) - 127 + bias;  // target biased exponent
  std::uint32_t m = x & 0x7fffffu;
  if ((x >> 23) == 0) return 0;  // fp32 subnormals are far below every narrow format's range
  std::uint32_t full = m | 0x800000u;   // 24-bit significand
  unsigned shift;                        // bits dropped from the 24-bit significand
  std::uint32_t e_field;
  if (exp >= 1) {
    shift = 23 - mant;
    e_field = static_cast<std::uint32_t>(exp);
  } else {
    // subnormal in the target: significand shifted right by (1 - exp) more
    unsigned extra = static_cast<unsigned>(1 - exp);
    if (extra > 24) return 0;
    shift = 23 - mant + extra;
    e_field = 0;
  }
  std::uint32_t q;
  if (shift >= 32) {
    q = 0;
  } else {
    q = full >> shift;
    std::uint32_t rem = full & ((1u << shift) - 1);
    std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
  }
  std::uint32_t bits;
  if (e_field == 0) {
    bits = q;  // may carry into the exponent field: that is the correct smallest normal
  } else {
    bits = (e_field << mant) + (q - (1u << mant));  // q includes the hidden bit; carry bumps the exponent
  }
  if (bits > max_bits) return saturate ? max_bits : inf_bits;
  return bits;
}

}  // namespace detail

/// fp32 → IEEE binary16 bits.
[[nodiscard]] constexpr std::uint16_t to_f16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  if ((x & 0x7f800000u) == 0x7f800000u)  // inf or NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u | ((x & 0x7fffffu) ? 0x200u : 0u));
  return static_cast<std::uint16_t>(sign | detail::round_to_narrow(f, 10, 15, 0x7c00u, false, 0x7bffu));
}

/// IEEE binary16 bits → fp32 (exact).
[[nodiscard]] constexpr float from_f16(std::uint16_t h) noexcept {
  std::uint32_t sign = (std::uint32_t{h} & 0x8000u) << 16;
  std::uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    float v = static_cast<float>(m) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}

/// fp32 → bfloat16 bits (round to nearest even; NaN stays NaN).
[[nodiscard]] constexpr std::uint16_t to_bf16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

/// bfloat16 bits → fp32 (exact).
[[nodiscard]] constexpr float from_bf16(std::uint16_t b) noexcept {
  return std::bit_cast<float>(std::uint32_t{b} << 16);
}

/// fp32 → OCP fp8 E4M3 bits (saturating to ±448; NaN → 0x7F).
[[nodiscard]] constexpr std::uint8_t to_f8_e4m3(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  auto sign = static_cast<std::uint8_t>((x >> 24) & 0x80u);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint8_t>(sign | 0x7fu);
  if ((x & 0x7fffffffu) == 0x7f800000u) return static_cast<std::uint8_t>(sign | 0x7eu);
  return static_cast<std::uint8_t>(sign | detail::round_to_narrow(f, 3, 7, 0x7eu, true, 0x7eu));
}

/// OCP fp8 E4M3 bits → fp32 (exact).
[[nodiscard]] constexpr float from_f8_e4m3(std::uint8_t b) noexcept {
  unsigned e = (b >> 3) & 0xfu, m = b & 7u;
  float v;
  if (e == 0xf && m == 7) v = std::numeric_limits<float>::quiet_NaN();
  else if (e == 0) v = static_cast<float>(m) * 0x1p-9f;
  else v = std::bit_cast<float>(((e + 120u) << 23) | (m << 20));
  return (b & 0x80u) ? -v : v;
}

/// fp32 → OCP fp8 E5M2 bits (IEEE-like: overflow → ±inf; NaN → 0x7F).
[[nodiscard]] constexpr std::uint8_t to_f8_e5m2(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  auto sign = static_cast<std::uint8_t>((x >> 24) & 0x80u);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint8_t>(sign | 0x7fu);
  if ((x & 0x7fffffffu) == 0x7f800000u) return static_cast<std::uint8_t>(sign | 0x7cu);
  return static_cast<std::uint8_t>(sign | detail::round_to_narrow(f, 2, 15, 0x7cu, false, 0x7bu));
}

/// OCP fp8 E5M2 bits → fp32 (exact).
[[nodiscard]] constexpr float from_f8_e5m2(std::uint8_t b) noexcept {
  return from_f16(static_cast<std::uint16_t>(std::uint16_t{b} << 8));
}

}  // namespace mvq::inline v0
