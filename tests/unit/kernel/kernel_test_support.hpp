#pragma once
// Random compressed matrices and activations for the kernel tests, and the comparisons they use.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/reference.hpp"

namespace kt {

using namespace mvq;
using namespace mvq::kernel;

// A random compressed matrix. Bitmap masks keep at most N positions and leave some groups (and, with
// `empty_rows`, whole rows) fully pruned; pattern masks are uniform over C(M, N).
inline compressed_matrix random_compressed(std::mt19937& rng, std::size_t rows, std::size_t cols, std::uint32_t k,
                                           std::uint32_t d, nm_pattern nm, mask_encoding masks, codebook_dtype cb,
                                           bool empty_rows = false) {
  compressed_layout l{.rows = rows, .cols = cols, .vq = {k, static_cast<std::uint8_t>(d)}, .nm = nm, .masks = masks, .codebook = cb};
  auto m = compressed_matrix::allocate(l).value();
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  if (cb == codebook_dtype::i8) {
    m.codebook_scale = 0.0125f;
    for (std::size_t i = 0; i < m.codebook.size(); ++i) {
      m.codebook_i8[i] = static_cast<std::int8_t>(int(rng() % 255) - 127);
      m.codebook[i] = float(m.codebook_i8[i]) * m.codebook_scale;
    }
  } else {
    for (auto& v : m.codebook) v = u(rng);
  }
  std::vector<std::uint32_t> idx(l.subvectors_per_row());
  for (std::size_t r = 0; r < rows; ++r) {
    for (auto& i : idx) i = static_cast<std::uint32_t>(rng() % k);
    pack_bits(idx, l.index_bits(), std::span(m.indices).subspan(r * l.index_bytes_per_row(), l.index_bytes_per_row()));
  }
  if (!nm.dense()) {
    std::vector<std::uint32_t> g(l.groups_per_row());
    for (std::size_t r = 0; r < rows; ++r) {
      for (auto& v : g) {
        if (masks == mask_encoding::pattern) {
          v = static_cast<std::uint32_t>(rng() % pattern_count(nm));
        } else {
          // random subset of at most N positions; about one group in five is fully pruned
          std::uint32_t bm = 0;
          if (rng() % 5 != 0)
            for (unsigned t = 0; t < nm.n; ++t) bm |= 1u << (rng() % nm.m);
          v = (empty_rows && r % 3 == 1) ? 0u : bm;
        }
      }
      pack_bits(g, l.mask_bits(),
                std::span(m.masks).subspan(r * l.mask_bytes_per_row(), l.mask_bytes_per_row()));
    }
  }
  REQUIRE(validate(m.view()));
  return m;
}

inline std::vector<float> random_vector(std::mt19937& rng, std::size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline std::vector<std::int8_t> random_i8(std::mt19937& rng, std::size_t n) {
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = static_cast<std::int8_t>(int(rng() % 255) - 127);
  return v;
}

// |got − want| ≤ tol · (Σ|w·x| + 1e-6) per element, with Σ|w·x| from the dense weights: a relative bound that
// does not depend on cancellation.
inline void check_close(std::vector<float> const& got, std::vector<float> const& dense_w, std::size_t rows,
                        std::size_t cols, std::vector<float> const& x, std::size_t batch, double tol = 1e-5) {
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t r = 0; r < rows; ++r) {
      double want = 0, mag = 0;
      for (std::size_t c = 0; c < cols; ++c) {
        want += double(dense_w[r * cols + c]) * x[b * cols + c];
        mag += std::fabs(double(dense_w[r * cols + c]) * x[b * cols + c]);
      }
      INFO("batch row " << b << ", output row " << r << " of " << rows << "×" << cols);
      REQUIRE(std::fabs(double(got[b * rows + r]) - want) <= tol * (mag + 1e-6));
    }
}

}  // namespace kt
