// compress(): exact zeros, reconstruction = mask ⊙ codeword, K clamp, codebook rounding, statistics, errors,
// thread-count independence, and the masked codebook gradient.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "mvq/quant/compress.hpp"
#include "mvq/quant/masked_gradient.hpp"

using namespace mvq;
using namespace mvq::quant;

namespace {
std::vector<float> gaussian(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(count);
  for (auto& x : v) x = g(rng);
  return v;
}

template <codebook_dtype C>
struct cb_tag {
  static constexpr codebook_dtype value = C;
};
using codebook_types = std::tuple<cb_tag<codebook_dtype::f32>, cb_tag<codebook_dtype::f16>, cb_tag<codebook_dtype::i8>>;
}  // namespace

TEMPLATE_LIST_TEST_CASE("mvq compress: pruned positions are exact zeros, kept ones are codeword entries",
                        "[quant][compress]", codebook_types) {
  const std::size_t rows = 48, cols = 96;
  auto w = gaussian(rows * cols, 1);
  matrix_view<const float> wv(w.data(), rows, cols);
  for (auto enc : {mask_encoding::pattern, mask_encoding::bitmap}) {
    compress_options o{.method = method::mvq, .vq = {64, 8}, .nm = {2, 4}, .masks = enc, .codebook = TestType::value};
    layer_stats st;
    auto cm = compress(wv, o, {}, &st).value();
    REQUIRE(validate(cm.view()));
    CHECK(cm.layout.k() == 64);
    CHECK(cm.layout.masks == enc);
    auto mask = nm_prune(wv, o.nm).value();
    auto what = decompress(cm.view());
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const float v = what[r * cols + c];
        if (!mask.kept(r, c)) {
          REQUIRE(v == 0.0f);
          REQUIRE(!std::signbit(v));
        } else {
          REQUIRE(v == cm.codebook[cm.view().index(r, c / 8) * 8 + c % 8]);
        }
      }
    double e2 = 0, n2 = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      e2 += (double(w[i]) - what[i]) * (double(w[i]) - what[i]);
      n2 += double(w[i]) * w[i];
    }
    CHECK(st.weight_err2 == Approx(e2).epsilon(1e-12));
    CHECK(st.weight_norm2 == Approx(n2).epsilon(1e-12));
    CHECK(st.k == 64);
    CHECK_FALSE(st.output_norm2);
  }
}

TEMPLATE_LIST_TEST_CASE("codebook rounding: f16 values are representable, i8 codes lie in [-127, 127]",
                        "[quant][compress][codebook]", codebook_types) {
  const std::size_t rows = 64, cols = 64;
  auto w = gaussian(rows * cols, 2);
  auto cm = compress(matrix_view<const float>(w.data(), rows, cols),
                     {.method = method::kmeans, .vq = {128, 4}, .codebook = TestType::value})
                .value();
  REQUIRE(validate(cm.view()));
  if constexpr (TestType::value == codebook_dtype::f16) {
    for (float v : cm.codebook) CHECK(from_f16(to_f16(v)) == v);
  } else if constexpr (TestType::value == codebook_dtype::i8) {
    REQUIRE(cm.codebook_i8.size() == cm.codebook.size());
    float amax = 0;
    bool hit_max = false;
    for (std::size_t i = 0; i < cm.codebook.size(); ++i) {
      CHECK(cm.codebook_i8[i] >= -127);
      CHECK(cm.codebook[i] == static_cast<float>(cm.codebook_i8[i]) * cm.codebook_scale);
      amax = std::max(amax, std::fabs(cm.codebook[i]));
      hit_max = hit_max || std::abs(int(cm.codebook_i8[i])) == 127;
    }
    CHECK(hit_max);  // the scale is max|c| / 127
  } else {
    CHECK(cm.codebook_i8.empty());
  }
}

TEST_CASE("round_codebook i8: symmetric grid, never -128, zero codebook", "[quant][codebook]") {
  std::vector<float> c = {-1.0f, 1.0f, 0.5f, -0.25f, 0.0f, 0.004f};
  auto r = round_codebook(c, codebook_dtype::i8);
  CHECK(r.scale == 1.0f / 127.0f);
  CHECK(r.codes[0] == -127);
  CHECK(r.codes[1] == 127);
  CHECK(r.codes[2] == 64);  // 63.5 rounds to even
  CHECK(r.codes[4] == 0);
  CHECK(r.codes[5] == 1);
  for (std::size_t i = 0; i < c.size(); ++i) CHECK(c[i] == static_cast<float>(r.codes[i]) * r.scale);
  std::vector<float> z(4, 0.0f);
  auto rz = round_codebook(z, codebook_dtype::i8);
  CHECK(rz.scale == 1.0f);
  for (auto q : rz.codes) CHECK(q == 0);
  std::vector<float> h = {1.0f + 0x1p-12f, 65504.0f, 1e-8f};
  round_codebook(h, codebook_dtype::f16);
  CHECK(h[0] == 1.0f);  // below half an f16 ulp: rounds down
  CHECK(h[1] == 65504.0f);
  CHECK(h[2] == 0.0f);
}

