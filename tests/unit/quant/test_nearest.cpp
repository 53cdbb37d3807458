// The fused SIMD nearest-codeword kernels against the double-precision reference, ties included.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "mvq/quant/nearest.hpp"

using namespace mvq::quant;

namespace {
// Small integers: every float operation of the kernels is exact, so equal distances are real ties and the
// kernel must pick the same (lowest) index as the reference.
std::vector<float> small_ints(std::size_t count, std::mt19937& rng, int lo = -3, int hi = 3) {
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> v(count);
  for (auto& x : v) x = static_cast<float>(u(rng));
  return v;
}
}  // namespace

TEST_CASE("nearest_codewords equals the reference argmin for every d, K tail and tie", "[quant][nearest]") {
  std::mt19937 rng(7);
  for (unsigned d = 1; d <= max_kmeans_dim; ++d) {
    for (std::size_t k : {1u, 2u, 3u, 7u, 31u, 32u, 33u, 64u, 100u, 257u}) {
      const std::size_t n = 37;
      auto x = small_ints(n * d, rng);
      auto c = small_ints(k * d, rng);
      soa_codebook cb(c, k, d, false);
      std::vector<std::uint32_t> got(n);
      nearest_codewords(x.data(), n, cb, got.data());
      for (std::size_t i = 0; i < n; ++i) {
        INFO("d = " << d << ", k = " << k << ", point " << i);
        REQUIRE(got[i] == nearest_reference({x.data() + i * d, d}, c, k));
      }
    }
  }
}

TEST_CASE("duplicate codewords: the lowest index wins", "[quant][nearest]") {
  for (unsigned d : {1u, 4u, 8u, 16u}) {
    const std::size_t k = 96;
    std::vector<float> c(k * d);
    for (std::size_t j = 0; j < k; ++j)
      for (unsigned t = 0; t < d; ++t) c[j * d + t] = static_cast<float>(j % 5);  // codeword j repeats j mod 5
    std::vector<float> x(5 * d);
    for (std::size_t i = 0; i < 5; ++i)
      for (unsigned t = 0; t < d; ++t) x[i * d + t] = static_cast<float>(i);
    soa_codebook cb(c, k, d, false);
    std::vector<std::uint32_t> got(5);
    nearest_codewords(x.data(), 5, cb, got.data());
    for (std::uint32_t i = 0; i < 5; ++i) CHECK(got[i] == i);
  }
}

TEST_CASE("nearest_codewords_masked equals the masked reference argmin", "[quant][nearest]") {
  std::mt19937 rng(11);
  for (unsigned d = 1; d <= max_kmeans_dim; ++d) {
    for (std::size_t k : {2u, 5u, 32u, 47u, 256u}) {
      const std::size_t n = 41;
      auto x = small_ints(n * d, rng);
      auto c = small_ints(k * d, rng);
      // random masks; q = the largest popcount, points with fewer kept positions are padded with d
      std::vector<std::uint32_t> masks(n);
      unsigned q = 1;
      for (auto& m : masks) {
        m = static_cast<std::uint32_t>(rng()) & ((1u << d) - 1);
        q = std::max(q, static_cast<unsigned>(std::popcount(m)));
      }
      std::vector<std::uint8_t> pos(n * q, static_cast<std::uint8_t>(d));
      for (std::size_t i = 0; i < n; ++i) {
        unsigned s = 0;
        for (unsigned t = 0; t < d; ++t)
          if ((masks[i] >> t) & 1u) pos[i * q + s++] = static_cast<std::uint8_t>(t);
      }
      soa_codebook cb(c, k, d, true);
      std::vector<std::uint32_t> got(n);
      nearest_codewords_masked(x.data(), pos.data(), q, n, cb, got.data());
      for (std::size_t i = 0; i < n; ++i) {
        INFO("d = " << d << ", k = " << k << ", point " << i << ", mask " << masks[i]);
        REQUIRE(got[i] == nearest_reference({x.data() + i * d, d}, c, k, masks[i]));
      }
    }
  }
}

TEST_CASE("nearest_codewords on random floats finds a true minimum", "[quant][nearest]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  for (unsigned d : {3u, 8u, 13u}) {
    const std::size_t n = 200, k = 300;
    std::vector<float> x(n * d), c(k * d);
    for (auto& v : x) v = g(rng);
    for (auto& v : c) v = g(rng);
    soa_codebook cb(c, k, d, false);
    std::vector<std::uint32_t> got(n);
    nearest_codewords(x.data(), n, cb, got.data());
    for (std::size_t i = 0; i < n; ++i) {
      auto ref = nearest_reference({x.data() + i * d, d}, c, k);
      auto dist = [&](std::uint32_t j) {
        double s = 0;
        for (unsigned t = 0; t < d; ++t) s += (double(x[i * d + t]) - c[j * d + t]) * (double(x[i * d + t]) - c[j * d + t]);
        return s;
      };
      // float rounding of ‖c‖² − 2x·c may only swap near-ties
      CHECK(dist(got[i]) <= dist(ref) + 1e-5 * (1 + dist(ref)));
    }
  }
}
