// VQ4DiT calibration: logit and codebook gradients (output term and regulariser, with and without masks) against
// central differences, the gain over the k-means initialisation on correlated inputs, progressive freezing,
// thread-count independence and input errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "calib_testing.hpp"
#include "mvq/core/calibration.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/linalg.hpp"
#include "mvq/quant/vq4dit.hpp"

using namespace mvq;
using namespace mvq::quant;
using namespace calib_testing;

namespace {

compress_options kmeans_init(std::uint32_t k, std::uint8_t d) {
  return {.method = method::kmeans, .vq = {k, d}, .seed = 5};
}
compress_options mvq_init(std::uint32_t k, std::uint8_t d) {
  return {.method = method::mvq, .vq = {k, d}, .nm = {2, 4}, .masks = mask_encoding::bitmap, .seed = 5};
}

// The initialisation `vq4dit` starts from: compress with one calibration row √diag(H) under MVQ.
compressed_matrix initial(matrix_view<const float> w, std::vector<double> const& h, compress_options const& o) {
  std::vector<float> x(w.cols());
  for (std::size_t c = 0; c < w.cols(); ++c) x[c] = static_cast<float>(std::sqrt(h[c * w.cols() + c]));
  return compress(w, o, o.method == method::mvq ? matrix_view<const float>(x.data(), 1, w.cols()) : matrix_view<const float>{})
      .value();
}

}  // namespace

TEST_CASE("vq4dit objective: logit and codebook gradients match central differences", "[quant][vq4dit]") {
  const std::size_t rows = 12, cols = 16;
  auto w = gaussian(rows * cols, 81);
  auto h = correlated_gram(32, cols, 82);
  matrix_view<const float> wv(w.data(), rows, cols);
  serial_executor ex;
  for (auto opts : {kmeans_init(8, 4), mvq_init(8, 4)}) {
    for (unsigned n : {2u, 3u}) {
      for (double reg : {0.0, 0.7}) {
        auto init = compress(wv, opts).value();
        auto obj = vq4dit_objective::create(init.view(), wv, h, n).value();
        const std::size_t ns = obj.subvectors();
        std::mt19937 rng(83);
        std::normal_distribution<double> g(0.0, 0.7);
        std::vector<double> z(ns * n), cb(init.codebook.begin(), init.codebook.end());
        for (auto& v : z) v = g(rng);
        for (auto& v : cb) v += 0.1 * g(rng);
        std::vector<std::uint8_t> frozen(ns, 0);
        frozen[1] = frozen[7] = 1;  // frozen sub-vectors: no logit gradient, left out of the regulariser's mean
        std::vector<double> gz(z.size()), gc(cb.size()), sz(z.size()), sc(cb.size());
        const double f0 = obj.evaluate(z, frozen, cb, reg, gz, gc, ex);
        REQUIRE(std::isfinite(f0));
        auto f = [&](std::vector<double> const& zz, std::vector<double> const& cc) {
          return obj.evaluate(zz, frozen, cc, reg, sz, sc, ex);
        };
        const double step = 1e-5;
        double zmax = 0, cmax = 0;
        for (double v : gz) zmax = std::max(zmax, std::fabs(v));
        for (double v : gc) cmax = std::max(cmax, std::fabs(v));
        REQUIRE(zmax > 0);
        REQUIRE(cmax > 0);
        for (std::size_t i = 0; i < z.size(); ++i) {
          if (frozen[i / n]) {
            CHECK(gz[i] == 0.0);
            continue;
          }
          auto zp = z, zm = z;
          zp[i] += step;
          zm[i] -= step;
          const double fd = (f(zp, cb) - f(zm, cb)) / (2 * step);
          CAPTURE(n, reg, i);
          CHECK(gz[i] == Approx(fd).margin(1e-7 * zmax).epsilon(1e-5));
        }
        for (std::size_t i = 0; i < cb.size(); ++i) {
          auto cp = cb, cm = cb;
          cp[i] += step;
          cm[i] -= step;
          const double fd = (f(z, cp) - f(z, cm)) / (2 * step);
          CAPTURE(n, reg, i);
          CHECK(gc[i] == Approx(fd).margin(1e-7 * cmax).epsilon(1e-5));
        }
        // The regulariser's value: λ · Σ_active Σ_c p(1−p) / N_active on top of the output term.
        double out_term = 0;
        const double total = obj.evaluate(z, frozen, cb, reg, gz, gc, ex, &out_term);
        auto p = obj.ratios(z);
        double rs = 0;
        std::size_t active = 0;
        for (std::size_t i = 0; i < ns; ++i) {
          if (frozen[i]) continue;
          ++active;
          for (std::size_t c = 0; c < n; ++c) rs += p[i * n + c] * (1 - p[i * n + c]);
        }
        CHECK(total - out_term == Approx(reg * rs / double(active)).margin(1e-15));
      }
    }
  }
}

