// GPTQ and round-to-nearest for scalar weights (quant/gptq.hpp) and the scalar layer type they produce
// (core/scalar_matrix.hpp): a hand-derived layer, the H = I identity with round-to-nearest, the output error
// against round-to-nearest, act-order, thread-count and block-size independence, an obviously-correct
// unblocked reference with explicit OBS updates of H⁻¹, and every rejected input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/calibration.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/scalar_matrix.hpp"
#include "mvq/quant/gptq.hpp"
#include "mvq/quant/linalg.hpp"

using namespace mvq;
using quant::gptq_options;

namespace {

bool verbose() { return std::getenv("MVQ_TEST_VERBOSE") != nullptr; }

std::vector<float> random_weights(std::size_t rows, std::size_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> w(rows * cols);
  for (auto& v : w) v = g(rng);
  return w;
}

// H = XᵀX of n rows with correlated columns of unequal energy: X = Z·A·diag(s), Z and A standard normal.
std::vector<double> correlated_gram(std::size_t n, std::size_t cols, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> a(cols * cols), s(cols), x(n * cols, 0.0);
  for (auto& v : a) v = g(rng);
  for (auto& v : s) v = std::exp(u(rng));
  for (std::size_t r = 0; r < n; ++r) {
    std::vector<double> z(cols);
    for (auto& v : z) v = g(rng);
    for (std::size_t k = 0; k < cols; ++k)
      for (std::size_t j = 0; j < cols; ++j) x[r * cols + j] += z[k] * a[k * cols + j];
  }
  std::vector<double> h(cols * cols, 0.0);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t i = 0; i < cols; ++i)
      for (std::size_t j = 0; j < cols; ++j) h[i * cols + j] += x[r * cols + i] * s[i] * x[r * cols + j] * s[j];
  return h;
}

std::vector<double> identity_gram(std::size_t n) {
  std::vector<double> h(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) h[i * n + i] = 1.0;
  return h;
}

matrix_view<const float> view_of(std::vector<float> const& w, std::size_t rows, std::size_t cols) {
  return {w.data(), rows, cols};
}

// tr(E H Eᵀ) with E = W − Ŵ, directly, in long double.
double output_error(std::vector<float> const& w, std::vector<float> const& what, std::vector<double> const& h,
                    std::size_t cols) {
  long double s = 0;
  for (std::size_t r = 0; r < w.size() / cols; ++r)
    for (std::size_t i = 0; i < cols; ++i)
      for (std::size_t j = 0; j < cols; ++j)
        s += static_cast<long double>(w[r * cols + i] - what[r * cols + i]) * h[i * cols + j] *
             static_cast<long double>(w[r * cols + j] - what[r * cols + j]);
  return static_cast<double>(s);
}

std::vector<std::uint32_t> all_codes(scalar_matrix const& m) {
  std::vector<std::uint32_t> q;
  for (std::size_t r = 0; r < m.layout.rows; ++r)
    for (std::size_t c = 0; c < m.layout.cols; ++c) q.push_back(m.view().code(r, c));
  return q;
}

// ---- The independent reference: GPTQ as Optimal Brain Quantization, one column at a time, with the inverse
// Hessian kept explicitly and updated by the OBS elimination after every column (Frantar et al., 2023, eq. 2–3;
// Frantar & Alistarh, Optimal Brain Compression, 2022). No blocking, no lazy updates, no Cholesky.

struct ref_params {
  float scale;
  int zero;
};

