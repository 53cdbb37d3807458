#pragma once
/// @file
/// The quantizers' seeded random generator.

#include <cstdint>

#include "mvq/version.hpp"

namespace mvq::inline v0::quant::detail {

/// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): a tiny
/// generator whose output is the same on every standard library, unlike the std distributions.
struct splitmix64 {
  std::uint64_t state;

  /// Next 64 random bits.
  constexpr std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform double in [0, 1) with 53 random bits.
  constexpr double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1p-53; }
  /// Uniform integer in [0, n) (n > 0); the modulo bias is below 2^-40 for n < 2^24.
  constexpr std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
};

}  // namespace mvq::inline v0::quant::detail
