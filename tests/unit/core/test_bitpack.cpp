#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "mvq/core/bitpack.hpp"

using namespace mvq;

TEST_CASE("pack_bits / unpack_bits round-trip every width and length", "[core][bitpack]") {
  std::mt19937 rng(1);
  for (unsigned bits = 1; bits <= 32; ++bits) {
    for (std::size_t n : {0u, 1u, 2u, 3u, 7u, 8u, 9u, 31u, 64u, 101u}) {
      std::vector<std::uint32_t> v(n);
      for (auto& x : v) x = static_cast<std::uint32_t>(bits == 32 ? rng() : rng() & ((1u << bits) - 1));
      std::vector<std::uint8_t> packed(packed_bytes(n, bits), 0xAB);
      pack_bits(v, bits, packed);
      std::vector<std::uint32_t> back(n);
      unpack_bits(packed, bits, back);
      REQUIRE(back == v);
      // padding bits of the last byte are zero
      if (n * bits % 8 != 0) REQUIRE((packed.back() >> (n * bits % 8)) == 0);
    }
  }
}

TEST_CASE("bit streams are LSB first", "[core][bitpack]") {
  // fields 1 (3 bits), 6, 5 → stream bits 100 011 101 → bytes 0b01_110_001? compute by hand:
  // field0 = 0b001 at bits 0-2, field1 = 0b110 at bits 3-5, field2 = 0b101 at bits 6-8
  std::vector<std::uint32_t> v{1, 6, 5};
  std::vector<std::uint8_t> out(packed_bytes(3, 3));
  pack_bits(v, 3, out);
  REQUIRE(out.size() == 2);
  CHECK(out[0] == static_cast<std::uint8_t>(0b01'110'001));
  CHECK(out[1] == 0b1);
  // 4-bit fields: low nibble first
  std::vector<std::uint32_t> nib{0xA, 0x3};
  std::vector<std::uint8_t> o2(1);
  pack_bits(nib, 4, o2);
  CHECK(o2[0] == 0x3A);
}

TEST_CASE("N:M pattern ranks are lexicographic", "[core][bitpack]") {
  constexpr nm_pattern p24{2, 4};
  // the table of the format spec
  CHECK(pattern_rank(p24, 0b0011) == 0);
  CHECK(pattern_rank(p24, 0b0101) == 1);
  CHECK(pattern_rank(p24, 0b1001) == 2);
  CHECK(pattern_rank(p24, 0b0110) == 3);
  CHECK(pattern_rank(p24, 0b1010) == 4);
  CHECK(pattern_rank(p24, 0b1100) == 5);
  CHECK(mask_bits_per_group(p24, mask_encoding::pattern) == 3);
  CHECK(mask_bits_per_group(p24, mask_encoding::bitmap) == 4);
  CHECK(mask_bits_per_group(nm_pattern{1, 4}, mask_encoding::pattern) == 2);
  CHECK(mask_bits_per_group(nm_pattern{2, 8}, mask_encoding::pattern) == 5);  // C(8,2) = 28
  CHECK(mask_bits_per_group(nm_pattern{4, 4}, mask_encoding::pattern) == 0);  // one pattern: no bits
}

TEST_CASE("pattern_rank and pattern_bitmap are inverse bijections for every N:M up to M = 16", "[core][bitpack]") {
  for (unsigned m = 1; m <= 16; ++m) {
    for (unsigned n = 1; n <= m; ++n) {
      nm_pattern p{static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(m)};
      std::uint32_t count = pattern_count(p);
      std::uint32_t seen = 0, prev_bitmap_rank = 0;
      bool first = true;
      for (std::uint32_t bm = 0; bm < (1u << m); ++bm) {
        if (static_cast<unsigned>(std::popcount(bm)) != n) continue;
        std::uint32_t r = pattern_rank(p, bm);
        REQUIRE(r < count);
        REQUIRE(pattern_bitmap(p, r) == bm);
        (void)prev_bitmap_rank;
        (void)first;
        ++seen;
      }
      REQUIRE(seen == count);
    }
  }
}

TEST_CASE("lexicographic order: sorted position lists compare like their ranks", "[core][bitpack]") {
  constexpr nm_pattern p{3, 6};
  std::vector<std::vector<unsigned>> lists;
  for (std::uint32_t r = 0; r < pattern_count(p); ++r) {
    std::uint32_t bm = pattern_bitmap(p, r);
    std::vector<unsigned> pos;
    for (unsigned t = 0; t < p.m; ++t)
      if ((bm >> t) & 1u) pos.push_back(t);
    lists.push_back(pos);
  }
  for (std::size_t i = 1; i < lists.size(); ++i) REQUIRE(lists[i - 1] < lists[i]);
}

static_assert(binomial(16, 8) == 12870);
static_assert(pattern_rank(nm_pattern{2, 4}, 0b1100) == 5);
static_assert(read_bits(std::array<std::uint8_t, 2>{0x3A, 0x00}, 1, 4) == 0x3);
