#pragma once
// Inputs and obviously-correct references shared by the output-aware calibration tests.
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/matrix_view.hpp"

namespace calib_testing {

inline std::vector<float> gaussian(std::size_t count, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(count);
  for (auto& x : v) x = g(rng);
  return v;
}

// H = XᵀX for X = Z·A (n × cols), Z and the mixing matrix A Gaussian: strongly correlated input columns.
inline std::vector<double> correlated_gram(std::size_t n, std::size_t cols, std::uint32_t seed) {
  auto z = gaussian(n * cols, seed);
  auto a = gaussian(cols * cols, seed + 1);
  std::vector<double> x(n * cols, 0.0), h(cols * cols, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < cols; ++k)
      for (std::size_t c = 0; c < cols; ++c) x[i * cols + c] += double(z[i * cols + k]) * a[k * cols + c];
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a1 = 0; a1 < cols; ++a1)
      for (std::size_t b = 0; b < cols; ++b) h[a1 * cols + b] += x[i * cols + a1] * x[i * cols + b];
  return h;
}

// Σ_r (w_r − ŵ_r) H (w_r − ŵ_r)ᵀ, straight from the definition.
inline double output_loss(std::span<const float> w, std::span<const float> what, std::span<const double> h,
                          std::size_t rows, std::size_t cols) {
  double s = 0;
  std::vector<double> e(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) e[c] = double(w[r * cols + c]) - double(what[r * cols + c]);
    for (std::size_t a = 0; a < cols; ++a)
      for (std::size_t b = 0; b < cols; ++b) s += e[a] * h[a * cols + b] * e[b];
  }
  return s;
}

inline double output_loss(std::span<const float> w, mvq::compressed_matrix const& m, std::span<const double> h) {
  auto what = mvq::decompress(m.view());
  return output_loss(w, what, h, m.layout.rows, m.layout.cols);
}

// Kept bit of column c of row r (true when dense).
inline bool kept(mvq::compressed_matrix_view const& v, std::size_t r, std::size_t c) {
  return v.layout.nm.dense() || ((v.group_bitmap(r, c / v.layout.nm.m) >> (c % v.layout.nm.m)) & 1u);
}

}  // namespace calib_testing
