// k-means and masked k-means: determinism, monotone MSE, the masked update rule, empty clusters.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "mvq/quant/kmeans.hpp"

using namespace mvq;
using namespace mvq::quant;

namespace {
std::vector<float> laplace(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  std::bernoulli_distribution s(0.5);
  std::vector<float> v(count);
  for (auto& x : v) x = s(rng) ? e(rng) : -e(rng);
  return v;
}
std::vector<std::uint32_t> random_masks(std::size_t n, unsigned d, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint32_t> m(n);
  for (auto& v : m) v = static_cast<std::uint32_t>(rng()) & ((1u << d) - 1);
  return m;
}
}  // namespace

TEST_CASE("k-means is bit-identical for 1, 2, 3 and 7 threads", "[quant][kmeans]") {
  // 10 000 points span three 4096-point chunks, so the threads really split the work
  const std::size_t n = 10000;
  for (unsigned d : {3u, 8u}) {
    auto x = laplace(n * d, 5 + d);
    matrix_view<const float> pts(x.data(), n, d);
    kmeans_options o{.k = 16, .max_iter = 3, .tol = 0, .seed = 9, .threads = 1};
    auto ref = kmeans(pts, o).value();
    auto masks = random_masks(n, d, 3);
    auto mref = masked_kmeans(pts, masks, o).value();
    for (unsigned th : {2u, 3u, 7u}) {
      o.threads = th;
      auto r = kmeans(pts, o).value();
      CHECK(r.centroids == ref.centroids);
      CHECK(r.assignments == ref.assignments);
      CHECK(r.mse_history == ref.mse_history);
      auto m = masked_kmeans(pts, masks, o).value();
      CHECK(m.centroids == mref.centroids);
      CHECK(m.assignments == mref.assignments);
    }
    // One pool passed in and reused by both calls, the serial executor, and an explicit architecture give the
    // same iterates as the default overloads.
    thread_pool pool(3);
    auto p = kmeans(pts, o, {}, pool).value();
    CHECK(p.centroids == ref.centroids);
    CHECK(p.assignments == ref.assignments);
    auto pm = masked_kmeans(pts, masks, o, {}, pool).value();
    CHECK(pm.centroids == mref.centroids);
    auto s = kmeans<default_simd_arch>(pts, o, {}, serial_executor{}).value();
    CHECK(s.centroids == ref.centroids);
    CHECK(s.mse_history == ref.mse_history);
  }
}

TEST_CASE("k-means MSE never increases across iterations", "[quant][kmeans]") {
  for (unsigned d : {1u, 4u, 8u, 16u}) {
    const std::size_t n = 2000;
    auto x = laplace(n * d, 17 + d);
    auto r = kmeans(matrix_view<const float>(x.data(), n, d), {.k = 32, .max_iter = 20, .tol = 0, .seed = 1}).value();
    auto masks = random_masks(n, d, 5);
    auto m = masked_kmeans(matrix_view<const float>(x.data(), n, d), masks, {.k = 32, .max_iter = 20, .tol = 0, .seed = 1})
                 .value();
    for (auto const* res : {&r, &m}) {
      REQUIRE(res->mse_history.size() == 21);
      REQUIRE(res->empty_splits == 0);
      for (std::size_t i = 1; i < res->mse_history.size(); ++i) {
        INFO("d = " << d << ", iteration " << i);
        // exact in real arithmetic; the fp32 argmin may flip true near-ties by ~1 ulp of a distance
        CHECK(res->mse_history[i] <= res->mse_history[i - 1] * (1 + 1e-6));
      }
      CHECK(res->mse_history.back() < 0.9 * res->mse_history.front());
    }
  }
}

TEST_CASE("k-means stops when the relative gain falls below tol", "[quant][kmeans]") {
  const std::size_t n = 4000;
  auto x = laplace(n * 2, 2);
  auto r = kmeans(matrix_view<const float>(x.data(), n, 2), {.k = 16, .max_iter = 500, .tol = 1e-3}).value();
  REQUIRE(r.iterations < 500);
  const auto& h = r.mse_history;
  CHECK(h[h.size() - 2] - h.back() < 1e-3 * h[h.size() - 2]);
  for (std::size_t i = 1; i + 1 < h.size(); ++i) CHECK(h[i - 1] - h[i] >= 1e-3 * h[i - 1]);
}

TEST_CASE("masked update: c_jt = Σ m w / Σ m, kept when nothing is kept", "[quant][kmeans][masked]") {
  const unsigned d = 8;
  const std::size_t n = 3000, k = 16;
  auto x = laplace(n * d, 8);
  auto masks = random_masks(n, d, 9);
  for (std::size_t i = 0; i < n; ++i) masks[i] &= ~(1u << 7);  // position 7 is never kept
  std::vector<float> init(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(k * d));
  for (std::size_t j = 0; j < k; ++j) init[j * d + 7] = static_cast<float>(j) + 0.5f;
  auto r = masked_kmeans(matrix_view<const float>(x.data(), n, d), masks, {.k = 16, .max_iter = 1, .tol = 0}, init)
               .value();
  REQUIRE(r.iterations == 1);
  // Reference: assign with the masked distance under `init`, then the masked means in point order, in double.
  std::vector<double> num(k * d, 0.0), den(k * d, 0.0);
  std::vector<std::size_t> cnt(k, 0);
  for (std::size_t i = 0; i < n; ++i) {
    auto j = nearest_reference({x.data() + i * d, d}, init, k, masks[i]);
    ++cnt[j];
    for (unsigned t = 0; t < d; ++t)
      if ((masks[i] >> t) & 1u) {
        num[j * d + t] += x[i * d + t];
        den[j * d + t] += 1;
      }
  }
  for (std::size_t j = 0; j < k; ++j) {
    REQUIRE(cnt[j] > 0);
    for (unsigned t = 0; t < d; ++t) {
      INFO("codeword " << j << ", position " << t);
      float want = den[j * d + t] > 0 ? static_cast<float>(num[j * d + t] / den[j * d + t]) : init[j * d + t];
      CHECK(r.centroids[j * d + t] == want);
    }
  }
}

