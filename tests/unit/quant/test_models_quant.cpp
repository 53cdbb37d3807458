// compress() on real pretrained weights: a ppocr_det layer with its calibration rows, and a faceapi conv.
#include <catch2/catch.hpp>

#include <cmath>

#include "models.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/subvectors.hpp"

using namespace mvq;
using namespace mvq::quant;

namespace {
double db(double a, double b) { return 10.0 * std::log10(a / b); }
}  // namespace

TEST_CASE("ppocr_det 024_conv: mvq 2:4 with calibration rows, exact zeros, sensible SNRs", "[quant][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det.safetensors").value();
  auto c = io::safetensors_file::open(mvq_test::models_dir() / "ppocr_det_calib.safetensors").value();
  const auto* info = f.find("024_conv");
  REQUIRE(info);
  auto li = classify_layer(info->shape, 1);
  REQUIRE(li.kind == layer_kind::conv);
  auto w = f.read_f32("024_conv").value();
  auto x = c.read_f32("024_conv").value();
  REQUIRE(x.size() % li.cols == 0);
  matrix_view<const float> wv(w.data(), li.rows, li.cols), xv(x.data(), x.size() / li.cols, li.cols);
  layer_stats st;
  compress_options o{.method = method::mvq, .vq = {64, 16}, .nm = {2, 4}, .codebook = codebook_dtype::i8,
                     .threads = 2, .max_iter = 10};
  auto cm = compress(wv, o, xv, &st).value();
  REQUIRE(validate(cm.view()));
  CHECK(st.k == 64);
  REQUIRE(st.output_norm2);
  auto what = decompress(cm.view());
  std::size_t zeros = 0;
  for (float v : what) zeros += v == 0.0f;
  CHECK(zeros >= what.size() / 2);  // every 2:4 group has two exact zeros
  const double wsqnr = db(st.weight_norm2, st.weight_err2), osnr = db(*st.output_norm2, *st.output_err2);
  INFO("weight SQNR " << wsqnr << " dB, output SNR " << osnr << " dB");
  CHECK(wsqnr > 2.0);
  CHECK(osnr > 3.0);  // a broken codebook or wrong statistics land near 0 dB
  // the same run without calibration rows prunes by |w| only and reports no output statistics
  layer_stats plain;
  auto cm2 = compress(wv, o, {}, &plain).value();
  CHECK_FALSE(plain.output_norm2);
  CHECK(cm2.masks != cm.masks);
}

TEST_CASE("faceapi conv: kmeans at 1 index bit/weight reaches a sensible SQNR", "[quant][models]") {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / "faceapi_resnet34.safetensors").value();
  const std::string name = "conv128_1/conv1/conv/filters";
  const auto* info = f.find(name);
  REQUIRE(info);
  auto li = classify_layer(info->shape);
  REQUIRE(li.kind == layer_kind::conv);
  auto w = f.read_f32(name).value();
  layer_stats st;
  auto cm = compress(matrix_view<const float>(w.data(), li.rows, li.cols),
                     {.method = method::kmeans, .vq = {256, 8}, .threads = 2, .max_iter = 10}, {}, &st)
                .value();
  CHECK(cm.layout.k() == 256);
  const double wsqnr = db(st.weight_norm2, st.weight_err2);
  INFO("weight SQNR " << wsqnr << " dB");
  CHECK(wsqnr > 4.0);
  CHECK(wsqnr < 30.0);
}
