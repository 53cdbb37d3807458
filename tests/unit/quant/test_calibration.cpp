// Calibration statistics (core/calibration.hpp, io/calibration_file.hpp) and the dense linear algebra of
// output-aware compression (quant/linalg.hpp): each against a direct computation from the rows themselves.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "mvq/core/calibration.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/io/calibration_file.hpp"
#include "mvq/quant/linalg.hpp"

using namespace mvq;

namespace {
// n × cols rows with correlated columns (a random mixing of independent Gaussians) and a non-zero mean.
std::vector<float> correlated_rows(std::size_t n, std::size_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> mix(cols * cols);
  for (auto& v : mix) v = g(rng);
  std::vector<float> x(n * cols);
  for (std::size_t r = 0; r < n; ++r) {
    std::vector<float> z(cols);
    for (auto& v : z) v = g(rng);
    for (std::size_t j = 0; j < cols; ++j) {
      float s = 0.3f;
      for (std::size_t k = 0; k < cols; ++k) s += mix[j * cols + k] * z[k] / static_cast<float>(cols);
      x[r * cols + j] = s;
    }
  }
  return x;
}

std::vector<double> naive_gram(std::vector<float> const& a, std::vector<float> const& b, std::size_t n,
                               std::size_t cols) {
  std::vector<double> h(cols * cols, 0.0);
  for (std::size_t i = 0; i < cols; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      long double s = 0;
      for (std::size_t r = 0; r < n; ++r) s += static_cast<long double>(a[r * cols + i]) * b[r * cols + j];
      h[i * cols + j] = static_cast<double>(s);
    }
  return h;
}

double max_rel(std::span<const double> a, std::span<const double> b) {
  double m = 0, scale = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m / std::max(scale, 1e-300);
}

matrix_view<const float> rows_of(std::vector<float> const& x, std::size_t begin, std::size_t end, std::size_t cols) {
  return {x.data() + begin * cols, end - begin, cols};
}
}  // namespace

TEST_CASE("calibration: H, sums and count equal a direct sum over the rows", "[calib]") {
  for (std::size_t cols : {1u, 3u, 17u, 40u}) {
    const std::size_t n = 53;
    auto x = correlated_rows(n, cols, 7 + static_cast<std::uint32_t>(cols));
    auto c = calibration::create(cols).value();
    REQUIRE(c.add(rows_of(x, 0, n, cols)));
    CHECK(c.rows() == n);
    CHECK(max_rel(c.gram(), naive_gram(x, x, n, cols)) < 1e-14);
    for (std::size_t j = 0; j < cols; ++j) {
      double s = 0;
      for (std::size_t r = 0; r < n; ++r) s += x[r * cols + j];
      CHECK(c.column_sums()[j] == Approx(s).epsilon(1e-12));
    }
    for (std::size_t i = 0; i < cols; ++i)
      for (std::size_t j = 0; j < cols; ++j) REQUIRE(c.gram()[i * cols + j] == c.gram()[j * cols + i]);
  }
}

TEST_CASE("calibration: batch order changes H only by rounding; thread count not at all", "[calib]") {
  const std::size_t n = 97, cols = 29;
  auto x = correlated_rows(n, cols, 3);
  auto whole = calibration::create(cols).value();
  REQUIRE(whole.add(rows_of(x, 0, n, cols)));
  // Random batch boundaries, batches pushed in a shuffled order.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<std::size_t> cuts{0, n};
    for (int k = 0; k < 6; ++k) cuts.push_back(rng() % n);
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::size_t> order(cuts.size() - 1);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    auto c = calibration::create(cols).value();
    for (auto b : order) REQUIRE(c.add(rows_of(x, cuts[b], cuts[b + 1], cols)));
    CHECK(c.rows() == n);
    CHECK(max_rel(c.gram(), whole.gram()) < 1e-13);
  }
  for (unsigned t : {2u, 3u}) {
    thread_pool pool(t);
    auto c = calibration::create(cols).value();
    REQUIRE(c.add(rows_of(x, 0, 40, cols), pool));
    REQUIRE(c.add(rows_of(x, 40, n, cols), pool));
    auto s = calibration::create(cols).value();
    REQUIRE(s.add(rows_of(x, 0, 40, cols)));
    REQUIRE(s.add(rows_of(x, 40, n, cols)));
    REQUIRE(std::equal(c.gram().begin(), c.gram().end(), s.gram().begin()));
  }
}