ref_params ref_find_params(std::vector<double> const& x, unsigned bits, bool symmetric) {
  const double maxq = std::ldexp(1.0, static_cast<int>(bits)) - 1.0;
  double lo = 0.0, hi = 0.0;
  for (double v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (symmetric) {
    double a = std::max(std::abs(lo), std::abs(hi));
    if (a == 0.0) a = 1.0;
    return {static_cast<float>(2.0 * a / maxq), 1 << (bits - 1)};
  }
  if (lo == 0.0 && hi == 0.0) lo = -1.0, hi = 1.0;
  const float s = static_cast<float>((hi - lo) / maxq);
  return {s, static_cast<int>(std::clamp(std::nearbyint(-lo / s), 0.0, maxq))};
}

int ref_quantize(double w, ref_params p, unsigned bits) {
  const int maxq = (1 << bits) - 1;
  return std::clamp(static_cast<int>(std::nearbyint(w / p.scale)) + p.zero, 0, maxq);
}

// Gauss–Jordan inverse with partial pivoting, in long double.
std::vector<long double> ref_inverse(std::vector<long double> a, std::size_t n) {
  std::vector<long double> inv(n * n, 0.0L);
  for (std::size_t i = 0; i < n; ++i) inv[i * n + i] = 1.0L;
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    for (std::size_t k = 0; k < n; ++k) {
      std::swap(a[c * n + k], a[p * n + k]);
      std::swap(inv[c * n + k], inv[p * n + k]);
    }
    const long double d = a[c * n + c];
    for (std::size_t k = 0; k < n; ++k) {
      a[c * n + k] /= d;
      inv[c * n + k] /= d;
    }
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const long double f = a[r * n + c];
      for (std::size_t k = 0; k < n; ++k) {
        a[r * n + k] -= f * a[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return inv;
}

struct ref_result {
  std::vector<int> codes;       // rows × cols, original order
  std::vector<float> decoded;   // rows × cols
};

ref_result reference_gptq(std::vector<float> const& w, std::size_t rows, std::size_t n, std::vector<double> const& h,
                          gptq_options const& o) {
  const std::size_t gs = o.group ? o.group : n;
  // Dead inputs: H_jj = 1, their weights 0.
  std::vector<bool> dead(n);
  for (std::size_t j = 0; j < n; ++j) dead[j] = h[j * n + j] == 0.0;
  std::vector<double> wz(w.begin(), w.end());
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < n; ++j)
      if (dead[j]) wz[r * n + j] = 0.0;
  std::vector<double> hd(h);
  double mean = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (dead[j]) hd[j * n + j] = 1.0;
    mean += hd[j * n + j];
  }
  mean /= static_cast<double>(n);
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  if (o.act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](std::size_t a, std::size_t b) { return hd[a * n + a] > hd[b * n + b]; });
  // Hinv of the damped, permuted H.
  std::vector<long double> hp(n * n);
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = 0; b < n; ++b) hp[a * n + b] = hd[perm[a] * n + perm[b]] + (a == b ? o.percdamp * mean : 0.0);
  auto hinv = ref_inverse(hp, n);

  ref_result out{std::vector<int>(rows * n), std::vector<float>(rows * n)};
  std::vector<std::vector<double>> cur(rows, std::vector<double>(n));  // processing order
  std::vector<std::vector<ref_params>> params(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t k = 0; k < n; ++k) cur[r][k] = wz[r * n + perm[k]];
    if (o.group == 0 || o.act_order)  // per-row, or act-order's static groups in the original order
      for (std::size_t g = 0; g < n / gs; ++g)
        params[r].push_back(ref_find_params({wz.begin() + static_cast<std::ptrdiff_t>(r * n + g * gs),
                                             wz.begin() + static_cast<std::ptrdiff_t>(r * n + (g + 1) * gs)},
                                            o.bits, o.symmetric));
    else
      params[r].resize(n / gs);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = perm[i];
    for (std::size_t r = 0; r < rows; ++r) {
      if (o.group != 0 && !o.act_order && i % gs == 0)
        params[r][i / gs] = ref_find_params({cur[r].begin() + static_cast<std::ptrdiff_t>(i),
                                             cur[r].begin() + static_cast<std::ptrdiff_t>(i + gs)},
                                            o.bits, o.symmetric);
      const ref_params p = params[r][c / gs];
      const int q = ref_quantize(cur[r][i], p, o.bits);
      const float deq = p.scale * static_cast<float>(q - p.zero);
      out.codes[r * n + c] = q;
      out.decoded[r * n + c] = deq;
      // OBS: δ = −(w_i − q_i) / [H⁻¹]_ii · H⁻¹[i, :]
      const double e = (cur[r][i] - static_cast<double>(deq)) / static_cast<double>(hinv[i * n + i]);
      for (std::size_t j = i + 1; j < n; ++j) cur[r][j] -= e * static_cast<double>(hinv[i * n + j]);
    }
    // Eliminate column i from the inverse: H⁻¹ −= H⁻¹[:, i] H⁻¹[i, :] / H⁻¹_ii.
    const long double d = hinv[i * n + i];
    for (std::size_t a = i + 1; a < n; ++a)
      for (std::size_t b = i + 1; b < n; ++b) hinv[a * n + b] -= hinv[a * n + i] * hinv[i * n + b] / d;
  }
  return out;
}

}  // namespace

