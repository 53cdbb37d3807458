// N:M pruning: exactly N kept per group, the N largest by score, deterministic ties, mask packing.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "mvq/quant/nm_prune.hpp"

using namespace mvq;
using namespace mvq::quant;

TEST_CASE("N:M pruning keeps exactly the N largest of every group", "[quant][nm]") {
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  for (nm_pattern p : {nm_pattern{1, 2}, nm_pattern{2, 4}, nm_pattern{1, 4}, nm_pattern{3, 4}, nm_pattern{2, 8},
                       nm_pattern{4, 8}, nm_pattern{5, 16}, nm_pattern{4, 4}}) {
    for (bool aware : {false, true}) {
      const std::size_t rows = 9, cols = std::size_t{p.m} * 6;
      std::vector<float> w(rows * cols), x(13 * cols);
      for (auto& v : w) v = g(rng);
      for (auto& v : x) v = g(rng);
      matrix_view<const float> wv(w.data(), rows, cols), xv(x.data(), aware ? 13 : 0, cols);
      auto m = nm_prune(wv, p, xv).value();
      auto norms = column_norms(matrix_view<const float>(x.data(), 13, cols));
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t grp = 0; grp < cols / p.m; ++grp) {
          INFO(int(p.n) << ":" << int(p.m) << " aware " << aware << " row " << r << " group " << grp);
          REQUIRE(std::popcount(m.group(r, grp)) == p.n);
          double min_kept = 1e300, max_pruned = -1;
          for (unsigned t = 0; t < p.m; ++t) {
            std::size_t c = grp * p.m + t;
            double s = std::fabs(double(w[r * cols + c])) * (aware ? norms[c] : 1.0);
            if (m.kept(r, c)) min_kept = std::min(min_kept, s);
            else max_pruned = std::max(max_pruned, s);
          }
          CHECK(min_kept >= max_pruned);
        }
    }
  }
}

TEST_CASE("N:M pruning ties go to the lower column", "[quant][nm]") {
  std::vector<float> w = {1, -1, 1, -1, 0, 0, 0, 0, 2, 3, 3, 2};
  auto m = nm_prune(matrix_view<const float>(w.data(), 1, 12), nm_pattern{2, 4}).value();
  CHECK(m.group(0, 0) == 0b0011);
  CHECK(m.group(0, 1) == 0b0011);
  CHECK(m.group(0, 2) == 0b0110);
}

TEST_CASE("activation-aware scores change the choice", "[quant][nm]") {
  std::vector<float> w = {1.0f, 0.5f, 0.25f, 0.125f};
  std::vector<float> x = {0.0f, 1.0f, 100.0f, 1.0f};  // one calibration row: column 2 dominates
  auto plain = nm_prune(matrix_view<const float>(w.data(), 1, 4), nm_pattern{1, 4}).value();
  auto aware = nm_prune(matrix_view<const float>(w.data(), 1, 4), nm_pattern{1, 4},
                        matrix_view<const float>(x.data(), 1, 4))
                   .value();
  CHECK(plain.group(0, 0) == 0b0001);
  CHECK(aware.group(0, 0) == 0b0100);
}

TEST_CASE("packed masks decode back to the bitmaps", "[quant][nm]") {
  std::mt19937 rng(2);
  std::normal_distribution<float> g;
  for (nm_pattern p : {nm_pattern{2, 4}, nm_pattern{1, 4}, nm_pattern{2, 8}, nm_pattern{3, 16}}) {
    const std::size_t rows = 5, cols = std::size_t{p.m} * 7;
    std::vector<float> w(rows * cols);
    for (auto& v : w) v = g(rng);
    auto m = nm_prune(matrix_view<const float>(w.data(), rows, cols), p).value();
    for (auto enc : {mask_encoding::bitmap, mask_encoding::pattern}) {
      const unsigned bits = mask_bits_per_group(p, enc);
      const std::size_t bpr = packed_bytes(cols / p.m, bits);
      std::vector<std::uint8_t> packed(rows * bpr, 0xAB);
      pack_masks(m, enc, packed);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t grp = 0; grp < cols / p.m; ++grp) {
          auto v = read_bits(std::span<const std::uint8_t>(packed).subspan(r * bpr, bpr), grp, bits);
          CHECK((enc == mask_encoding::bitmap ? v : pattern_bitmap(p, v)) == m.group(r, grp));
        }
    }
  }
}

TEST_CASE("N:M pruning rejects bad input", "[quant][nm][errors]") {
  std::vector<float> w(4 * 12, 1.0f), x(3 * 8, 1.0f);
  matrix_view<const float> wv(w.data(), 4, 12);
  CHECK_FALSE(nm_prune(wv, nm_pattern{}));                // dense
  CHECK_FALSE(nm_prune(wv, nm_pattern{3, 2}));            // N > M
  CHECK_FALSE(nm_prune(wv, nm_pattern{2, 32}));           // M > 16
  CHECK_FALSE(nm_prune(wv, nm_pattern{2, 8}));            // 12 not a multiple of 8
  auto e = nm_prune(wv, nm_pattern{2, 4}, matrix_view<const float>(x.data(), 3, 8));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == errc::shape_mismatch);
}
