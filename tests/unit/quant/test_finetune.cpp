// Codebook fine-tuning on the layer output: the gradient against central differences, the least-squares optimum
// against a dense solve of the normal equations, monotone loss, the gain over k-means on correlated inputs,
// thread-count independence and input errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "calib_testing.hpp"
#include "mvq/core/calibration.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/quant/codebook_finetune.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/linalg.hpp"

using namespace mvq;
using namespace mvq::quant;
using namespace calib_testing;

namespace {

compress_options kmeans_opts(std::uint32_t k, std::uint8_t d, codebook_dtype t = codebook_dtype::f32) {
  return {.method = method::kmeans, .vq = {k, d}, .codebook = t, .seed = 3};
}
compress_options mvq_opts(std::uint32_t k, std::uint8_t d, codebook_dtype t = codebook_dtype::f32) {
  return {.method = method::mvq, .vq = {k, d}, .nm = {2, 4}, .masks = mask_encoding::pattern, .codebook = t, .seed = 3};
}

// The normal equations A c = b of min_C tr(E H Eᵀ) for the fixed codes of m, built entry by entry, and solved
// by Gaussian elimination with partial pivoting (a variable whose pivot vanishes keeps its current value).
std::vector<double> dense_optimum(compressed_matrix const& m, std::vector<float> const& w, std::vector<double> const& h) {
  const auto v = m.view();
  const std::size_t rows = m.layout.rows, cols = m.layout.cols, d = m.layout.d(), spr = cols / d;
  const std::size_t nk = std::size_t{m.layout.k()} * d;
  std::vector<double> a(nk * nk, 0.0), b(nk, 0.0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t s = 0; s < spr; ++s)
      for (std::size_t t = 0; t < d; ++t) {
        const std::size_t c = s * d + t;
        if (!kept(v, r, c)) continue;
        const std::size_t row = v.index(r, s) * d + t;
        double wh = 0;
        for (std::size_t k = 0; k < cols; ++k) wh += double(w[r * cols + k]) * h[k * cols + c];
        b[row] += wh;
        for (std::size_t s2 = 0; s2 < spr; ++s2)
          for (std::size_t t2 = 0; t2 < d; ++t2) {
            const std::size_t c2 = s2 * d + t2;
            if (!kept(v, r, c2)) continue;
            a[row * nk + v.index(r, s2) * d + t2] += h[c * cols + c2];
          }
      }
  std::vector<double> x(m.codebook.begin(), m.codebook.end());
  std::vector<std::size_t> perm(nk);
  double top = 0;
  for (std::size_t i = 0; i < nk; ++i) top = std::max(top, std::fabs(a[i * nk + i]));
  // Drop variables with an all-zero row (unused codeword or a position never kept): they keep their value.
  std::vector<bool> live(nk);
  for (std::size_t i = 0; i < nk; ++i) live[i] = std::fabs(a[i * nk + i]) > 1e-12 * top;
  std::vector<std::size_t> ids;
  for (std::size_t i = 0; i < nk; ++i)
    if (live[i]) ids.push_back(i);
  const std::size_t n = ids.size();
  std::vector<double> m2(n * (n + 1));
  for (std::size_t i = 0; i < n; ++i) {
    double rhs = b[ids[i]];
    for (std::size_t j = 0; j < nk; ++j)
      if (!live[j]) rhs -= a[ids[i] * nk + j] * x[j];
    for (std::size_t j = 0; j < n; ++j) m2[i * (n + 1) + j] = a[ids[i] * nk + ids[j]];
    m2[i * (n + 1) + n] = rhs;
  }
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t piv = col;
    for (std::size_t i = col + 1; i < n; ++i)
      if (std::fabs(m2[i * (n + 1) + col]) > std::fabs(m2[piv * (n + 1) + col])) piv = i;
    for (std::size_t j = 0; j <= n; ++j) std::swap(m2[col * (n + 1) + j], m2[piv * (n + 1) + j]);
    REQUIRE(std::fabs(m2[col * (n + 1) + col]) > 1e-12 * top);
    for (std::size_t i = col + 1; i < n; ++i) {
      const double f = m2[i * (n + 1) + col] / m2[col * (n + 1) + col];
      for (std::size_t j = col; j <= n; ++j) m2[i * (n + 1) + j] -= f * m2[col * (n + 1) + j];
    }
  }
  for (std::size_t i = n; i-- > 0;) {
    double s = m2[i * (n + 1) + n];
    for (std::size_t j = i + 1; j < n; ++j) s -= m2[i * (n + 1) + j] * x[ids[j]];
    x[ids[i]] = s / m2[i * (n + 1) + i];
  }
  return x;
}