TEST_CASE("scalar layout: sizes and stored bits are counted honestly", "[gptq]") {
  scalar_layout l{.rows = 3, .cols = 10, .bits = 3, .group = 0, .symmetric = true};
  REQUIRE(validate(l));
  CHECK(l.groups_per_row() == 1);
  CHECK(l.code_bytes_per_row() == 4);  // 30 bits → 4 bytes
  CHECK(l.stored_bits() == 3 * 4 * 8 + 3 * 32);
  l.symmetric = false;
  l.group = 5;
  REQUIRE(validate(l));
  CHECK(l.groups_per_row() == 2);
  CHECK(l.stored_bits() == 3 * 4 * 8 + 6 * (32 + 8));
  CHECK(l.bits_per_weight() == Approx(static_cast<double>(3 * 32 + 6 * 40) / 30.0));
  l.group = 4;
  auto bad = validate(l);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("group of 4 columns does not divide the row length 10") != std::string::npos);
  l.group = 0;
  l.bits = 9;
  REQUIRE_FALSE(validate(l));
  l.bits = 1;
  REQUIRE_FALSE(validate(l));
}

TEST_CASE("scalar decompress round-trips codes for every width and odd row lengths", "[gptq]") {
  std::mt19937 rng(7);
  for (unsigned bits = 2; bits <= 8; ++bits) {
    for (std::size_t cols : {1u, 3u, 7u, 13u, 33u}) {
      for (bool sym : {true, false}) {
        const std::uint32_t group = cols == 33 ? 11 : 0;
        scalar_layout l{.rows = 3, .cols = cols, .bits = static_cast<std::uint8_t>(bits), .group = group,
                        .symmetric = sym};
        auto m = scalar_matrix::allocate(l).value();
        std::vector<std::uint32_t> q(l.rows * cols);
        for (auto& v : q) v = static_cast<std::uint32_t>(rng() % (1u << bits));
        for (std::size_t r = 0; r < l.rows; ++r)
          pack_bits(std::span<const std::uint32_t>(q).subspan(r * cols, cols), bits,
                    std::span(m.codes).subspan(r * l.code_bytes_per_row(), l.code_bytes_per_row()));
        for (auto& s : m.scales) s = 0.01f * static_cast<float>(1 + rng() % 100);
        for (auto& z : m.zeros) z = static_cast<std::uint8_t>(rng() % (1u << bits));
        REQUIRE(validate(m.view()));
        auto d = decompress(m.view());
        INFO("bits " << bits << " cols " << cols << " sym " << sym);
        for (std::size_t r = 0; r < l.rows; ++r) {
          for (std::size_t c = 0; c < cols; ++c) {
            const std::size_t g = c / l.group_size();
            const int zero = sym ? 1 << (bits - 1) : m.zeros[r * l.groups_per_row() + g];
            CHECK(m.view().code(r, c) == q[r * cols + c]);
            CHECK(d[r * cols + c] ==
                  m.scales[r * l.groups_per_row() + g] * static_cast<float>(static_cast<int>(q[r * cols + c]) - zero));
          }
          // the padding bits of each row's last byte are zero
          const unsigned used = static_cast<unsigned>(cols * bits % 8);
          if (used != 0) CHECK((m.codes[(r + 1) * l.code_bytes_per_row() - 1] >> used) == 0);
        }
        if (!sym) {
          auto bad = m;
          bad.zeros[1 % bad.zeros.size()] = static_cast<std::uint8_t>(bits == 8 ? 255 : 1u << bits);
          if (bits < 8) CHECK_FALSE(validate(bad.view()));
        }
        auto nan = m;
        nan.scales[0] = std::nanf("");
        CHECK_FALSE(validate(nan.view()));
      }
    }
  }
}