TEST_CASE("K is clamped for layers with few sub-vectors", "[quant][compress]") {
  CHECK(clamped_k(256, 100000) == 256);
  CHECK(clamped_k(256, 1024) == 256);
  CHECK(clamped_k(256, 1023) == 128);
  CHECK(clamped_k(256, 100) == 16);
  CHECK(clamped_k(256, 7) == 2);
  CHECK(clamped_k(256, 1) == 2);
  auto w = gaussian(16 * 32, 3);  // 16 rows × 4 sub-vectors of 8 = 64 sub-vectors → K = 16
  layer_stats st;
  auto cm = compress(matrix_view<const float>(w.data(), 16, 32), {.method = method::kmeans, .vq = {256, 8}}, {}, &st)
                .value();
  CHECK(cm.layout.k() == 16);
  CHECK(st.k == 16);
  CHECK(cm.codebook.size() == 16 * 8);
}

TEST_CASE("compress statistics with calibration rows", "[quant][compress]") {
  const std::size_t rows = 24, cols = 48, n = 20;
  auto w = gaussian(rows * cols, 4);
  auto x = gaussian(n * cols, 5);
  matrix_view<const float> wv(w.data(), rows, cols), xv(x.data(), n, cols);
  layer_stats st;
  auto cm = compress(wv, {.method = method::mvq, .vq = {32, 16}, .nm = {2, 4}}, xv, &st).value();
  auto what = decompress(cm.view());
  double y2 = 0, e2 = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t r = 0; r < rows; ++r) {
      double y = 0, e = 0;
      for (std::size_t c = 0; c < cols; ++c) {
        y += double(x[i * cols + c]) * w[r * cols + c];
        e += double(x[i * cols + c]) * (double(w[r * cols + c]) - what[r * cols + c]);
      }
      y2 += y * y;
      e2 += e * e;
    }
  REQUIRE(st.output_norm2);
  REQUIRE(st.output_err2);
  CHECK(*st.output_norm2 == Approx(y2).epsilon(1e-12));
  CHECK(*st.output_err2 == Approx(e2).epsilon(1e-12));
  CHECK(st.seconds >= 0);
  // activation-aware pruning: the masks follow |w|·‖x_col‖
  auto aware = nm_prune(wv, {2, 4}, xv).value();
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t g = 0; g < cols / 4; ++g) CHECK(cm.view().group_bitmap(r, g) == aware.group(r, g));
}

TEST_CASE("compress is bit-identical for any thread count", "[quant][compress]") {
  const std::size_t rows = 160, cols = 288;  // 5760 sub-vectors of 8: two 4096-point k-means chunks
  auto w = gaussian(rows * cols, 6);
  matrix_view<const float> wv(w.data(), rows, cols);
  for (auto m : {method::kmeans, method::mvq}) {
    compress_options o{.method = m, .vq = {16, 8}, .nm = m == method::mvq ? nm_pattern{2, 4} : nm_pattern{},
                       .codebook = codebook_dtype::i8, .seed = 5, .threads = 1, .max_iter = 4};
    auto ref = compress(wv, o).value();
    for (unsigned th : {2u, 3u, 7u}) {
      o.threads = th;
      auto got = compress(wv, o).value();
      CHECK(got.codebook == ref.codebook);
      CHECK(got.codebook_i8 == ref.codebook_i8);
      CHECK(got.indices == ref.indices);
      CHECK(got.masks == ref.masks);
    }
    thread_pool pool(2);  // an executor passed in: `threads` is not read
    o.threads = 1;
    auto got = compress(wv, o, {}, nullptr, pool).value();
    CHECK(got.codebook == ref.codebook);
    CHECK(got.indices == ref.indices);
    CHECK(got.masks == ref.masks);
  }
}

