// The processing element: operand and accumulator widths in every dataflow, and the fit of compressed weights.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/hw/cycle_sim.hpp"
#include "mvq/hw/processing_element.hpp"
#include "mvq/hw/systolic_array.hpp"
#include "mvq/kernel/int8.hpp"

using namespace mvq::hw;
using mvq::matrix_view;

namespace {

/// Obviously correct: the exact dot product (int64), then reduced to `acc_bits`-bit two's complement by
/// arithmetic modulo 2^acc_bits (no bit tricks).
std::vector<std::int64_t> reference_wrapped(std::vector<std::int8_t> const& x, std::vector<std::int8_t> const& w,
                                            std::size_t m, std::size_t n, std::size_t k, unsigned acc_bits) {
  const std::int64_t mod = std::int64_t{1} << acc_bits, half = mod / 2;
  std::vector<std::int64_t> out(m * n);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      std::int64_t s = 0;
      for (std::size_t t = 0; t < k; ++t) s += std::int64_t{x[i * k + t]} * w[j * k + t];
      std::int64_t r = s % mod;
      if (r < 0) r += mod;
      if (r >= half) r -= mod;
      out[i * n + j] = r;
    }
  return out;
}

std::vector<std::int8_t> random_operands(std::size_t n, std::mt19937_64& rng, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<std::int8_t> v(n);
  for (auto& e : v) e = static_cast<std::int8_t>(d(rng));
  return v;
}

template <array_config C>
struct cfg_t {
  static constexpr array_config value = C;
};
// 4-bit operands, 12-bit accumulators in every dataflow; an 8-bit × 16-bit array; a 40-bit accumulator.
constexpr array_config ws_4_12{.rows = 5, .cols = 3, .operand_bits = 4, .accumulator_bits = 12};
constexpr array_config os_4_12{.rows = 3, .cols = 4, .flow = dataflow::output_stationary, .operand_bits = 4,
                               .accumulator_bits = 12};
constexpr array_config is_4_12{.rows = 4, .cols = 5, .flow = dataflow::input_stationary, .operand_bits = 4,
                               .accumulator_bits = 12};
constexpr array_config ews_4_12{.rows = 3, .cols = 3, .flow = dataflow::enhanced_weight_stationary,
                                .operand_bits = 4, .accumulator_bits = 12, .wrf_depth = 3};
constexpr array_config os_8_16{.rows = 4, .cols = 4, .flow = dataflow::output_stationary, .operand_bits = 8,
                               .accumulator_bits = 16};
constexpr array_config ws_8_40{.rows = 4, .cols = 4, .operand_bits = 8, .accumulator_bits = 40};
using narrow_list = std::tuple<cfg_t<ws_4_12>, cfg_t<os_4_12>, cfg_t<is_4_12>, cfg_t<ews_4_12>, cfg_t<os_8_16>,
                               cfg_t<ws_8_40>>;

}  // namespace

TEST_CASE("processing element: operands keep their low bits, sums wrap at the accumulator width", "[hw][pe]") {
  using pe = processing_element<mvq::kernel::kernel_config{.operand_bits = 4, .accumulator_bits = 12}>;
  STATIC_REQUIRE(std::is_same_v<pe::accumulator_type, std::int32_t>);
  STATIC_REQUIRE(pe::fits(7) && pe::fits(-8) && !pe::fits(8) && !pe::fits(-9));
  STATIC_REQUIRE(pe::operand(8) == -8);
  STATIC_REQUIRE(pe::operand(-9) == 7);
  STATIC_REQUIRE(pe::add(2047, 1) == -2048);
  STATIC_REQUIRE(pe::add(-2048, -1) == 2047);
  STATIC_REQUIRE(pe::mac(2000, 7, 7) == 2049 - 4096);
  using i8 = int8_processing_element;
  STATIC_REQUIRE(i8::mac(2147483647 - 1, 1, 1) == 2147483647);
  STATIC_REQUIRE(i8::add(2147483647, 1) == -2147483647 - 1);
  using wide = processing_element<mvq::kernel::kernel_config{.operand_bits = 8, .accumulator_bits = 40}>;
  STATIC_REQUIRE(std::is_same_v<wide::accumulator_type, std::int64_t>);
  STATIC_REQUIRE(wide::add((std::int64_t{1} << 39) - 1, 1) == -(std::int64_t{1} << 39));
  const auto dyn = dynamic_processing_element::of(pe::config);
  for (std::int64_t a = -2100; a <= 2100; a += 7)
    for (std::int32_t x = -8; x <= 7; ++x) CHECK(dyn.mac(a, x, -5) == pe::mac(a, x, -5));
}