TEST_CASE("gptq: a 2 × 3 layer at 2 bits, derived by hand", "[gptq]") {
  // U = [[1, ½, 0], [0, 1, ½], [0, 0, 1]] and H = U⁻¹U⁻ᵀ, so H⁻¹ = UᵀU exactly (all entries dyadic); percdamp 0.
  const std::vector<double> h{1.3125, -0.625, 0.25, -0.625, 1.25, -0.5, 0.25, -0.5, 1.0};
  auto f = quant::gptq_inverse_factor(h, 3, 0.0, serial_executor{});
  REQUIRE(f);
  CHECK(f->u == std::vector<double>{1, 0.5, 0, 0, 1, 0.5, 0, 0, 1});
  // 2-bit symmetric, one scale per row: zero = 2, scale = 2·max|w|/3 = 1 for both rows, grid q − 2 ∈ {−2, −1, 0, 1}.
  // Row 0, w = [0.625, 0.375, −1.5]:
  //   col 0: round(0.625) = 1 → q = 3, ŵ = 1, e = (0.625 − 1)/U00 = −0.375; w1 −= e·U01 → 0.5625; w2 −= e·0 → −1.5
  //   col 1: round(0.5625) = 1 → q = 3, ŵ = 1, e = −0.4375; w2 −= e·U12 → −1.28125
  //   col 2: round(−1.28125) = −1 → q = 1, ŵ = −1
  //   round-to-nearest instead: [3, 2, 0] (0.375 → 0, −1.5 → −2: half to even).
  // Row 1, w = [−0.5, 1.5, 0.25]:
  //   col 0: round(−0.5) = −0 (half to even) → q = 2, ŵ = 0, e = −0.5; w1 → 1.75; w2 → 0.25
  //   col 1: round(1.75) = 2 → q = 4, clamped to 3, ŵ = 1, e = 0.75; w2 → 0.25 − 0.375 = −0.125
  //   col 2: round(−0.125) = 0 → q = 2, ŵ = 0
  // Packed 2-bit LSB-first: row 0 = 3 | 3<<2 | 1<<4 = 0x1F, row 1 = 2 | 3<<2 | 2<<4 = 0x2E.
  const std::vector<float> w{0.625f, 0.375f, -1.5f, -0.5f, 1.5f, 0.25f};
  gptq_options o{.bits = 2, .group = 0, .symmetric = true, .percdamp = 0.0};
  auto q = quant::gptq(view_of(w, 2, 3), h, o);
  REQUIRE(q);
  CHECK(q->codes == std::vector<std::uint8_t>{0x1F, 0x2E});
  CHECK(q->scales == std::vector<float>{1.0f, 1.0f});
  CHECK(q->zeros.empty());
  CHECK(decompress(q->view()) == std::vector<float>{1, 1, -1, 0, 1, 0});
  auto rtn = quant::round_to_nearest(view_of(w, 2, 3), o);
  REQUIRE(rtn);
  CHECK(all_codes(*rtn) == std::vector<std::uint32_t>{3, 2, 0, 2, 3, 2});
  const double e_gptq = output_error(w, decompress(q->view()), h, 3);
  const double e_rtn = output_error(w, decompress(rtn->view()), h, 3);
  CHECK(e_gptq < e_rtn);
  // The same layer with a block of one column: the lazy updates carry everything, same result.
  o.block = 1;
  auto q1 = quant::gptq(view_of(w, 2, 3), h, o);
  REQUIRE(q1);
  CHECK(q1->codes == q->codes);
}