TEST_CASE("mvq beats plain VQ on the largest weights at equal K and d", "[quant][compress]") {
  // The MVQ motivation: codewords spent only on kept weights represent the large weights better.
  const std::size_t rows = 64, cols = 128;
  auto w = gaussian(rows * cols, 7);
  matrix_view<const float> wv(w.data(), rows, cols);
  auto vq = compress(wv, {.method = method::kmeans, .vq = {64, 8}}).value();
  auto mv = compress(wv, {.method = method::mvq, .vq = {64, 8}, .nm = {2, 4}}).value();
  auto a = decompress(vq.view()), b = decompress(mv.view());
  std::vector<float> mag(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) mag[i] = std::fabs(w[i]);
  auto sorted = mag;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(3 * w.size() / 4), sorted.end());
  const float thr = sorted[3 * w.size() / 4];
  double ea = 0, eb = 0;
  for (std::size_t i = 0; i < w.size(); ++i)
    if (mag[i] >= thr) {
      ea += (double(w[i]) - a[i]) * (double(w[i]) - a[i]);
      eb += (double(w[i]) - b[i]) * (double(w[i]) - b[i]);
    }
  CHECK(eb < ea);
}

TEST_CASE("compress rejects bad input with a message naming the problem", "[quant][compress][errors]") {
  auto w = gaussian(8 * 24, 8);
  matrix_view<const float> wv(w.data(), 8, 24);
  auto msg = [](auto const& r) { return r ? std::string() : r.error().message; };
  auto e1 = compress(wv, {.method = method::kmeans, .vq = {16, 16}});  // 24 % 16
  REQUIRE_FALSE(e1);
  CHECK(e1.error().code == errc::shape_mismatch);
  CHECK_THAT(msg(e1), Catch::Contains("multiple of d"));
  auto e2 = compress(wv, {.method = method::mvq, .vq = {16, 8}});  // mvq without N:M
  REQUIRE_FALSE(e2);
  CHECK_THAT(msg(e2), Catch::Contains("N:M"));
  auto e3 = compress(wv, {.method = method::mvq, .vq = {16, 4}, .nm = {2, 8}});  // d not a multiple of M
  REQUIRE_FALSE(e3);
  CHECK(e3.error().code == errc::unsupported);
  auto e4 = compress(wv, {.method = method::mvq, .vq = {16, 8}, .nm = {5, 4}});  // N > M
  REQUIRE_FALSE(e4);
  CHECK(e4.error().code == errc::unsupported);
  auto x = gaussian(5 * 20, 9);
  auto e5 = compress(wv, {.method = method::mvq, .vq = {16, 8}, .nm = {2, 4}},
                     matrix_view<const float>(x.data(), 5, 20));  // calib columns 20 ≠ 24
  REQUIRE_FALSE(e5);
  CHECK(e5.error().code == errc::shape_mismatch);
  CHECK_THAT(msg(e5), Catch::Contains("calibration"));
  CHECK_FALSE(compress(wv, {.method = method::kmeans, .vq = {100, 8}}));  // K not a power of two
  CHECK_FALSE(compress(wv, {.method = method::kmeans, .vq = {16, 24}}));  // d > 16: unsupported
  CHECK_FALSE(compress(wv, {.method = method::kmeans, .vq = {16, 8}, .nm = {2, 4}}));  // kmeans with N:M
  CHECK_FALSE(compress(wv, {.method = method::mvq, .vq = {16, 8}, .nm = {2, 4}, .masks = mask_encoding::none}));
  CHECK_FALSE(compress(matrix_view<const float>(), {.method = method::kmeans}));
  w[3] = std::numeric_limits<float>::infinity();
  CHECK_FALSE(compress(wv, {.method = method::kmeans, .vq = {16, 8}}));
}

TEST_CASE("masked codebook gradient: Σ over assigned sub-vectors of m ⊙ ∂L/∂ŵ", "[quant][gradient]") {
  const std::size_t rows = 16, cols = 32;
  auto w = gaussian(rows * cols, 10);
  auto cm = compress(matrix_view<const float>(w.data(), rows, cols), {.method = method::mvq, .vq = {8, 8}, .nm = {1, 4}})
                .value();
  auto gw = gaussian(rows * cols, 11);
  std::vector<float> gc(8 * 8);
  REQUIRE(masked_codebook_gradient(cm.view(), matrix_view<const float>(gw.data(), rows, cols), gc));
  // reference: finite structure via the decompressed mask (ŵ ≠ 0 ⇔ kept, for nonzero codewords) is fragile, so
  // rebuild the mask from the packed patterns directly
  std::vector<double> ref(8 * 8, 0.0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      bool kept = (cm.view().group_bitmap(r, c / 4) >> (c % 4)) & 1u;
      if (kept) ref[cm.view().index(r, c / 8) * 8 + c % 8] += gw[r * cols + c];
    }
  for (std::size_t i = 0; i < gc.size(); ++i) CHECK(gc[i] == Approx(ref[i]).margin(1e-5));
  std::vector<float> bad(7);
  CHECK_FALSE(masked_codebook_gradient(cm.view(), matrix_view<const float>(gw.data(), rows, cols), bad));
}