TEMPLATE_LIST_TEST_CASE("cycle-stepped: narrow operands and accumulators wrap like two's-complement hardware",
                        "[hw][pe][functional]", narrow_list) {
  constexpr array_config C = TestType::value;
  std::mt19937_64 rng(3 + C.rows * 7 + C.accumulator_bits);
  const int hi = C.operand_bits >= 8 ? 127 : (1 << (C.operand_bits - 1)) - 1;
  const int lo = C.operand_bits >= 8 ? -127 : -(1 << (C.operand_bits - 1));
  bool wrapped = false;
  for (int it = 0; it < 10; ++it) {
    // K up to 200: 4-bit products reach 64, so 12-bit sums overflow; K not a multiple of the array side.
    const std::size_t m = 1 + rng() % 11, n = 1 + rng() % 9, k = 1 + rng() % 200 + (it % 2 ? 100 : 0);
    CAPTURE(it, m, n, k);
    // Odd iterations draw large positive operands, so the narrow accumulators overflow many times over.
    const int from = it % 2 ? hi / 2 + 1 : lo;
    const auto x = random_operands(m * k, rng, from, hi), w = random_operands(n * k, rng, from, hi);
    const auto want = reference_wrapped(x, w, m, n, k, C.accumulator_bits);
    std::vector<std::int32_t> got(m * n, -1), got_ct(m * n, -1);
    auto st = simulate_gemm_i8(C, matrix_view<const std::int8_t>(x.data(), m, k),
                               matrix_view<const std::int8_t>(w.data(), n, k),
                               matrix_view<std::int32_t>(got.data(), m, n));
    REQUIRE(st.has_value());
    auto st_ct = systolic_array<C>::simulate(matrix_view<const std::int8_t>(x.data(), m, k),
                                             matrix_view<const std::int8_t>(w.data(), n, k),
                                             matrix_view<std::int32_t>(got_ct.data(), m, n));
    REQUIRE(st_ct.has_value());
    bool all = true;
    for (std::size_t i = 0; i < m * n; ++i) {
      all = all && got[i] == want[i] && got_ct[i] == want[i];
      std::int64_t exact = 0;
      for (std::size_t t = 0; t < k; ++t) exact += std::int64_t{x[(i / n) * k + t]} * w[(i % n) * k + t];
      wrapped = wrapped || exact != want[i];
    }
    CHECK(all);
    CHECK(st->cycles == cycles(C, layer::gemm(static_cast<std::uint32_t>(m), static_cast<std::uint32_t>(n),
                                              static_cast<std::uint32_t>(k))));
  }
  // The narrow accumulators do overflow on these operands; the 40-bit one never does.
  CHECK(wrapped == (C.accumulator_bits < 32));
}

TEST_CASE("cycle-stepped: an operand wider than the PEs' operand register is an error", "[hw][pe]") {
  std::vector<std::int8_t> x(12, 3), w(12, 2);
  x[5] = 9;  // does not fit 4 bits
  std::vector<std::int32_t> out(9);
  for (auto flow : {dataflow::weight_stationary, dataflow::output_stationary, dataflow::input_stationary,
                    dataflow::enhanced_weight_stationary}) {
    const array_config c{.rows = 2, .cols = 2, .flow = flow, .operand_bits = 4, .accumulator_bits = 12};
    auto r = simulate_gemm_i8(c, matrix_view<const std::int8_t>(x.data(), 3, 4),
                              matrix_view<const std::int8_t>(w.data(), 3, 4), matrix_view<std::int32_t>(out.data(), 3, 3));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("ifmap value 9 at (1, 1) does not fit the PEs' 4-bit operands") != std::string::npos);
  }
  // The same operands fit 8-bit PEs.
  auto ok = simulate_gemm_i8(array_config{.rows = 2, .cols = 2}, matrix_view<const std::int8_t>(x.data(), 3, 4),
                             matrix_view<const std::int8_t>(w.data(), 3, 4), matrix_view<std::int32_t>(out.data(), 3, 3));
  CHECK(ok.has_value());
}