TEST_CASE("round_to_nearest: a 3-bit affine row, derived by hand", "[gptq]") {
  // w = [−1, 0.5, 2.5, 1]: range [−1, 2.5], scale = 3.5/7 = 0.5, zero = round(1/0.5) = 2;
  // codes = w/0.5 + 2 = [0, 3, 7, 4]; 3-bit LSB-first: 0 | 3<<3 | 7<<6 | 4<<9 = 0x09D8 → bytes D8 09.
  const std::vector<float> w{-1.0f, 0.5f, 2.5f, 1.0f};
  gptq_options o{.bits = 3, .group = 0, .symmetric = false};
  auto q = quant::round_to_nearest(view_of(w, 1, 4), o);
  REQUIRE(q);
  CHECK(q->codes == std::vector<std::uint8_t>{0xD8, 0x09});
  CHECK(q->scales == std::vector<float>{0.5f});
  CHECK(q->zeros == std::vector<std::uint8_t>{2});
  CHECK(decompress(q->view()) == w);
  // With H = I, GPTQ has nothing to feed back: the same codes.
  auto g = quant::gptq(view_of(w, 1, 4), identity_gram(4), o);
  REQUIRE(g);
  CHECK(g->codes == q->codes);
}

TEST_CASE("gptq with H = I is round-to-nearest, exactly", "[gptq]") {
  const std::size_t rows = 13, cols = 96;
  auto w = random_weights(rows, cols, 11);
  auto h = identity_gram(cols);
  for (unsigned bits : {2u, 3u, 4u, 8u})
    for (std::uint32_t group : {0u, 32u})
      for (bool sym : {true, false})
        for (bool act : {false, true}) {
          gptq_options o{.bits = bits, .group = group, .symmetric = sym, .act_order = act};
          auto g = quant::gptq(view_of(w, rows, cols), h, o);
          auto r = quant::round_to_nearest(view_of(w, rows, cols), o);
          REQUIRE(g);
          REQUIRE(r);
          INFO("bits " << bits << " group " << group << " sym " << sym << " act " << act);
          CHECK(g->codes == r->codes);
          CHECK(g->scales == r->scales);
          CHECK(g->zeros == r->zeros);
        }
}

TEST_CASE("gptq lowers the output error of round-to-nearest on correlated inputs", "[gptq]") {
  const std::size_t rows = 24, cols = 128;
  auto w = random_weights(rows, cols, 21);
  auto h = correlated_gram(512, cols, 22);
  auto wv = view_of(w, rows, cols);
  for (unsigned bits : {2u, 3u, 4u})
    for (std::uint32_t group : {0u, 32u, 64u})
      for (bool sym : {true, false})
        for (bool act : {false, true}) {
          gptq_options o{.bits = bits, .group = group, .symmetric = sym, .act_order = act};
          auto g = quant::gptq(wv, h, o);
          auto r = quant::round_to_nearest(wv, o);
          REQUIRE(g);
          REQUIRE(r);
          REQUIRE(validate(g->view()));
          const double eg = output_error(w, decompress(g->view()), h, cols);
          const double er = output_error(w, decompress(r->view()), h, cols);
          INFO("bits " << bits << " group " << group << " sym " << sym << " act " << act << ": GPTQ/RTN = " << eg / er);
          if (verbose())
            std::printf("gptq/rtn output error  bits %u  group %3u  %s  act_order %d: %.3f\n", bits, group,
                        sym ? "symmetric" : "affine   ", act ? 1 : 0, eg / er);
          // GPTQ at 2 bits with small per-group scales gains least (scales then follow the updated weights).
          CHECK(eg < (bits == 2 ? 1.0 : 0.7) * er);
        }
}

