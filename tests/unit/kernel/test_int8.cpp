#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/reference.hpp"
#include "mvq/kernel/traits.hpp"

using namespace mvq;
using namespace mvq::kernel;

TEST_CASE("int8 quantization follows the symmetric conventions", "[kernel][int8]") {
  CHECK(quantize_i8(0.5f, 1.0f) == 1);   // halves away from zero
  CHECK(quantize_i8(-0.5f, 1.0f) == -1);
  CHECK(quantize_i8(1000.0f, 1.0f) == 127);
  CHECK(quantize_i8(-1000.0f, 1.0f) == -127);  // never −128
  std::vector<float> x = {0.0f, 0.0f, 0.0f, 3.0f, -6.0f, 1.0f};
  auto q = quantize_activations(matrix_view<const float>(x.data(), 2, 3));
  REQUIRE(q);
  CHECK(q->scale[0] == 1.0f);  // all-zero row
  CHECK(q->scale[1] == 6.0f / 127.0f);
  CHECK(q->q[4] == -127);
  CHECK(q->q[5] == 21);  // 1 / (6/127) = 21.17
  x[1] = std::numeric_limits<float>::infinity();
  auto bad = quantize_activations(matrix_view<const float>(x.data(), 2, 3));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("row 0") != std::string::npos);
}

TEST_CASE("decode_i8 matches decompress on an i8 codebook, masks included", "[kernel][int8]") {
  std::mt19937 rng(7);
  compressed_layout l{.rows = 5, .cols = 16, .vq = {4, 8}, .nm = sparse_2_4, .masks = mask_encoding::bitmap,
                      .codebook = codebook_dtype::i8};
  auto m = compressed_matrix::allocate(l).value();
  m.codebook_scale = 0.25f;
  for (std::size_t i = 0; i < m.codebook.size(); ++i) {
    m.codebook_i8[i] = static_cast<std::int8_t>(int(rng() % 255) - 127);
    m.codebook[i] = m.codebook_i8[i] * m.codebook_scale;
  }
  for (auto& b : m.indices) b = static_cast<std::uint8_t>(rng());
  for (auto& b : m.masks) b = static_cast<std::uint8_t>(rng() & 0x33);  // ≤ 2 of 4 kept, some groups empty
  REQUIRE(validate(m.view()));
  auto dense = decompress(m.view());
  auto w8 = decode_i8(m.view());
  CHECK(w8.scale == 0.25f);
  for (std::size_t i = 0; i < dense.size(); ++i) CHECK(float(w8.values[i]) * 0.25f == dense[i]);
}

TEST_CASE("reference int8 GEMM equals a widened dot product and dequantizes in the stated order", "[kernel][int8]") {
  std::vector<std::int8_t> w = {1, -2, 3, 127, -127, 0};
  std::vector<std::int8_t> x = {2, 2, 2, -1, 0, 1};
  std::vector<std::int32_t> acc(4);
  reference_gemm_i8({w.data(), 2, 3}, {x.data(), 2, 3}, {acc.data(), 2, 2});
  CHECK(acc == std::vector<std::int32_t>{4, 0, 2, -127});
  std::vector<float> y(4);
  std::vector<float> xs = {0.5f, 2.0f};
  dequantize({acc.data(), 2, 2}, xs, 0.25f, {y.data(), 2, 2});
  CHECK(y == std::vector<float>{0.5f, 0.0f, 1.0f, -63.5f});
  STATIC_REQUIRE(int8_conventions::max_reduction == 133144);
  STATIC_REQUIRE(kernel_traits<kernel_config{.vq = {256, 16}, .nm = sparse_2_4}>::kept_per_subvector == 8);
}
