#include <catch2/catch.hpp>

#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"

using namespace mvq::hw;

TEST_CASE("array_config: defaults are SCALE-Sim's scale.cfg and valid", "[hw][config]") {
  constexpr array_config c{};
  STATIC_REQUIRE(*check(c) == '\0');
  CHECK(c.rows == 32);
  CHECK(c.cols == 32);
  CHECK(c.ifmap_sram_kb == 64);
  CHECK(c.bandwidth == interface_bandwidth::calc);
  CHECK(validate(c).has_value());
  CHECK(validate(ews_64x64).has_value());
}

TEST_CASE("array_config: invalid values give sentence errors", "[hw][config]") {
  auto bad = [](array_config c) {
    auto r = validate(c, "x.cfg");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == mvq::errc::invalid_argument);
    CHECK(r.error().message.rfind("x.cfg: ", 0) == 0);
    CHECK(r.error().message.back() == '.');
    return r.error().message;
  };
  CHECK(bad({.rows = 0}).find("rows") != std::string::npos);
  CHECK(bad({.cols = 5000}).find("cols") != std::string::npos);
  CHECK(bad({.accumulator_bits = 8}).find("accumulator_bits") != std::string::npos);
  CHECK(bad({.ifmap_sram_kb = 0}).find("SRAM") != std::string::npos);
  CHECK(bad({.bandwidth = interface_bandwidth::user, .dram_words_per_cycle = 0}).find("USER") != std::string::npos);
  CHECK(bad({.wrf_depth = 0}).find("register files") != std::string::npos);
  CHECK(bad({.pe = pe_kind::sparse_nm}).find("sparse_nm") != std::string::npos);
  CHECK(bad({.nm = {2, 4}}).find("dense_mac") != std::string::npos);
  CHECK(bad({.pe = pe_kind::sparse_nm, .nm = {5, 4}}).find("N must not exceed M") != std::string::npos);
  CHECK(bad({.pe = pe_kind::vq_decode, .vq = {.codebook_size = 100, .subvector_dim = 8}}).find("power of two") !=
        std::string::npos);
  CHECK(bad({.pe = pe_kind::vq_decode, .vq = {256, 8}, .codebook_rf_entries = 16}).find("codebook register") !=
        std::string::npos);
  CHECK(bad({.clock_mhz = 0}).find("clock") != std::string::npos);
}

TEST_CASE("layer: output sizes follow SCALE-Sim and PyTorch", "[hw][layer]") {
  // AlexNet conv1 in SCALE-Sim's alexnet_part.csv: ⌈(224 − 11 + 4)/4⌉ = 55 (a partial window at the border).
  constexpr layer a = layer::conv(224, 224, 11, 11, 3, 96, 4);
  STATIC_REQUIRE(a.ofmap_h() == 55);
  STATIC_REQUIRE(a.ofmap_w() == 55);
  // ResNet conv1 with padding 3: ⌊(224 + 6 − 7)/2⌋ + 1 = 112.
  constexpr layer r = layer::conv_padded(224, 224, 7, 7, 3, 64, 2, 3);
  STATIC_REQUIRE(r.ofmap_h() == 112);
  STATIC_REQUIRE(r.macs() == 112ull * 112 * 7 * 7 * 3 * 64);
  constexpr layer g = layer::gemm(256, 128, 512);
  STATIC_REQUIRE(g.ofmap_pixels() == 256);
  STATIC_REQUIRE(g.macs() == 256ull * 128 * 512);
  constexpr layer d = layer::depthwise_conv(56, 56, 3, 3, 32, 1, 1);
  STATIC_REQUIRE(d.ofmap_h() == 56);
  STATIC_REQUIRE(d.macs() == 56ull * 56 * 9 * 32);
}

TEST_CASE("layer: invalid layers give sentence errors", "[hw][layer]") {
  CHECK_FALSE(validate(layer::conv(5, 5, 7, 7, 1, 1)).has_value());
  CHECK(validate(layer::conv_padded(5, 5, 7, 7, 1, 1, 1, 1)).has_value());
  CHECK_FALSE(validate(layer{.filters = 0}).has_value());
  CHECK_FALSE(validate(layer{.stride_h = 0}).has_value());
  CHECK_FALSE(validate(layer{.pad_h = 1}).has_value());
  CHECK_FALSE(validate(layer{.sparsity = {3, 2}}).has_value());
  CHECK_FALSE(validate(layer::gemm(1u << 31, 4, 1u << 31)).has_value());
  auto r = validate(layer{.channels = 0}, "Conv1");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "Conv1: layer: channels must be at least 1.");
}

TEST_CASE("layer: products of the models cannot overflow", "[hw][layer]") {
  CHECK_FALSE(validate(layer::gemm((1u << 31) - 1, (1u << 31) - 1, (1u << 31) - 1)).has_value());
  CHECK_FALSE(validate(layer::gemm(4, 1u << 31, 4)).has_value());
  CHECK(validate(layer::gemm(1u << 20, 1u << 16, 1u << 14)).has_value());
}