TEST_CASE("calibration: merge adds accumulators exactly and commutes", "[calib]") {
  const std::size_t n = 80, cols = 19;
  auto x = correlated_rows(n, cols, 5);
  auto a = calibration::create(cols).value(), b = calibration::create(cols).value();
  REQUIRE(a.add(rows_of(x, 0, 33, cols)));
  REQUIRE(b.add(rows_of(x, 33, n, cols)));
  auto ab = a, ba = b;
  REQUIRE(ab.merge(b));
  REQUIRE(ba.merge(a));
  CHECK(ab.rows() == n);
  REQUIRE(std::equal(ab.gram().begin(), ab.gram().end(), ba.gram().begin()));
  for (std::size_t i = 0; i < cols * cols; ++i) REQUIRE(ab.gram()[i] == a.gram()[i] + b.gram()[i]);
  CHECK(max_rel(ab.gram(), naive_gram(x, x, n, cols)) < 1e-13);
  auto other = calibration::create(cols + 1).value();
  auto e = ab.merge(other);
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("width-20") && Catch::Contains("width-19"));
  auto paired = calibration::create(cols, true).value();
  CHECK(!ab.merge(paired));
}

TEST_CASE("calibration: a bad batch is refused and leaves the accumulator unchanged", "[calib]") {
  const std::size_t cols = 6;
  auto x = correlated_rows(10, cols, 9);
  auto c = calibration::create(cols).value();
  REQUIRE(c.add(rows_of(x, 0, 10, cols)));
  const std::vector<double> before(c.gram().begin(), c.gram().end());
  std::vector<float> wide(4 * (cols + 1), 1.0f);
  auto e = c.add(matrix_view<const float>(wide.data(), 4, cols + 1));
  REQUIRE(!e);
  CHECK(e.error().code == errc::shape_mismatch);
  CHECK_THAT(e.error().message, Catch::Contains("7 columns") && Catch::Contains("reduction length is 6"));
  auto bad = x;
  bad[3 * cols + 2] = std::nanf("");
  e = c.add(rows_of(bad, 0, 10, cols));
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("row 3") && Catch::Contains("non-finite"));
  bad[3 * cols + 2] = INFINITY;
  CHECK(!c.add(rows_of(bad, 0, 10, cols)));
  CHECK(c.rows() == 10);
  REQUIRE(std::equal(before.begin(), before.end(), c.gram().begin()));
  CHECK(!calibration::create(0));
  CHECK(!calibration::create(calibration::max_cols + 1));
  CHECK(!c.add_paired(rows_of(x, 0, 10, cols), rows_of(x, 0, 10, cols)));
  calibration never_created;
  CHECK(!never_created.add(rows_of(x, 0, 10, cols)));
}

TEST_CASE("calibration: paired rows accumulate H of the compressed input and C = X_qᵀX_fp", "[calib]") {
  const std::size_t n = 45, cols = 13;
  auto xfp = correlated_rows(n, cols, 21), xq = xfp;
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 0.05f);
  for (auto& v : xq) v += g(rng);
  auto c = calibration::create(cols, true).value();
  REQUIRE(c.add_paired(rows_of(xq, 0, 20, cols), rows_of(xfp, 0, 20, cols)));
  REQUIRE(c.add_paired(rows_of(xq, 20, n, cols), rows_of(xfp, 20, n, cols)));
  CHECK(max_rel(c.gram(), naive_gram(xq, xq, n, cols)) < 1e-13);
  CHECK(max_rel(c.cross(), naive_gram(xq, xfp, n, cols)) < 1e-13);
  CHECK(!c.add(rows_of(xq, 0, n, cols)));
  CHECK(!c.add_paired(rows_of(xq, 0, 5, cols), rows_of(xfp, 0, 6, cols)));
}

