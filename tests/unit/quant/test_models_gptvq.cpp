// gptvq() on real pretrained weights: ppocr_det layers with their calibration rows, against compress().
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "models.hpp"
#include "mvq/core/calibration.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/gptvq.hpp"
#include "mvq/quant/subvectors.hpp"

using namespace mvq;
using namespace mvq::quant;

namespace {

double db(double a, double b) { return 10.0 * std::log10(a / b); }

/// H = XᵀX over rows [r0, r1) of x (n × cols), accumulated by `calibration` as a user would.
std::vector<double> gram(std::vector<float> const& x, std::size_t cols, std::size_t r0, std::size_t r1) {
  auto cal = calibration::create(cols).value();
  REQUIRE(cal.add(matrix_view<const float>(x.data() + r0 * cols, r1 - r0, cols)));
  REQUIRE(cal.rows() == r1 - r0);
  return {cal.gram().begin(), cal.gram().end()};
}

/// ‖X Wᵀ‖² and ‖X (W − Ŵ)ᵀ‖² over rows [r0, r1) of x.
void output_energy(std::vector<float> const& x, std::vector<float> const& w, std::vector<float> const& what,
                   std::size_t rows, std::size_t cols, std::size_t r0, std::size_t r1, double& y2, double& e2) {
  y2 = e2 = 0;
  for (std::size_t i = r0; i < r1; ++i)
    for (std::size_t r = 0; r < rows; ++r) {
      double y = 0, e = 0;
      for (std::size_t c = 0; c < cols; ++c) {
        y += static_cast<double>(x[i * cols + c]) * w[r * cols + c];
        e += static_cast<double>(x[i * cols + c]) * (static_cast<double>(w[r * cols + c]) - what[r * cols + c]);
      }
      y2 += y * y;
      e2 += e * e;
    }
}

}  // namespace

TEST_CASE("ppocr_det: gptvq K=256 d=4 beats k-means on output SNR, in and out of sample", "[quant][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det.safetensors").value();
  auto c = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det_calib.safetensors").value();
  thread_pool pool(2);
  const bool print = std::getenv("MVQ_GPTVQ_PRINT") != nullptr;
  for (const std::string name : {"016_conv", "024_conv", "049_conv"}) {
    const auto* info = f.find(name);
    REQUIRE(info);
    const auto li = classify_layer(info->shape, 1);
    auto w = f.read_f32(name).value();
    auto x = c.read_f32(name).value();
    REQUIRE(x.size() % li.cols == 0);
    const std::size_t n = x.size() / li.cols, half = n / 2;
    const matrix_view<const float> wv(w.data(), li.rows, li.cols), xv(x.data(), n, li.cols);
    const auto h = gram(x, li.cols, 0, n);

    layer_stats g, km, g8;
    auto cg = gptvq(wv, h, {.vq = k256_d4}, pool, &g).value();
    auto ck = compress(wv, {.method = method::kmeans, .vq = k256_d4, .max_iter = 30}, xv, &km, pool).value();
    (void)gptvq(wv, h, {.vq = k256_d4, .codebook = codebook_dtype::i8}, pool, &g8).value();
    const double s_g = db(*g.output_norm2, *g.output_err2), s_k = db(*km.output_norm2, *km.output_err2);
    const double s_g8 = db(*g8.output_norm2, *g8.output_err2);
    // out of sample: H from the first half of the rows, SNR on the second half
    const auto h1 = gram(x, li.cols, 0, half);
    auto ch = gptvq(wv, h1, {.vq = k256_d4}, pool).value();
    double y2 = 0, eg = 0, ek = 0;
    output_energy(x, w, decompress(ch.view()), li.rows, li.cols, half, n, y2, eg);
    output_energy(x, w, decompress(ck.view()), li.rows, li.cols, half, n, y2, ek);
    INFO(name << " (" << li.rows << "×" << li.cols << ", " << n << " rows): output SNR gptvq " << s_g << " dB (i8 "
              << s_g8 << "), kmeans " << s_k << " dB; held out: gptvq " << db(y2, eg) << " dB, kmeans " << db(y2, ek)
              << " dB; weight SQNR gptvq " << db(g.weight_norm2, g.weight_err2) << ", kmeans "
              << db(km.weight_norm2, km.weight_err2) << "; " << g.seconds << " s");
    if (print)
      std::printf("%s %zux%zu: output SNR gptvq %.2f dB (i8 %.2f), kmeans %.2f; held out gptvq %.2f, kmeans %.2f; "
                  "weight SQNR gptvq %.2f, kmeans %.2f; gptvq %.2f s\n",
                  name.c_str(), li.rows, li.cols, s_g, s_g8, s_k, db(y2, eg), db(y2, ek),
                  db(g.weight_norm2, g.weight_err2), db(km.weight_norm2, km.weight_err2), g.seconds);
    CHECK(s_g > s_k + 1.0);
    CHECK(s_g8 > s_k + 1.0);
    CHECK(db(y2, eg) > db(y2, ek));
  }
}