double loss_with(compressed_matrix m, std::vector<float> const& w, std::vector<double> const& h,
                 std::vector<double> const& cb) {
  for (std::size_t i = 0; i < cb.size(); ++i) m.codebook[i] = static_cast<float>(cb[i]);
  return output_loss(w, m, h);
}

template <codebook_dtype C>
struct cb_tag {
  static constexpr codebook_dtype value = C;
};
using codebook_types = std::tuple<cb_tag<codebook_dtype::f32>, cb_tag<codebook_dtype::f16>, cb_tag<codebook_dtype::i8>>;

}  // namespace

TEST_CASE("codebook output gradient: −2 Pᵀ(E H) matches central differences of tr(E H Eᵀ)", "[quant][finetune]") {
  const std::size_t rows = 16, cols = 32;
  auto w = gaussian(rows * cols, 21);
  auto h = correlated_gram(48, cols, 22);
  for (auto opts : {kmeans_opts(8, 4), mvq_opts(8, 4)}) {
    auto m = compress(matrix_view<const float>(w.data(), rows, cols), opts).value();
    // Codewords on a grid of 2⁻¹², so c ± 2⁻⁴ is exact in float and the two steps are equal (with unequal steps
    // the quadratic's curvature leaks into the difference quotient).
    for (float& c : m.codebook) c = std::round(c * 4096.0f) / 4096.0f;
    std::vector<double> grad(m.codebook.size());
    serial_executor ex;
    const double loss = codebook_output_gradient(m.view(), matrix_view<const float>(w.data(), rows, cols), h, grad, ex).value();
    CHECK(loss == Approx(output_loss(w, m, h)).epsilon(1e-12));
    double gmax = 0;
    for (double g : grad) gmax = std::max(gmax, std::fabs(g));
    REQUIRE(gmax > 0);
    for (std::size_t i = 0; i < m.codebook.size(); ++i) {
      // The loss is quadratic in the codebook, so the central difference is exact up to rounding.
      auto mp = m, mm = m;
      mp.codebook[i] += 0.0625f;
      mm.codebook[i] -= 0.0625f;
      const double fd = (output_loss(w, mp, h) - output_loss(w, mm, h)) / 0.125;
      CHECK(grad[i] == Approx(fd).margin(1e-9 * gmax).epsilon(1e-7));
    }
  }
}

TEST_CASE("finetune_codebook reaches the least-squares optimum of the dense normal equations", "[quant][finetune]") {
  const std::size_t rows = 24, cols = 16;
  auto w = gaussian(rows * cols, 31);
  auto h = correlated_gram(40, cols, 32);
  for (auto opts : {kmeans_opts(8, 4), mvq_opts(8, 4)}) {
    auto m = compress(matrix_view<const float>(w.data(), rows, cols), opts).value();
    const double before = output_loss(w, m, h);
    const double best = loss_with(m, w, h, dense_optimum(m, w, h));
    REQUIRE(best < before);
    finetune_report rep;
    REQUIRE(finetune_codebook(m, matrix_view<const float>(w.data(), rows, cols), h,
                              {.cg_iter = 200, .rounds = 0, .tol = 1e-14}, &rep));
    const double after = output_loss(w, m, h);
    CAPTURE(before, best, after, rep.cg_iterations);
    CHECK(rep.initial_loss == Approx(before).epsilon(1e-12));
    CHECK(rep.final_loss == Approx(after).epsilon(1e-12));
    CHECK(after <= best * (1 + 1e-5));  // float codewords: within rounding of the double optimum
    CHECK(after >= best * (1 - 1e-9));  // and no better than the optimum itself
    // With reassignment rounds, the last step is a codebook update for the final assignments: optimal for them.
    auto m2 = compress(matrix_view<const float>(w.data(), rows, cols), opts).value();
    REQUIRE(finetune_codebook(m2, matrix_view<const float>(w.data(), rows, cols), h,
                              {.cg_iter = 200, .rounds = 3, .tol = 1e-14}, &rep));
    CHECK(rep.rounds_kept > 0);
    const double after2 = output_loss(w, m2, h), best2 = loss_with(m2, w, h, dense_optimum(m2, w, h));
    CAPTURE(after2, best2);
    CHECK(after2 < after);
    CHECK(after2 <= best2 * (1 + 1e-5));
  }
}