namespace {

/// A compressed matrix with random indices, pattern-valid masks and a random int8 codebook.
mvq::compressed_matrix random_vq(mvq::compressed_layout const& lay, std::mt19937_64& rng) {
  auto cm = mvq::compressed_matrix::allocate(lay).value();
  std::uniform_int_distribution<int> d(-127, 127);
  cm.codebook_scale = 0.01f;
  for (std::size_t i = 0; i < cm.codebook_i8.size(); ++i) {
    cm.codebook_i8[i] = static_cast<std::int8_t>(d(rng));
    cm.codebook[i] = cm.codebook_i8[i] * cm.codebook_scale;
  }
  const unsigned ib = mvq::index_bits(lay.k());
  for (std::size_t r = 0; r < lay.rows; ++r) {
    auto idx = std::span<std::uint8_t>(cm.indices).subspan(r * lay.index_bytes_per_row(), lay.index_bytes_per_row());
    for (std::size_t s = 0; s < lay.subvectors_per_row(); ++s)
      mvq::write_bits(idx, s, ib, static_cast<std::uint32_t>(rng() % lay.k()));
    if (lay.nm.dense()) continue;
    auto msk = std::span<std::uint8_t>(cm.masks).subspan(r * lay.mask_bytes_per_row(), lay.mask_bytes_per_row());
    const unsigned mb = mvq::mask_bits_per_group(lay.nm, lay.masks);
    for (std::size_t g = 0; g < lay.groups_per_row(); ++g)
      mvq::write_bits(msk, g, mb,
                      mvq::pattern_bitmap(lay.nm, static_cast<std::uint32_t>(rng() % mvq::pattern_count(lay.nm))));
  }
  return cm;
}

constexpr array_config vq_16_8_24{.rows = 4, .cols = 4, .pe = pe_kind::vq_decode, .nm = {2, 4}, .vq = {16, 8}};

}  // namespace

TEST_CASE("systolic_array: compressed weights whose K, d or N:M do not fit are errors naming both", "[hw][pe][vq]") {
  using array = systolic_array<vq_16_8_24>;
  STATIC_REQUIRE(array::accepts<mvq::vq_config{16, 8}, mvq::nm_pattern{2, 4}>);
  STATIC_REQUIRE(array::accepts<mvq::vq_config{8, 8}, mvq::nm_pattern{2, 4}>);  // a smaller codebook fits the RF
  STATIC_REQUIRE(diagnose_fit(vq_16_8_24, {32, 8}, {2, 4}) == mvq::config_error::array_fit_codebook);
  STATIC_REQUIRE(diagnose_fit(vq_16_8_24, {16, 4}, {2, 4}) == mvq::config_error::array_fit_dim);
  STATIC_REQUIRE(diagnose_fit(vq_16_8_24, {16, 8}, {1, 4}) == mvq::config_error::array_fit_nm);
  std::mt19937_64 rng(5);
  const mvq::compressed_layout base{.rows = 6, .cols = 24, .vq = {16, 8}, .nm = {2, 4},
                                    .masks = mvq::mask_encoding::bitmap, .codebook = mvq::codebook_dtype::i8};
  const std::size_t m = 5;
  const auto x = random_operands(m * base.cols, rng, -127, 127);
  std::vector<std::int32_t> got(m * base.rows), want(m * base.rows);
  {
    const auto cm = random_vq(base, rng);
    REQUIRE(array::check_layer(cm.view().layout).has_value());
    auto st = array::simulate<mvq::vq_config{16, 8}, mvq::nm_pattern{2, 4}>(
        matrix_view<const std::int8_t>(x.data(), m, base.cols), cm.view(),
        matrix_view<std::int32_t>(got.data(), m, base.rows));
    REQUIRE(st.has_value());
    const auto dw = mvq::kernel::decode_i8(cm.view());
    mvq::kernel::reference_gemm_i8(dw.view(), matrix_view<const std::int8_t>(x.data(), m, base.cols),
                                   matrix_view<std::int32_t>(want.data(), m, base.rows));
    CHECK(got == want);
  }
  struct bad_case {
    mvq::compressed_layout lay;
    const char* names;
  };
  auto with = [&](mvq::vq_config v, mvq::nm_pattern p) {
    auto l = base;
    l.vq = v;
    l.nm = p;
    if (p.dense()) l.masks = mvq::mask_encoding::none;
    return l;
  };
  for (auto const& [lay, names] : {bad_case{with({32, 8}, {2, 4}), "K = 32"}, bad_case{with({16, 4}, {2, 4}), "d = 4"},
                                   bad_case{with({16, 8}, {1, 4}), "N:M 1:4"}, bad_case{with({16, 8}, {}), "N:M dense"}}) {
    CAPTURE(names);
    const auto cm = random_vq(lay, rng);
    const auto e = mvq::sentence(diagnose_fit(vq_16_8_24, lay.vq, lay.nm));
    for (auto const& r : {array::check_layer(lay), check_fits(vq_16_8_24, lay)}) {
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().message.find("vq_decode PEs (K ≤ 16, d = 8, N:M 2:4") != std::string::npos);
      CHECK(r.error().message.find(names) != std::string::npos);
      CHECK(r.error().message.find(e) != std::string::npos);
    }
    auto st = array::simulate(matrix_view<const std::int8_t>(x.data(), m, base.cols), cm.view(),
                              matrix_view<std::int32_t>(got.data(), m, base.rows));
    REQUIRE_FALSE(st.has_value());
    auto rt = simulate_gemm_i8(vq_16_8_24, matrix_view<const std::int8_t>(x.data(), m, base.cols), cm.view(),
                               matrix_view<std::int32_t>(got.data(), m, base.rows));
    REQUIRE_FALSE(rt.has_value());
    CHECK(rt.error().message.find(names) != std::string::npos);
    CHECK(rt.error().code == mvq::errc::unsupported);
  }
  // The compile-time-shaped entry rejects a matrix of another shape at run time, too.
  const auto small = random_vq(with({8, 8}, {2, 4}), rng);
  auto other = array::simulate<mvq::vq_config{16, 8}, mvq::nm_pattern{2, 4}>(
      matrix_view<const std::int8_t>(x.data(), m, base.cols), small.view(),
      matrix_view<std::int32_t>(got.data(), m, base.rows));
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().message.find("compiled for K16_d8") != std::string::npos);
  // Layers: a sparse array refuses a layer with another N:M pattern; a dense array takes any.
  auto l = array::check_layer(layer::gemm(8, 8, 8, {1, 4}));
  REQUIRE_FALSE(l.has_value());
  CHECK(l.error().message.find("N:M 1:4") != std::string::npos);
  CHECK(systolic_array<array_config{}>::check_layer(layer::gemm(8, 8, 8, {1, 4})).has_value());
  CHECK_FALSE(array::simulate(layer::gemm(8, 8, 8, {1, 4})).has_value());
}