TEST_CASE("calibration: zero-data statistics", "[calib]") {
  auto id = calibration::identity(5).value();
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = 0; j < 5; ++j) CHECK(id.gram()[i * 5 + j] == (i == j ? 1.0 : 0.0));
  // 2 channels × 3 taps: E[x_i x_j] = μ_a μ_b + [i = j] σ²_a, columns in oihw (c·taps + t) or ohwi (t·C + c).
  const std::vector<double> mean{0.5, -2.0}, var{1.5, 0.25};
  for (auto order : {reduction_order::oihw, reduction_order::ohwi}) {
    auto c = calibration::from_channel_stats(mean, var, 3, order).value();
    REQUIRE(c.cols() == 6);
    for (std::size_t i = 0; i < 6; ++i)
      for (std::size_t j = 0; j < 6; ++j) {
        const std::size_t ci = order == reduction_order::oihw ? i / 3 : i % 2;
        const std::size_t cj = order == reduction_order::oihw ? j / 3 : j % 2;
        CHECK(c.gram()[i * 6 + j] == mean[ci] * mean[cj] + (i == j ? var[ci] : 0.0));
      }
  }
  CHECK(!calibration::from_channel_stats(mean, std::vector<double>{1.0}, 3, reduction_order::oihw));
  CHECK(!calibration::from_channel_stats(mean, std::vector<double>{1.0, -1.0}, 3, reduction_order::oihw));
  CHECK(!calibration::from_channel_stats(mean, var, 0, reduction_order::oihw));
}

TEST_CASE("calibration file: save and load round-trip bit for bit; corrupt files are named errors", "[calib][io]") {
  const auto dir = std::filesystem::temp_directory_path() / ("mvq_calib_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::size_t cols = 11;
  auto x = correlated_rows(30, cols, 4);
  std::map<std::string, calibration> layers;
  layers.emplace("001_conv", calibration::create(cols).value());
  REQUIRE(layers.at("001_conv").add(rows_of(x, 0, 30, cols)));
  layers.emplace("fc", calibration::create(cols, true).value());
  REQUIRE(layers.at("fc").add_paired(rows_of(x, 0, 15, cols), rows_of(x, 15, 30, cols)));
  const auto path = dir / "stats.safetensors";
  REQUIRE(io::save_calibration(path, layers));
  auto back = io::load_calibration(path).value();
  REQUIRE(back.size() == 2);
  for (auto const& [name, c] : layers) {
    auto const& d = back.at(name);
    CHECK(d.rows() == c.rows());
    CHECK(d.paired() == c.paired());
    REQUIRE(std::equal(c.gram().begin(), c.gram().end(), d.gram().begin(), d.gram().end()));
    REQUIRE(std::equal(c.cross().begin(), c.cross().end(), d.cross().begin(), d.cross().end()));
    REQUIRE(std::equal(c.column_sums().begin(), c.column_sums().end(), d.column_sums().begin()));
  }
  // A file of raw rows is not a statistics file.
  io::safetensors_writer raw;
  REQUIRE(raw.add_f32("001_conv", {30, cols}, x));
  REQUIRE(raw.write(dir / "rows.safetensors"));
  auto e = io::load_calibration(dir / "rows.safetensors");
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("not a calibration-statistics file"));
  // An asymmetric H, a wrong dtype, a missing tensor.
  auto write_bad = [&](auto mutate) {
    io::safetensors_writer w;
    w.set_metadata("mvq_calibration", "1");
    w.set_metadata("mvq_calibration:l", R"({"rows": 3, "cols": 2, "paired": false})");
    std::vector<double> h{1, 0.5, 0.5, 1}, s{0, 0};
    mutate(w, h, s);
    return w.write(dir / "bad.safetensors");
  };
  REQUIRE(write_bad([](auto& w, auto& h, auto& s) {
    h[1] = 0.25;
    REQUIRE(w.add("l.gram", io::dtype::f64, {2, 2}, io::detail::f64_bytes(h)));
    REQUIRE(w.add("l.column_sums", io::dtype::f64, {2}, io::detail::f64_bytes(s)));
  }));
  e = io::load_calibration(dir / "bad.safetensors");
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("not symmetric") && Catch::Contains("layer 'l'"));
  REQUIRE(write_bad([](auto& w, auto&, auto& s) {
    std::vector<float> h32{1, 0, 0, 1};
    REQUIRE(w.add_f32("l.gram", {2, 2}, h32));
    REQUIRE(w.add("l.column_sums", io::dtype::f64, {2}, io::detail::f64_bytes(s)));
  }));
  e = io::load_calibration(dir / "bad.safetensors");
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("'l.gram' must be F64 [2, 2]"));
  REQUIRE(write_bad([](auto& w, auto& h, auto&) {
    REQUIRE(w.add("l.gram", io::dtype::f64, {2, 2}, io::detail::f64_bytes(h)));
  }));
  e = io::load_calibration(dir / "bad.safetensors");
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("'l.column_sums' is missing"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("linalg: Cholesky reproduces A and names the failing pivot", "[calib][linalg]") {
  for (std::size_t n : {1u, 2u, 5u, 33u, 70u}) {
    auto x = correlated_rows(2 * n + 3, n, static_cast<std::uint32_t>(n));
    auto c = calibration::create(n).value();
    REQUIRE(c.add(rows_of(x, 0, 2 * n + 3, n)));
    std::vector<double> a(c.gram().begin(), c.gram().end());
    for (std::size_t i = 0; i < n; ++i) a[i * n + i] += 1e-3;
    auto l = a;
    thread_pool pool(2);
    REQUIRE(quant::cholesky_lower(l, n, pool));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        if (j > i) REQUIRE(l[i * n + j] == 0.0);
        double s = 0;
        for (std::size_t k = 0; k < n; ++k) s += l[i * n + k] * l[j * n + k];
        REQUIRE(s == Approx(a[i * n + j]).margin(1e-10 * a[0]));
      }
  }
  std::vector<double> indef{1, 2, 2, 1};
  auto e = quant::cholesky_lower(indef, 2, serial_executor{});
  REQUIRE(!e);
  CHECK_THAT(e.error().message, Catch::Contains("pivot 1 of 2"));
  std::vector<double> wrong(5);
  CHECK(!quant::cholesky_lower(wrong, 2, serial_executor{}));
}

