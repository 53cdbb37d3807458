#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "io_test_util.hpp"
#include "mvq/io/dtype.hpp"

using namespace mvq;
using io::dtype;

TEST_CASE("dtype: sizes and safetensors names", "[io][dtype]") {
  CHECK(io::dtype_size(dtype::f64) == 8);
  CHECK(io::dtype_size(dtype::bf16) == 2);
  CHECK(io::dtype_size(dtype::f8_e5m2) == 1);
  CHECK(io::dtype_size(dtype::u32) == 4);
  CHECK(io::dtype_size(dtype::boolean) == 1);
  CHECK(io::dtype_name(dtype::f8_e4m3) == "F8_E4M3");
  CHECK(io::dtype_name(dtype::boolean) == "BOOL");
  CHECK(io::dtype_name(dtype::bf16) == "BF16");
  for (dtype t : io::all_dtypes) {
    INFO(io::dtype_name(t));
    REQUIRE(io::parse_dtype(io::dtype_name(t)) == t);
    CHECK((io::dtype_size(t) == 1 || io::dtype_size(t) == 2 || io::dtype_size(t) == 4 || io::dtype_size(t) == 8));
  }
  CHECK_FALSE(io::parse_dtype("f32").has_value());  // names are case-sensitive, as in the format
  CHECK_FALSE(io::parse_dtype("F128").has_value());
  CHECK_FALSE(io::parse_dtype("").has_value());
  CHECK_FALSE(io::parse_dtype("F32 ").has_value());
}

TEST_CASE("dtype: little-endian load/store round-trip at every width", "[io][dtype]") {
  std::mt19937_64 rng(7);
  std::byte buf[8];
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t v = rng();
    io::detail::store_le<std::uint64_t>(buf, v);
    CHECK(io::detail::load_le<std::uint64_t>(buf) == v);
    CHECK(std::to_integer<unsigned>(buf[0]) == (v & 0xffu));
    CHECK(std::to_integer<unsigned>(buf[7]) == (v >> 56));
    io::detail::store_le<std::uint16_t>(buf, static_cast<std::uint16_t>(v));
    CHECK(io::detail::load_le<std::uint16_t>(buf) == static_cast<std::uint16_t>(v));
  }
}

TEST_CASE("dtype: convert_to_f32 of known values for every dtype", "[io][dtype]") {
  auto raw = [](std::initializer_list<unsigned> bytes) {
    std::vector<std::byte> out;
    for (unsigned b : bytes) out.push_back(static_cast<std::byte>(b));
    return out;
  };
  struct sample {
    dtype type;
    std::vector<std::byte> bytes;
    std::vector<float> expected;
  };
  const std::vector<sample> samples = {
      // 1.5 = 0x3FF8000000000000, -2 = 0xC000000000000000
      {dtype::f64, raw({0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0}), {1.5f, -2.0f}},
      {dtype::f32, raw({0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc1}), {1.0f, -10.0f}},
      {dtype::f16, raw({0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}), {1.0f, -2.0f, 0x1p-24f}},  // 1, -2, min subnormal
      {dtype::bf16, raw({0x80, 0x3f, 0xc0, 0x3f}), {1.0f, 1.5f}},
      {dtype::f8_e4m3, raw({0x38, 0x7e, 0xfe}), {1.0f, 448.0f, -448.0f}},  // OCP spec: max normal 448
      {dtype::f8_e5m2, raw({0x3c, 0x7b, 0xc0}), {1.0f, 57344.0f, -2.0f}},  // OCP spec: max normal 57344
      {dtype::i8, raw({0x80, 0x7f, 0xff}), {-128.0f, 127.0f, -1.0f}},
      {dtype::i16, raw({0x00, 0x80, 0xff, 0x7f}), {-32768.0f, 32767.0f}},
      {dtype::i32, raw({0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0}), {-1.0f, 16.0f}},
      {dtype::i64, raw({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), {-2.0f}},
      {dtype::u8, raw({0, 255}), {0.0f, 255.0f}},
      {dtype::u16, raw({0xff, 0xff}), {65535.0f}},
      {dtype::u32, raw({0, 0, 0, 1}), {16777216.0f}},
      {dtype::u64, raw({0, 0, 0, 0, 1, 0, 0, 0}), {4294967296.0f}},
      {dtype::boolean, raw({0, 1, 2}), {0.0f, 1.0f, 1.0f}},
  };
  REQUIRE(samples.size() == std::size(io::all_dtypes));
  for (const auto& s : samples) {
    INFO(io::dtype_name(s.type));
    std::vector<float> out(s.expected.size());
    REQUIRE(io::convert_to_f32(s.type, s.bytes, out));
    CHECK(out == s.expected);
  }
  // NaN of E4M3 is S.1111.111 (OCP 8-bit floating point specification).
  std::vector<float> nan(1);
  REQUIRE(io::convert_to_f32(dtype::f8_e4m3, raw({0x7f}), nan));
  CHECK(std::isnan(nan[0]));
}

TEST_CASE("dtype: convert_to_f32 rejects a byte count that is not the element count", "[io][dtype]") {
  std::vector<std::byte> seven(7);
  std::vector<float> two(2);
  REQUIRE_ERROR(io::convert_to_f32(dtype::f32, seven, two), errc::shape_mismatch, "7 bytes of F32");
  std::vector<std::byte> eight(8);
  std::vector<float> three(3);
  REQUIRE_ERROR(io::convert_to_f32(dtype::f32, eight, three), errc::shape_mismatch, "3 elements");
}