TEST_CASE("ppocr_det 024_conv: gptvq with 2:4 beats compress(mvq) on output SNR", "[quant][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det.safetensors").value();
  auto c = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det_calib.safetensors").value();
  thread_pool pool(2);
  const std::string name = "024_conv";
  const auto li = classify_layer(f.find(name)->shape, 1);
  auto w = f.read_f32(name).value();
  auto x = c.read_f32(name).value();
  const std::size_t n = x.size() / li.cols;
  const matrix_view<const float> wv(w.data(), li.rows, li.cols), xv(x.data(), n, li.cols);
  const auto h = gram(x, li.cols, 0, n);
  layer_stats g, m;
  (void)gptvq(wv, h, {.vq = k256_d8, .nm = sparse_2_4}, pool, &g).value();
  (void)compress(wv, {.method = method::mvq, .vq = k256_d8, .nm = sparse_2_4, .max_iter = 30}, xv, &m, pool).value();
  const double s_g = db(*g.output_norm2, *g.output_err2), s_m = db(*m.output_norm2, *m.output_err2);
  INFO("2:4 K=256 d=8: gptvq " << s_g << " dB, mvq " << s_m << " dB");
  if (std::getenv("MVQ_GPTVQ_PRINT")) std::printf("%s 2:4 K=256 d=8: gptvq %.2f dB, mvq %.2f dB\n", name.c_str(), s_g, s_m);
  CHECK(s_g > s_m + 1.0);
}

TEST_CASE("ppocr_det: the importance weightings of gptvq on real layers", "[quant][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det.safetensors").value();
  auto c = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det_calib.safetensors").value();
  thread_pool pool(2);
  const gptvq_weighting ws[] = {gptvq_weighting::inverse_u_squared, gptvq_weighting::inverse_u, gptvq_weighting::u,
                                gptvq_weighting::reference, gptvq_weighting::obs_block};
  double logsum[5] = {0, 0, 0, 0, 0};
  int cases = 0;
  for (const std::string name : {"016_conv", "024_conv", "049_conv"}) {
    const auto li = classify_layer(f.find(name)->shape, 1);
    auto w = f.read_f32(name).value();
    auto x = c.read_f32(name).value();
    const std::size_t n = x.size() / li.cols;
    const matrix_view<const float> wv(w.data(), li.rows, li.cols);
    const auto h = gram(x, li.cols, 0, n);
    for (auto nm : {dense, sparse_2_4}) {
      double e[5];
      for (int i = 0; i < 5; ++i) {
        layer_stats st;
        (void)gptvq(wv, h, {.vq = k256_d4, .nm = nm, .weighting = ws[i]}, pool, &st).value();
        e[i] = *st.output_err2;
        logsum[i] += std::log(e[i] / e[0]);
      }
      ++cases;
      if (std::getenv("MVQ_GPTVQ_PRINT"))
        std::printf("%s %s: output error relative to 1/U²: 1/U %.4f  U %.4f  reference %.4f  obs_block %.4f\n",
                    name.c_str(), to_string(nm).c_str(), e[1] / e[0], e[2] / e[0], e[3] / e[0], e[4] / e[0]);
    }
  }
  double gm[5];
  for (int i = 0; i < 5; ++i) gm[i] = std::exp(logsum[i] / cases);
  if (std::getenv("MVQ_GPTVQ_PRINT"))
    std::printf("geometric mean relative to 1/U²: 1/U %.4f  U %.4f  reference %.4f  obs_block %.4f\n", gm[1], gm[2], gm[3],
                gm[4]);
  const int def = static_cast<int>(gptvq_weighting_default);
  for (int i = 0; i < 5; ++i) CHECK(gm[def] <= gm[i]);
}