TEMPLATE_LIST_TEST_CASE("finetune_codebook never increases the loss, rounds only help, stored values stay valid",
                        "[quant][finetune]", codebook_types) {
  const std::size_t rows = 32, cols = 64;
  auto w = gaussian(rows * cols, 41, 0.05f);
  auto h = correlated_gram(96, cols, 42);
  matrix_view<const float> wv(w.data(), rows, cols);
  for (auto opts : {kmeans_opts(32, 4, TestType::value), mvq_opts(32, 8, TestType::value)}) {
    const auto m0 = compress(wv, opts).value();
    const double start = output_loss(w, m0, h);
    double prev = start;
    for (unsigned rounds : {0u, 1u, 2u, 4u}) {
      auto m = m0;
      finetune_report rep;
      REQUIRE(finetune_codebook(m, wv, h, {.rounds = rounds}, &rep));
      REQUIRE(validate(m.view()));
      const double now = output_loss(w, m, h);
      CAPTURE(rounds, start, prev, now, rep.rounds_kept, rep.reassigned);
      CHECK(rep.final_loss == Approx(now).epsilon(1e-12));
      serial_executor ex;
      const auto what = decompress(m.view());
      CHECK(rep.final_loss == Approx(output_error(wv, what, h, ex)).epsilon(1e-10));
      CHECK(now <= prev);  // each run extends the previous one
      CHECK(rep.rounds_kept <= rounds);
      // Pruned positions stay exact zeros.
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          if (!kept(m.view(), r, c)) REQUIRE(what[r * cols + c] == 0.0f);
      if (TestType::value == codebook_dtype::f16)
        for (float v : m.codebook) REQUIRE(from_f16(to_f16(v)) == v);
      prev = now;
    }
    CHECK(prev < start);
  }
}

TEST_CASE("finetune_codebook lowers the output error of k-means and MVQ on correlated inputs", "[quant][finetune]") {
  const std::size_t rows = 64, cols = 128;
  auto w = gaussian(rows * cols, 51, 0.05f);
  auto h = correlated_gram(256, cols, 52);
  matrix_view<const float> wv(w.data(), rows, cols);
  for (auto opts : {kmeans_opts(64, 4), mvq_opts(64, 8)}) {
    auto m = compress(wv, opts).value();
    const double km = output_loss(w, m, h);
    auto m0 = m;
    finetune_report r0, r2;
    REQUIRE(finetune_codebook(m0, wv, h, {.rounds = 0}, &r0));
    REQUIRE(finetune_codebook(m, wv, h, {.rounds = 2}, &r2));
    CAPTURE(km, r0.final_loss, r2.final_loss, r2.reassigned);
    CHECK(r0.final_loss < 0.97 * km);
    CHECK(r2.final_loss < r0.final_loss);  // reassignment under the H-metric helps beyond the codebook alone
    CHECK(r2.rounds_kept >= 1);
    CHECK(r2.reassigned > 0);
  }
}