TEST_CASE("vq4dit objective: the output term is tr(E H Eᵀ)/tr(W H Wᵀ) of the soft weights", "[quant][vq4dit]") {
  const std::size_t rows = 8, cols = 16;
  auto w = gaussian(rows * cols, 84);
  auto h = correlated_gram(24, cols, 85);
  matrix_view<const float> wv(w.data(), rows, cols);
  auto init = compress(wv, mvq_init(4, 4)).value();
  auto obj = vq4dit_objective::create(init.view(), wv, h, 2).value();
  // One-hot logits on the first candidate reproduce the hard decode of the nearest candidates.
  const std::size_t ns = obj.subvectors();
  std::vector<double> z(ns * 2, 0.0), cb(init.codebook.begin(), init.codebook.end()), gz(ns * 2), gc(cb.size());
  for (std::size_t i = 0; i < ns; ++i) z[i * 2] = 1e4;
  std::vector<std::uint8_t> frozen(ns, 1);
  serial_executor ex;
  double out_term = 0;
  const double total = obj.evaluate(z, frozen, cb, 1.0, gz, gc, ex, &out_term);
  CHECK(total == out_term);  // everything frozen: no regulariser
  auto hard = init;
  std::vector<std::uint32_t> idx(ns);
  for (std::size_t i = 0; i < ns; ++i) idx[i] = obj.candidate_indices()[i * 2];
  for (std::size_t r = 0; r < rows; ++r)
    pack_bits(std::span<const std::uint32_t>(idx.data() + r * 4, 4), hard.layout.index_bits(),
              std::span<std::uint8_t>(hard.indices.data() + r * hard.layout.index_bytes_per_row(),
                                      hard.layout.index_bytes_per_row()));
  std::vector<float> zero(rows * cols, 0.0f);
  const double wn = output_loss(w, zero, h, rows, cols);
  CHECK(obj.normaliser() == Approx(wn).epsilon(1e-12));
  CHECK(out_term == Approx(output_loss(w, hard, h) / wn).epsilon(1e-10));
  // The nearest candidate is the initial assignment (k-means ends with every point at its nearest codeword).
  for (std::size_t i = 0; i < ns; ++i) CHECK(idx[i] == init.view().index(i / 4, i % 4));
}

TEST_CASE("vq4dit lowers the output error of its k-means / MVQ initialisation and freezes progressively",
          "[quant][vq4dit]") {
  const std::size_t rows = 64, cols = 128;
  auto w = gaussian(rows * cols, 91, 0.05f);
  auto h = correlated_gram(256, cols, 92);
  matrix_view<const float> wv(w.data(), rows, cols);
  for (auto opts : {kmeans_init(64, 4), mvq_init(64, 8)}) {
    vq4dit_report rep;
    layer_stats st;
    auto m = vq4dit(wv, h, opts, {}, &st, &rep).value();
    REQUIRE(validate(m.view()));
    auto init = initial(wv, h, opts);
    const double before = output_loss(w, init, h), after = output_loss(w, m, h);
    CAPTURE(before, after, rep.frozen, rep.all_frozen_at, rep.kept_initial);
    CHECK(rep.initial_loss == Approx(before).epsilon(1e-10));
    CHECK(rep.final_loss == Approx(after).epsilon(1e-10));
    CHECK(st.output_err2.value() == Approx(after).epsilon(1e-10));
    CHECK(after < 0.95 * before);
    CHECK_FALSE(rep.kept_initial);
    CHECK(rep.frozen > 0);
    CHECK(rep.objective.size() == 500);
    CHECK(rep.objective.back() < rep.objective.front());
    // Final assignments are among each sub-vector's candidates; masks are those of the initialisation.
    auto obj = vq4dit_objective::create(init.view(), wv, h, 2).value();
    const std::size_t spr = m.layout.subvectors_per_row();
    for (std::size_t i = 0; i < obj.subvectors(); ++i) {
      const std::uint32_t a = m.view().index(i / spr, i % spr);
      REQUIRE((a == obj.candidate_indices()[2 * i] || a == obj.candidate_indices()[2 * i + 1]));
    }
    CHECK(m.masks == init.masks);
  }
}

TEST_CASE("vq4dit: a high threshold freezes nothing early, a low one freezes everything", "[quant][vq4dit]") {
  const std::size_t rows = 32, cols = 64;
  auto w = gaussian(rows * cols, 93, 0.05f);
  auto h = correlated_gram(96, cols, 94);
  matrix_view<const float> wv(w.data(), rows, cols);
  vq4dit_report few, many;
  REQUIRE(vq4dit(wv, h, kmeans_init(32, 4), {.iters = 3, .freeze = 1.0}, nullptr, &few));
  CHECK(few.frozen == 0);
  REQUIRE(vq4dit(wv, h, kmeans_init(32, 4), {.iters = 200, .freeze = 0.6}, nullptr, &many));
  CHECK(many.frozen > 0);
  CHECK(many.all_frozen_at > 0);
  CHECK(many.all_frozen_at <= 200);
}