TEST_CASE("gptq: act_order on and off both decode to their own codes and differ only in order", "[gptq]") {
  const std::size_t rows = 9, cols = 64;
  auto w = random_weights(rows, cols, 31);
  auto h = correlated_gram(256, cols, 32);
  for (std::uint32_t group : {0u, 16u}) {
    gptq_options o{.bits = 3, .group = group, .symmetric = false};
    auto off = quant::gptq(view_of(w, rows, cols), h, o);
    o.act_order = true;
    auto on = quant::gptq(view_of(w, rows, cols), h, o);
    REQUIRE(off);
    REQUIRE(on);
    for (auto const* m : {&*off, &*on}) {
      REQUIRE(validate(m->view()));
      auto d = decompress(m->view());
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
          const std::size_t g = c / m->layout.group_size();
          CHECK(d[r * cols + c] == m->scales[r * m->layout.groups_per_row() + g] *
                                       static_cast<float>(static_cast<int>(m->view().code(r, c)) -
                                                          static_cast<int>(m->zeros[r * m->layout.groups_per_row() + g])));
        }
    }
    CHECK(on->codes != off->codes);  // the diagonal of this H is far from constant, so the order matters
    // With static groups the scales come from the original weights, as round-to-nearest's do.
    if (group != 0) CHECK(on->scales == quant::round_to_nearest(view_of(w, rows, cols), o)->scales);
  }
}

TEST_CASE("gptq and round_to_nearest are bit-identical for 1, 2 and 3 threads", "[gptq]") {
  const std::size_t rows = 37, cols = 96;
  auto w = random_weights(rows, cols, 41);
  auto h = correlated_gram(200, cols, 42);
  for (bool act : {false, true})
    for (std::uint32_t group : {0u, 32u}) {
      gptq_options o{.bits = 4, .group = group, .symmetric = act, .act_order = act};
      auto ref = quant::gptq(view_of(w, rows, cols), h, o).value();
      for (std::size_t threads : {1u, 2u, 3u}) {
        thread_pool pool(threads);
        auto g = quant::gptq(view_of(w, rows, cols), h, o, pool);
        REQUIRE(g);
        CHECK(g->codes == ref.codes);
        CHECK(g->scales == ref.scales);
        CHECK(g->zeros == ref.zeros);
        auto r = quant::round_to_nearest(view_of(w, rows, cols), o, pool);
        REQUIRE(r);
        CHECK(r->codes == quant::round_to_nearest(view_of(w, rows, cols), o)->codes);
      }
    }
}

TEST_CASE("gptq: the block size does not change the result", "[gptq]") {
  const std::size_t rows = 10, cols = 96;
  auto w = random_weights(rows, cols, 51);
  auto h = correlated_gram(300, cols, 52);
  for (std::uint32_t group : {0u, 32u}) {
    gptq_options o{.bits = 3, .group = group, .symmetric = true};
    auto ref = quant::gptq(view_of(w, rows, cols), h, o).value();
    for (std::size_t block : {std::size_t{1}, std::size_t{7}, std::size_t{32}, std::size_t{40}, std::size_t{1000},
                              std::numeric_limits<std::size_t>::max()}) {
      o.block = block;
      auto g = quant::gptq(view_of(w, rows, cols), h, o);
      REQUIRE(g);
      INFO("block " << block << " group " << group);
      CHECK(all_codes(*g) == all_codes(ref));
      auto a = decompress(g->view()), b = decompress(ref.view());
      for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).epsilon(1e-6).margin(1e-6));
    }
  }
}

TEST_CASE("gptq agrees with the unblocked OBS reference (explicit H⁻¹, eliminated column by column)", "[gptq]") {
  const std::size_t rows = 12, cols = 64;
  auto w = random_weights(rows, cols, 61);
  auto h = correlated_gram(256, cols, 62);
  // One dead input: its H row and column are zero.
  for (std::size_t j = 0; j < cols; ++j) h[5 * cols + j] = h[j * cols + 5] = 0.0;
  std::size_t cases = 0, mismatched = 0, total = 0;
  for (unsigned bits : {2u, 3u, 4u, 8u})
    for (std::uint32_t group : {0u, 16u})
      for (bool sym : {true, false})
        for (bool act : {false, true}) {
          gptq_options o{.bits = bits, .group = group, .symmetric = sym, .block = 24, .act_order = act};
          auto g = quant::gptq(view_of(w, rows, cols), h, o);
          REQUIRE(g);
          auto ref = reference_gptq(w, rows, cols, h, o);
          auto codes = all_codes(*g);
          auto dec = decompress(g->view());
          INFO("bits " << bits << " group " << group << " sym " << sym << " act " << act);
          for (std::size_t i = 0; i < codes.size(); ++i) {
            mismatched += codes[i] != static_cast<std::uint32_t>(ref.codes[i]);
            CHECK(dec[i] == Approx(ref.decoded[i]).epsilon(1e-5).margin(1e-6));
          }
          for (std::size_t r = 0; r < rows; ++r) CHECK(dec[r * cols + 5] == 0.0f);  // the dead column decodes to 0
          total += codes.size();
          ++cases;
        }
  if (verbose()) std::printf("gptq vs OBS reference: %zu of %zu codes differ over %zu cases\n", mismatched, total, cases);
  CHECK(mismatched == 0);
}