TEST_CASE("finetune_codebook, zero-data H = I: each codeword becomes the masked mean of its sub-vectors",
          "[quant][finetune]") {
  const std::size_t rows = 32, cols = 32;
  auto w = gaussian(rows * cols, 55);
  matrix_view<const float> wv(w.data(), rows, cols);
  auto h = calibration::identity(cols).value();
  for (auto opts : {kmeans_opts(16, 4), mvq_opts(16, 8)}) {
    opts.max_iter = 1;  // far from converged, so the update has work to do
    auto m = compress(wv, opts).value();
    const double before = output_loss(w, m, h.gram());
    REQUIRE(finetune_codebook(m, wv, h.gram(), {.rounds = 0}));
    CHECK(output_loss(w, m, h.gram()) < before);
    const std::size_t d = m.layout.d();
    std::vector<double> sum(m.codebook.size(), 0.0), count(m.codebook.size(), 0.0);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c)
        if (kept(m.view(), r, c)) {
          const std::size_t e = m.view().index(r, c / d) * d + c % d;
          sum[e] += w[r * cols + c];
          count[e] += 1;
        }
    for (std::size_t e = 0; e < sum.size(); ++e)
      if (count[e] > 0) CHECK(m.codebook[e] == Approx(sum[e] / count[e]).margin(1e-5));
  }
}

TEST_CASE("finetune_codebook is bit-identical for 1, 2 and 3 threads", "[quant][finetune]") {
  const std::size_t rows = 40, cols = 64;
  auto w = gaussian(rows * cols, 61, 0.05f);
  auto h = correlated_gram(80, cols, 62);
  matrix_view<const float> wv(w.data(), rows, cols);
  const auto m0 = compress(wv, mvq_opts(32, 8, codebook_dtype::i8)).value();
  std::vector<compressed_matrix> out;
  for (unsigned t : {1u, 2u, 3u}) {
    thread_pool pool(t);
    auto m = m0;
    REQUIRE(finetune_codebook(m, wv, h, {.rounds = 2}, pool));
    out.push_back(std::move(m));
  }
  for (std::size_t i = 1; i < out.size(); ++i) {
    CHECK(out[i].codebook == out[0].codebook);
    CHECK(out[i].codebook_i8 == out[0].codebook_i8);
    CHECK(out[i].codebook_scale == out[0].codebook_scale);
    CHECK(out[i].indices == out[0].indices);
    CHECK(out[i].masks == out[0].masks);
  }
}

TEST_CASE("finetune_codebook: bad inputs are clear errors and leave the matrix alone", "[quant][finetune]") {
  const std::size_t rows = 16, cols = 32;
  auto w = gaussian(rows * cols, 71);
  auto h = correlated_gram(40, cols, 72);
  matrix_view<const float> wv(w.data(), rows, cols);
  auto m = compress(wv, mvq_opts(8, 8)).value();
  const auto orig = m;
  auto msg = [](result<void> const& r) { return r ? std::string() : r.error().message; };

  std::vector<double> small(h.begin(), h.end() - 1);
  auto e1 = finetune_codebook(m, wv, small);
  REQUIRE_FALSE(e1);
  CHECK(e1.error().code == errc::shape_mismatch);
  CHECK_THAT(msg(e1), Catch::Contains("H has"));

  auto hn = h;
  hn[5 * cols + 7] = std::numeric_limits<double>::quiet_NaN();
  auto e2 = finetune_codebook(m, wv, hn);
  REQUIRE_FALSE(e2);
  CHECK_THAT(msg(e2), Catch::Contains("not finite"));

  auto e3 = finetune_codebook(m, matrix_view<const float>(w.data(), rows - 1, cols), h);
  REQUIRE_FALSE(e3);
  CHECK(e3.error().code == errc::shape_mismatch);
  CHECK_THAT(msg(e3), Catch::Contains("the weight is 15×32"));

  auto wi = w;
  wi[3] = std::numeric_limits<float>::infinity();
  CHECK_FALSE(finetune_codebook(m, matrix_view<const float>(wi.data(), rows, cols), h));
  CHECK_FALSE(finetune_codebook(m, wv, h, {.tol = -1.0}));
  std::vector<double> grad(3);
  serial_executor ex;
  CHECK_FALSE(codebook_output_gradient(m.view(), wv, h, grad, ex));
  auto broken = m;
  broken.indices.pop_back();
  CHECK_FALSE(finetune_codebook(broken, wv, h));
  CHECK(m.codebook == orig.codebook);
  CHECK(m.indices == orig.indices);
}