TEST_CASE("vq4dit, zero-data H from channel statistics: never worse than its initialisation", "[quant][vq4dit]") {
  const std::size_t channels = 16, taps = 4, rows = 32, cols = channels * taps;  // a 3×3-like conv as a GEMM
  auto w = gaussian(rows * cols, 99, 0.05f);
  matrix_view<const float> wv(w.data(), rows, cols);
  std::vector<double> mean(channels), var(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    mean[c] = 0.1 * double(c % 5);
    var[c] = 0.5 + 0.25 * double(c % 3);
  }
  auto cal = calibration::from_channel_stats(mean, var, taps, reduction_order::oihw).value();
  for (auto opts : {kmeans_init(32, 4), mvq_init(32, 8)}) {
    vq4dit_report rep;
    layer_stats st;
    auto m = vq4dit(wv, cal.gram(), opts, {.iters = 200}, &st, &rep).value();
    serial_executor ex;
    const auto what = decompress(m.view());
    CAPTURE(rep.initial_loss, rep.final_loss, rep.kept_initial);
    CHECK(rep.final_loss <= rep.initial_loss);
    CHECK(rep.final_loss == Approx(output_error(wv, what, cal.gram(), ex)).epsilon(1e-10));
    CHECK(st.output_norm2.value() == Approx(output_energy(wv, cal.gram(), ex)).epsilon(1e-10));
  }
}

TEST_CASE("vq4dit is bit-identical for 1, 2 and 3 threads", "[quant][vq4dit]") {
  const std::size_t rows = 40, cols = 64;
  auto w = gaussian(rows * cols, 95, 0.05f);
  auto h = correlated_gram(80, cols, 96);
  matrix_view<const float> wv(w.data(), rows, cols);
  std::vector<compressed_matrix> out;
  std::vector<std::vector<double>> objectives;
  for (unsigned t : {1u, 2u, 3u}) {
    thread_pool pool(t);
    vq4dit_report rep;
    auto init = mvq_init(32, 8);
    init.codebook = codebook_dtype::f16;
    out.push_back(vq4dit(wv, h, init, {.iters = 120}, pool, nullptr, &rep).value());
    objectives.push_back(rep.objective);
  }
  for (std::size_t i = 1; i < out.size(); ++i) {
    CHECK(out[i].codebook == out[0].codebook);
    CHECK(out[i].indices == out[0].indices);
    CHECK(out[i].masks == out[0].masks);
    CHECK(objectives[i] == objectives[0]);
  }
}

TEST_CASE("vq4dit: bad inputs are clear errors", "[quant][vq4dit]") {
  const std::size_t rows = 16, cols = 32;
  auto w = gaussian(rows * cols, 97);
  auto h = correlated_gram(40, cols, 98);
  matrix_view<const float> wv(w.data(), rows, cols);
  auto msg = [](auto const& r) { return r ? std::string() : r.error().message; };
  auto e0 = vq4dit(wv, h, kmeans_init(16, 4), {.candidates = 0});
  REQUIRE_FALSE(e0);
  CHECK_THAT(msg(e0), Catch::Contains("candidates"));
  auto e1 = vq4dit(wv, h, kmeans_init(16, 4), {.candidates = 17});
  REQUIRE_FALSE(e1);
  CHECK_THAT(msg(e1), Catch::Contains("K = 16"));
  std::vector<double> small(h.begin(), h.begin() + 31 * 31);
  auto e2 = vq4dit(wv, small, kmeans_init(16, 4));
  REQUIRE_FALSE(e2);
  CHECK(e2.error().code == errc::shape_mismatch);
  auto hn = h;
  hn[3] = std::numeric_limits<double>::infinity();
  auto e3 = vq4dit(wv, hn, kmeans_init(16, 4));
  REQUIRE_FALSE(e3);
  CHECK_THAT(msg(e3), Catch::Contains("not finite"));
  CHECK_FALSE(vq4dit(wv, h, kmeans_init(16, 4), {.lr_logits = -1.0}));
  CHECK_FALSE(vq4dit(wv, h, kmeans_init(16, 4), {.freeze = 0.0}));
  CHECK_FALSE(vq4dit(wv, h, {.method = method::mvq, .vq = {16, 4}}));  // MVQ without an N:M pattern
  std::vector<double> zero(cols * cols, 0.0);
  CHECK_FALSE(vq4dit(wv, zero, kmeans_init(16, 4)));  // tr(W H Wᵀ) = 0
  // The objective checks the weight against the matrix.
  auto init = compress(wv, kmeans_init(16, 4)).value();
  auto e4 = vq4dit_objective::create(init.view(), matrix_view<const float>(w.data(), rows, cols - 4), h, 2);
  REQUIRE_FALSE(e4);
  CHECK(e4.error().code == errc::shape_mismatch);
}