TEST_CASE("linalg: GPTQ's factor satisfies UᵀU (H + λI) = I, handles dead columns and singular H", "[calib][linalg]") {
  const std::size_t n = 24;
  // Rank-deficient H (fewer rows than columns) with one dead input.
  auto x = correlated_rows(10, n, 8);
  for (std::size_t r = 0; r < 10; ++r) x[r * n + 5] = 0.0f;
  auto c = calibration::create(n).value();
  REQUIRE(c.add(rows_of(x, 0, 10, n)));
  for (double percdamp : {0.01, 0.0}) {
    auto f = quant::gptq_inverse_factor(c.gram(), n, percdamp, thread_pool(3)).value();
    CHECK(f.dead[5] == 1);
    CHECK(std::count(f.dead.begin(), f.dead.end(), 1) == 1);
    CHECK(f.damp > 0);
    std::vector<double> h(c.gram().begin(), c.gram().end());
    for (std::size_t j = 0; j < n; ++j) {
      if (f.dead[j])
        for (std::size_t i = 0; i < n; ++i) h[i * n + j] = h[j * n + i] = 0;
      h[j * n + j] = (f.dead[j] ? 1.0 : h[j * n + j]) + f.damp;
    }
    double err = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        if (j < i) REQUIRE(f.u[i * n + j] == 0.0);
        // (UᵀU H)_ij
        double s = 0;
        for (std::size_t k = 0; k < n; ++k) {
          double hinv_ik = 0;
          for (std::size_t m = 0; m < n; ++m) hinv_ik += f.u[m * n + i] * f.u[m * n + k];
          s += hinv_ik * h[k * n + j];
        }
        err = std::max(err, std::abs(s - (i == j ? 1.0 : 0.0)));
      }
    CHECK(err < (percdamp > 0 ? 1e-8 : 1e-3));
  }
  std::vector<double> bad(n * n, 0.0);
  bad[3] = NAN;
  CHECK(!quant::gptq_inverse_factor(bad, n, 0.01, serial_executor{}));
  CHECK(!quant::gptq_inverse_factor(c.gram(), n + 1, 0.01, serial_executor{}));
  CHECK(!quant::gptq_inverse_factor(c.gram(), n, -1.0, serial_executor{}));
}

