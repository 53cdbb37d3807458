#pragma once
// Seeded synthetic operands shared by the benchmark suites.
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"

namespace mvq_bench {

/// n floats uniform in [−1, 1), seeded.
inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

/// A random rows × cols compressed matrix: random index bytes, random N:M patterns, fp32 codebook.
inline mvq::compressed_matrix random_compressed(std::size_t rows, std::size_t cols, std::uint32_t k, std::uint32_t d,
                                                mvq::nm_pattern nm) {
  using namespace mvq;
  compressed_layout l{.rows = rows, .cols = cols, .vq = {k, static_cast<std::uint8_t>(d)}, .nm = nm,
                      .masks = nm.dense() ? mask_encoding::none : mask_encoding::pattern};
  auto m = compressed_matrix::allocate(l).value();
  std::mt19937 rng(42);
  for (auto& b : m.indices) b = static_cast<std::uint8_t>(rng());
  m.codebook = random_floats(m.codebook.size(), 7);
  if (!nm.dense()) {
    std::vector<std::uint32_t> g(l.groups_per_row());
    for (std::size_t r = 0; r < rows; ++r) {
      for (auto& v : g) v = static_cast<std::uint32_t>(rng() % pattern_count(nm));
      pack_bits(g, l.mask_bits(), std::span(m.masks).subspan(r * l.mask_bytes_per_row(), l.mask_bytes_per_row()));
    }
  }
  return m;
}

}  // namespace mvq_bench