TEST_CASE("simulate_conv_i8: compressed weights are convolved in their own reduction order", "[hw][pe][conv]") {
  std::mt19937_64 rng(21);
  const layer l = layer::conv_padded(6, 5, 3, 3, 8, 3, 1, 1);  // K = 72 = 9 sub-vectors of d = 8
  const std::size_t k = 72, n = 3, m = l.ofmap_pixels();
  const auto ifmap = random_operands(std::size_t{6} * 5 * 8, rng, -127, 127);
  for (auto order : {mvq::reduction_order::oihw, mvq::reduction_order::ohwi}) {
    CAPTURE(to_string(order));
    const mvq::compressed_layout lay{.rows = n, .cols = k, .vq = {16, 8}, .nm = {2, 4}, .order = order,
                                     .masks = mvq::mask_encoding::bitmap, .codebook = mvq::codebook_dtype::i8};
    const auto cm = random_vq(lay, rng);
    const auto dw = mvq::kernel::decode_i8(cm.view());
    // Direct convolution reading each decoded weight at the (channel, tap) its order assigns to its column.
    std::vector<std::int32_t> want(m * n, 0);
    for (std::size_t oy = 0; oy < l.ofmap_h(); ++oy)
      for (std::size_t ox = 0; ox < l.ofmap_w(); ++ox)
        for (std::size_t f = 0; f < n; ++f) {
          std::int32_t acc = 0;
          for (std::size_t col = 0; col < k; ++col) {
            const std::size_t c = order == mvq::reduction_order::oihw ? col / 9 : col % 8;
            const std::size_t tap = order == mvq::reduction_order::oihw ? col % 9 : col / 8;
            const std::ptrdiff_t iy = std::ptrdiff_t(oy + tap / 3) - 1, ix = std::ptrdiff_t(ox + tap % 3) - 1;
            if (iy < 0 || ix < 0 || iy >= 6 || ix >= 5) continue;
            acc += std::int32_t{dw.values[f * k + col]} * ifmap[(std::size_t(iy) * 5 + std::size_t(ix)) * 8 + c];
          }
          want[(oy * l.ofmap_w() + ox) * n + f] = acc;
        }
    for (auto flow : {dataflow::weight_stationary, dataflow::output_stationary, dataflow::input_stationary,
                      dataflow::enhanced_weight_stationary}) {
      array_config c = vq_16_8_24;
      c.flow = flow;
      c.wrf_depth = 2;
      std::vector<std::int32_t> got(m * n, -1);
      auto st = simulate_conv_i8(c, l, ifmap, cm.view(), matrix_view<std::int32_t>(got.data(), m, n));
      REQUIRE(st.has_value());
      CHECK(got == want);
    }
    std::vector<std::int32_t> got(m * n, -1);
    auto st = systolic_array<vq_16_8_24>::simulate(l, ifmap, cm.view(), matrix_view<std::int32_t>(got.data(), m, n));
    REQUIRE(st.has_value());
    CHECK(got == want);
  }
}