TEST_CASE("gptq and round_to_nearest reject bad input with an error naming it", "[gptq]") {
  const std::size_t rows = 4, cols = 32;
  auto w = random_weights(rows, cols, 71);
  auto h = correlated_gram(64, cols, 72);
  auto wv = view_of(w, rows, cols);
  auto expect = [](auto const& r, const char* fragment) {
    INFO("expected an error containing: " << fragment);
    REQUIRE_FALSE(r);
    INFO(r.error().what());
    CHECK(r.error().message.find(fragment) != std::string::npos);
  };
  expect(quant::gptq(wv, h, gptq_options{.bits = 1}), "bits = 1 is outside 2…8");
  expect(quant::gptq(wv, h, gptq_options{.bits = 9}), "bits = 9 is outside 2…8");
  expect(quant::round_to_nearest(wv, gptq_options{.bits = 9}), "bits = 9");
  expect(quant::gptq(wv, h, gptq_options{.group = 12}), "group of 12 columns does not divide the row length 32");
  expect(quant::round_to_nearest(wv, gptq_options{.group = 64}), "does not divide the row length 32");
  expect(quant::gptq(wv, std::span<const double>(h).first(cols * cols - 1), gptq_options{}), "H has 1023 elements");
  expect(quant::gptq(wv, std::vector<double>(16, 1.0), gptq_options{}), "needs 1024");
  expect(quant::gptq(matrix_view<const float>(w.data(), 0, cols), h, gptq_options{}), "empty");
  expect(quant::gptq(matrix_view<const float>(w.data(), rows, 0), std::span<const double>{}, gptq_options{}), "empty");
  expect(quant::gptq(wv, h, gptq_options{.block = 0}), "block must be at least 1");
  expect(quant::gptq(wv, h, gptq_options{.percdamp = -0.5}), "percdamp");
  auto wn = w;
  wn[2 * cols + 7] = std::nanf("");
  expect(quant::gptq(view_of(wn, rows, cols), h, gptq_options{}), "weight (2, 7) is not finite");
  expect(quant::round_to_nearest(view_of(wn, rows, cols), gptq_options{}), "weight (2, 7) is not finite");
  auto hn = h;
  hn[3 * cols + 4] = std::numeric_limits<double>::infinity();
  expect(quant::gptq(wv, hn, gptq_options{}), "H(3, 4) is not finite");
  auto hneg = identity_gram(cols);
  hneg[0] = -1.0;
  expect(quant::gptq(wv, hneg, gptq_options{}), "negative diagonal");
  // Not a Gram matrix: indefinite even after damping.
  auto hind = identity_gram(cols);
  hind[1] = hind[cols] = 1e9;  // λ grows to at most 0.01 · 10⁵ · mean(diag H) = 1000
  expect(quant::gptq(wv, hind, gptq_options{}), "not positive definite");
}

TEST_CASE("gptq on calibration statistics: a zero-data calibration gives round-to-nearest", "[gptq]") {
  const std::size_t rows = 5, cols = 48;
  auto w = random_weights(rows, cols, 81);
  auto cal = calibration::identity(cols);
  REQUIRE(cal);
  gptq_options o{.bits = 4, .group = 16, .symmetric = false};
  auto g = quant::gptq(view_of(w, rows, cols), cal->gram(), o);
  REQUIRE(g);
  CHECK(g->codes == quant::round_to_nearest(view_of(w, rows, cols), o)->codes);
}
