#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "mvq/core/float_formats.hpp"

using namespace mvq;

TEST_CASE("every finite narrow float survives a round trip through fp32", "[core][float]") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    float f = from_f16(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    REQUIRE(to_f16(f) == h);
    float b = from_bf16(static_cast<std::uint16_t>(h));
    if (!std::isnan(b)) REQUIRE(to_bf16(b) == h);
  }
  for (std::uint32_t h = 0; h < 256; ++h) {
    auto b = static_cast<std::uint8_t>(h);
    if (float f = from_f8_e4m3(b); !std::isnan(f)) REQUIRE(to_f8_e4m3(f) == b);
    if (float f = from_f8_e5m2(b); !std::isnan(f)) REQUIRE(to_f8_e5m2(f) == b);
  }
}

TEST_CASE("fp16 rounding matches the compiler's _Float16 conversion", "[core][float]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 200000; ++i) {
    float f = std::ldexp(u(rng), static_cast<int>(rng() % 48) - 30);
    _Float16 h = static_cast<_Float16>(f);
    std::uint16_t bits;
    std::memcpy(&bits, &h, 2);
    REQUIRE(to_f16(f) == bits);
  }
}

TEST_CASE("narrow float limits and special values", "[core][float]") {
  CHECK(from_f8_e4m3(0x7e) == 448.0f);
  CHECK(from_f8_e5m2(0x7b) == 57344.0f);
  CHECK(to_f8_e4m3(1e9f) == 0x7e);         // E4M3 saturates: it has no infinity
  CHECK(to_f8_e5m2(1e9f) == 0x7c);         // E5M2 overflows to infinity
  CHECK(std::isinf(from_f8_e5m2(0x7c)));
  CHECK(std::isnan(from_f8_e4m3(0x7f)));
  CHECK(to_f16(65520.0f) == 0x7c00);       // rounds past the largest half: infinity
  CHECK(to_f16(65504.0f) == 0x7bff);
  CHECK(from_f16(0x0001) == 0x1p-24f);     // smallest subnormal
  CHECK(to_bf16(1.0f) == 0x3f80);
  CHECK(std::isnan(from_bf16(to_bf16(std::nanf("")))));
  CHECK(from_f8_e4m3(0x01) == 0x1p-9f);
  CHECK(from_f8_e4m3(0x80 | 0x38) == -1.0f);
}
