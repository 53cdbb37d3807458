#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"

using namespace mvq;

namespace {

// Builds a random compressed matrix and, independently, the dense matrix it stands for.
struct random_case {
  compressed_matrix cm;
  std::vector<float> dense;
};

random_case make_case(compressed_layout l, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto cm = compressed_matrix::allocate(l).value();
  for (auto& c : cm.codebook) c = u(rng);
  std::vector<float> dense(l.rows * l.cols);
  std::vector<std::uint32_t> idx(l.subvectors_per_row());
  std::vector<std::uint32_t> msk(l.groups_per_row());
  for (std::size_t r = 0; r < l.rows; ++r) {
    for (std::size_t s = 0; s < idx.size(); ++s) {
      idx[s] = static_cast<std::uint32_t>(rng() % l.k());
      for (std::size_t t = 0; t < l.d(); ++t) dense[r * l.cols + s * l.d() + t] = cm.codebook[idx[s] * l.d() + t];
    }
    pack_bits(idx, l.index_bits(), std::span(cm.indices).subspan(r * l.index_bytes_per_row(), l.index_bytes_per_row()));
    for (std::size_t g = 0; g < msk.size(); ++g) {
      auto rank = static_cast<std::uint32_t>(rng() % pattern_count(l.nm));
      std::uint32_t bm = pattern_bitmap(l.nm, rank);
      msk[g] = l.masks == mask_encoding::pattern ? rank : bm;
      for (std::size_t t = 0; t < l.nm.m; ++t)
        if (!((bm >> t) & 1u)) dense[r * l.cols + g * l.nm.m + t] = 0.0f;
    }
    if (!msk.empty())
      pack_bits(msk, l.mask_bits(), std::span(cm.masks).subspan(r * l.mask_bytes_per_row(), l.mask_bytes_per_row()));
  }
  return {std::move(cm), std::move(dense)};
}

}  // namespace

TEST_CASE("decompress rebuilds mask ⊙ codeword for every layout", "[core][compressed]") {
  struct cfg {
    std::uint32_t k, d;
    nm_pattern nm;
    mask_encoding enc;
  };
  for (auto c : {cfg{256, 8, {}, mask_encoding::none}, cfg{16, 4, {}, mask_encoding::none},
                 cfg{2, 1, {}, mask_encoding::none}, cfg{256, 16, {2, 4}, mask_encoding::bitmap},
                 cfg{256, 16, {2, 4}, mask_encoding::pattern}, cfg{1024, 8, {1, 4}, mask_encoding::pattern},
                 cfg{65536, 8, {2, 8}, mask_encoding::pattern}, cfg{4, 6, {2, 3}, mask_encoding::bitmap}}) {
    for (std::size_t rows : {0u, 1u, 7u}) {
      for (std::size_t spr : {1u, 3u, 5u}) {
        compressed_layout l{.rows = rows, .cols = spr * c.d, .vq = {c.k, static_cast<std::uint8_t>(c.d)}, .nm = c.nm, .masks = c.enc};
        REQUIRE(validate(l));
        auto rc = make_case(l, static_cast<std::uint32_t>(rows * 100 + spr));
        REQUIRE(validate(rc.cm.view()));
        REQUIRE(decompress(rc.cm.view()) == rc.dense);
      }
    }
  }
}

TEST_CASE("layout sizes and bits per weight", "[core][compressed]") {
  compressed_layout l{.rows = 64, .cols = 576, .vq = {256, 16}, .nm = {2, 4}, .masks = mask_encoding::pattern};
  CHECK(l.index_bits() == 8);
  CHECK(l.subvectors_per_row() == 36);
  CHECK(l.index_bytes_per_row() == 36);
  CHECK(l.groups_per_row() == 144);
  CHECK(l.mask_bytes_per_row() == 54);  // 144 groups × 3 bits = 432 bits
  CHECK(l.stored_bits() == 64u * (36 + 54) * 8 + 256u * 16 * 32);
  l.codebook = codebook_dtype::i8;
  CHECK(l.stored_bits() == 64u * (36 + 54) * 8 + 256u * 16 * 8 + 32);
  compressed_layout odd{.rows = 3, .cols = 10, .vq = {8, 2}};
  CHECK(odd.index_bytes_per_row() == 2);  // 5 × 3 bits = 15 bits
}

TEST_CASE("invalid layouts and contents are errors naming the problem", "[core][compressed]") {
  compressed_layout ok{.rows = 2, .cols = 8, .vq = {16, 4}};
  REQUIRE(validate(ok));
  auto bad = ok;
  bad.vq.codebook_size = 12;
  CHECK(validate(bad).error().message.find("power of two") != std::string::npos);
  bad = ok;
  bad.cols = 10;
  CHECK(validate(bad).error().code == errc::shape_mismatch);
  bad = ok;
  bad.nm = {2, 4};
  CHECK(validate(bad).error().message.find("mask encoding") != std::string::npos);
  bad.masks = mask_encoding::bitmap;
  CHECK(validate(bad));
  bad.nm = {2, 8};  // d = 4 is not a multiple of M = 8
  CHECK(validate(bad).error().message.find("multiple of M") != std::string::npos);
  bad = ok;
  bad.vq.subvector_dim = 0;
  CHECK(!validate(bad));
  bad = ok;
  bad.rows = static_cast<std::size_t>(-1) / 4;
  CHECK(validate(bad).error().code == errc::too_large);

  // contents: a pattern index ≥ C(M, N) and a bitmap with more than N kept are corrupt
  compressed_layout pl{.rows = 1, .cols = 4, .vq = {2, 4}, .nm = {2, 4}, .masks = mask_encoding::pattern};
  auto m = compressed_matrix::allocate(pl).value();
  m.masks[0] = 6;
  CHECK(validate(m.view()).error().code == errc::corrupt_file);
  m.masks[0] = 5;
  CHECK(validate(m.view()));
  pl.masks = mask_encoding::bitmap;
  auto b = compressed_matrix::allocate(pl).value();
  b.masks[0] = 0b0111;
  CHECK(validate(b.view()).error().code == errc::corrupt_file);
  b.masks[0] = 0b0000;  // an all-pruned group is allowed in bitmap form
  CHECK(validate(b.view()));
  b.indices.push_back(0);
  CHECK(validate(b.view()).error().code == errc::shape_mismatch);

  // an int8 codebook must agree with its fp32 view and stay in [-127, 127]
  compressed_layout il{.rows = 1, .cols = 2, .vq = {2, 2}, .codebook = codebook_dtype::i8};
  auto q = compressed_matrix::allocate(il).value();
  q.codebook_scale = 0.5f;
  q.codebook_i8 = {1, -2, 127, -127};
  q.codebook = {0.5f, -1.0f, 63.5f, -63.5f};
  CHECK(validate(q.view()));
  q.codebook[1] = -1.5f;
  CHECK(!validate(q.view()));
  q.codebook[1] = -1.0f;
  q.codebook_i8[0] = -128;
  CHECK(!validate(q.view()));
}