TEST_CASE("masked k-means: pruned values never influence codebook or assignments", "[quant][kmeans][masked]") {
  for (unsigned d : {4u, 8u, 16u}) {
    const std::size_t n = 2000;
    auto x = laplace(n * d, 21);
    auto masks = random_masks(n, d, 22);
    auto y = x;
    std::mt19937 rng(4);
    std::normal_distribution<float> g(0.0f, 100.0f);
    for (std::size_t i = 0; i < n; ++i)
      for (unsigned t = 0; t < d; ++t)
        if (!((masks[i] >> t) & 1u)) y[i * d + t] = g(rng);
    kmeans_options o{.k = 32, .max_iter = 6, .tol = 0, .seed = 3, .threads = 2};
    auto a = masked_kmeans(matrix_view<const float>(x.data(), n, d), masks, o).value();
    auto b = masked_kmeans(matrix_view<const float>(y.data(), n, d), masks, o).value();
    CHECK(a.centroids == b.centroids);
    CHECK(a.assignments == b.assignments);
    CHECK(a.mse_history == b.mse_history);
  }
}

TEST_CASE("empty clusters are re-seeded by splitting the largest", "[quant][kmeans]") {
  const unsigned d = 4;
  const std::size_t n = 3000, k = 32;
  auto x = laplace(n * d, 30);
  std::vector<float> init(k * d, 0.0f);  // all codewords equal: every cluster but 0 starts empty
  auto r = kmeans(matrix_view<const float>(x.data(), n, d), {.k = 32, .max_iter = 25, .tol = 0}, init).value();
  CHECK(r.empty_splits >= k - 1);
  std::vector<std::size_t> cnt(k, 0);
  for (auto a : r.assignments) ++cnt[a];
  for (std::size_t j = 0; j < k; ++j) CHECK(cnt[j] > 0);
  auto seeded = kmeans(matrix_view<const float>(x.data(), n, d), {.k = 32, .max_iter = 25, .tol = 0}).value();
  CHECK(r.mse() < 1.5 * seeded.mse());
}

TEST_CASE("fewer points than codewords and identical points", "[quant][kmeans]") {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};  // 3 points of d = 2
  auto r = kmeans(matrix_view<const float>(x.data(), 3, 2), {.k = 8, .max_iter = 5}).value();
  CHECK(r.mse() == 0.0);
  std::vector<float> same(100 * 3, 1.5f);
  auto s = kmeans(matrix_view<const float>(same.data(), 100, 3), {.k = 4, .max_iter = 5}).value();
  CHECK(s.mse() == 0.0);
}

TEST_CASE("k-means rejects bad input", "[quant][kmeans][errors]") {
  std::vector<float> x(17 * 20, 1.0f);
  CHECK_FALSE(kmeans(matrix_view<const float>(x.data(), 20, 17), {.k = 4}));  // d > 16
  CHECK_FALSE(kmeans(matrix_view<const float>(x.data(), 0, 4), {.k = 4}));
  CHECK_FALSE(kmeans(matrix_view<const float>(x.data(), 20, 4), {.k = 0}));
  std::vector<float> init(3);
  CHECK_FALSE(kmeans(matrix_view<const float>(x.data(), 20, 4), {.k = 4}, init));
  std::vector<std::uint32_t> masks(19, 0xf);
  CHECK_FALSE(masked_kmeans(matrix_view<const float>(x.data(), 20, 4), masks, {.k = 4}));
  x[5] = std::numeric_limits<float>::quiet_NaN();
  auto e = kmeans(matrix_view<const float>(x.data(), 20, 4), {.k = 4});
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("non-finite") != std::string::npos);
}

TEST_CASE("the Hamerly bounds change nothing: iterates equal the full search", "[quant][kmeans]") {
  for (unsigned d : {5u, 16u}) {  // bounds are used when K·d > 1024
    const std::size_t n = 1500;
    auto x = laplace(n * d, 40 + d);
    matrix_view<const float> pts(x.data(), n, d);
    kmeans_options on{.k = d == 16 ? 128u : 256u, .max_iter = 8, .tol = 0, .seed = 2}, off = on;
    off.bounds = false;
    auto a = kmeans(pts, on).value();
    auto b = kmeans(pts, off).value();
    INFO("d = " << d);
    CHECK(a.centroids == b.centroids);
    CHECK(a.assignments == b.assignments);
    CHECK(a.mse_history == b.mse_history);
    CHECK(a.searched < b.searched);  // the bounds did skip work
    auto masks = random_masks(n, d, 41);
    auto ma = masked_kmeans(pts, masks, on).value();
    auto mb = masked_kmeans(pts, masks, off).value();
    CHECK(ma.centroids == mb.centroids);
    CHECK(ma.assignments == mb.assignments);
    CHECK(ma.searched < mb.searched);
  }
}