TEST_CASE("linalg: output error from H equals ‖X(W − Ŵ)ᵀ‖² computed from the rows", "[calib][linalg]") {
  const std::size_t n = 37, cols = 21, rows = 9;
  auto x = correlated_rows(n, cols, 12);
  auto c = calibration::create(cols).value();
  REQUIRE(c.add(rows_of(x, 0, n, cols)));
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  std::vector<float> w(rows * cols), what(rows * cols);
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i] = g(rng);
    what[i] = w[i] + 0.1f * g(rng);
  }
  double direct = 0, energy = 0;
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t r = 0; r < rows; ++r) {
      double y = 0, ye = 0;
      for (std::size_t j = 0; j < cols; ++j) {
        y += double(x[s * cols + j]) * w[r * cols + j];
        ye += double(x[s * cols + j]) * (double(w[r * cols + j]) - what[r * cols + j]);
      }
      direct += ye * ye;
      energy += y * y;
    }
  matrix_view<const float> wv(w.data(), rows, cols);
  const double e1 = quant::output_error(wv, what, c.gram(), serial_executor{});
  CHECK(e1 == Approx(direct).epsilon(1e-10));
  CHECK(quant::output_energy(wv, c.gram(), serial_executor{}) == Approx(energy).epsilon(1e-10));
  CHECK(quant::output_error(wv, what, c.gram(), thread_pool(3)) == e1);
}

TEST_CASE("linalg: the asymmetric target W′ = W Cᵀ H⁻¹ minimises ‖X_fp Wᵀ − X_q Ŵᵀ‖²", "[calib][linalg]") {
  const std::size_t n = 120, cols = 12, rows = 5;
  auto xfp = correlated_rows(n, cols, 30), xq = xfp;
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  for (auto& v : xq) v += 0.1f * g(rng);
  std::vector<float> w(rows * cols);
  for (auto& v : w) v = g(rng);
  matrix_view<const float> wv(w.data(), rows, cols);
  auto loss = [&](std::vector<float> const& what) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t r = 0; r < rows; ++r) {
        double y = 0;
        for (std::size_t j = 0; j < cols; ++j)
          y += double(xfp[i * cols + j]) * w[r * cols + j] - double(xq[i * cols + j]) * what[r * cols + j];
        s += y * y;
      }
    return s;
  };
  auto c = calibration::create(cols, true).value();
  REQUIRE(c.add_paired(rows_of(xq, 0, n, cols), rows_of(xfp, 0, n, cols)));
  auto target = quant::output_target(wv, c, 0.0, serial_executor{}).value();
  const double best = loss(target);
  CHECK(best < loss(w));
  for (int t = 0; t < 20; ++t) {
    auto p = target;
    for (auto& v : p) v += 1e-2f * g(rng);
    REQUIRE(loss(p) >= best);
  }
  // Identical inputs: the target is W itself.
  auto same = calibration::create(cols, true).value();
  REQUIRE(same.add_paired(rows_of(xfp, 0, n, cols), rows_of(xfp, 0, n, cols)));
  auto t2 = quant::output_target(wv, same, 0.0, serial_executor{}).value();
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(t2[i] == Approx(w[i]).margin(1e-4));
  auto unpaired = calibration::create(cols).value();
  CHECK(!quant::output_target(wv, unpaired, 0.0, serial_executor{}));
}

TEST_CASE("linalg: a diagonal H (zero-data mode) gives the same output error as the general sum", "[calib][linalg]") {
  const std::size_t rows = 7, cols = 18;
  std::mt19937 rng(4);
  std::normal_distribution<float> g;
  std::vector<float> w(rows * cols), what(rows * cols);
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i] = g(rng);
    what[i] = w[i] + 0.2f * g(rng);
  }
  const std::vector<double> mean(6, 0.0), var{0.5, 1.0, 2.0, 0.25, 3.0, 1.5};
  auto c = calibration::from_channel_stats(mean, var, 3, reduction_order::oihw).value();
  double direct = 0, plain = 0;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) {
      const double e = double(w[r * cols + j]) - what[r * cols + j];
      direct += e * e * var[j / 3];
      plain += e * e;
    }
  matrix_view<const float> wv(w.data(), rows, cols);
  CHECK(quant::output_error(wv, what, c.gram(), serial_executor{}) == Approx(direct).epsilon(1e-13));
  auto id = calibration::identity(cols).value();
  CHECK(quant::output_error(wv, what, id.gram(), serial_executor{}) == Approx(plain).epsilon(1e-13));
  // One off-diagonal entry switches to the general sum, which must then differ.
  std::vector<double> h(id.gram().begin(), id.gram().end());
  h[1] = h[cols] = 0.5;
  double cross = 0;
  for (std::size_t r = 0; r < rows; ++r)
    cross += (double(w[r * cols]) - what[r * cols]) * (double(w[r * cols + 1]) - what[r * cols + 1]);
  CHECK(quant::output_error(wv, what, h, serial_executor{}) == Approx(plain + 2 * 0.5 * cross).epsilon(1e-12));
}
