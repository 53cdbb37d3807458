#pragma once
/// @file
/// Bit streams of fixed-width unsigned fields (codeword indices, N:M masks), least-significant bit first, and
/// the two encodings of an N:M group mask: the M-bit bitmap and the lexicographic pattern index.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "mvq/core/config.hpp"

namespace mvq::inline v0 {

/// Bytes needed for `count` fields of `bits` bits each, padded to a whole byte.
[[nodiscard]] constexpr std::size_t packed_bytes(std::size_t count, unsigned bits) noexcept {
  return (count * bits + 7) / 8;
}

/// Reads field `i` (of `bits` ≤ 32 bits) from an LSB-first bit stream. Field i occupies stream bits
/// [i·bits, (i+1)·bits); stream bit j is bit (j mod 8) of byte j/8. The caller guarantees the field lies in `in`.
[[nodiscard]] constexpr std::uint32_t read_bits(std::span<const std::uint8_t> in, std::size_t i,
                                                unsigned bits) noexcept {
  std::size_t bit = i * bits;
  std::uint64_t acc = 0;
  unsigned got = 0;
  std::size_t byte = bit / 8;
  unsigned shift = static_cast<unsigned>(bit % 8);
  while (got < bits + shift) {
    acc |= std::uint64_t{in[byte]} << got;
    ++byte;
    got += 8;
  }
  std::uint64_t mask = bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
  return static_cast<std::uint32_t>((acc >> shift) & mask);
}

/// Writes field `i` (value < 2^bits, bits ≤ 32) into an LSB-first bit stream, leaving other bits untouched.
constexpr void write_bits(std::span<std::uint8_t> out, std::size_t i, unsigned bits, std::uint32_t value) noexcept {
  std::size_t bit = i * bits;
  for (unsigned b = 0; b < bits; ++b, ++bit) {
    auto byte = static_cast<std::uint8_t>(1u << (bit % 8));
    if ((value >> b) & 1u)
      out[bit / 8] = static_cast<std::uint8_t>(out[bit / 8] | byte);
    else
      out[bit / 8] = static_cast<std::uint8_t>(out[bit / 8] & ~byte);
  }
}

/// Packs `values` (each < 2^bits) into `out`, which must hold `packed_bytes(values.size(), bits)` bytes;
/// the padding bits of the last byte are zero.
constexpr void pack_bits(std::span<const std::uint32_t> values, unsigned bits, std::span<std::uint8_t> out) noexcept {
  for (std::size_t b = 0; b < packed_bytes(values.size(), bits); ++b) out[b] = 0;
  for (std::size_t i = 0; i < values.size(); ++i) write_bits(out, i, bits, values[i]);
}

/// Unpacks `out.size()` fields of `bits` bits from `in`.
constexpr void unpack_bits(std::span<const std::uint8_t> in, unsigned bits, std::span<std::uint32_t> out) noexcept {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = read_bits(in, i, bits);
}

/// Binomial coefficient C(n, k) for n ≤ 16.
[[nodiscard]] constexpr std::uint32_t binomial(unsigned n, unsigned k) noexcept {
  if (k > n) return 0;
  std::uint64_t r = 1;
  for (unsigned i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return static_cast<std::uint32_t>(r);
}

/// How an N:M mask is stored.
enum class mask_encoding : std::uint8_t {
  none,     ///< dense: no mask
  bitmap,   ///< M bits per group, bit t set when position t is kept
  pattern,  ///< ⌈log2 C(M,N)⌉ bits per group: the lexicographic rank of the kept positions
};

/// Bits one group's mask takes in `enc` (0 for dense).
[[nodiscard]] constexpr unsigned mask_bits_per_group(nm_pattern p, mask_encoding enc) noexcept {
  if (p.dense() || enc == mask_encoding::none) return 0;
  if (enc == mask_encoding::bitmap) return p.m;
  std::uint32_t c = binomial(p.m, p.n);
  return c <= 1 ? 0u : static_cast<unsigned>(std::bit_width(c - 1));
}

/// Lexicographic rank of the kept positions of an M-bit `bitmap` with exactly N bits set, among all N-subsets
/// of {0..M−1} in lexicographic order (2:4: {0,1}=0, {0,2}=1, {0,3}=2, {1,2}=3, {1,3}=4, {2,3}=5).
/// The caller guarantees popcount(bitmap) == N.
[[nodiscard]] constexpr std::uint32_t pattern_rank(nm_pattern p, std::uint32_t bitmap) noexcept {
  std::uint32_t rank = 0;
  unsigned left = p.n;  // positions still to choose
  for (unsigned pos = 0; pos < p.m && left > 0; ++pos) {
    if ((bitmap >> pos) & 1u) {
      --left;
    } else {
      // every subset that picks `pos` here (and `left - 1` of the later positions) precedes ours
      rank += binomial(p.m - pos - 1, left - 1);
    }
  }
  return rank;
}

/// Inverse of `pattern_rank`: the M-bit bitmap of pattern `rank` (< C(M,N)).
[[nodiscard]] constexpr std::uint32_t pattern_bitmap(nm_pattern p, std::uint32_t rank) noexcept {
  std::uint32_t bitmap = 0;
  unsigned left = p.n;
  for (unsigned pos = 0; pos < p.m && left > 0; ++pos) {
    std::uint32_t with = binomial(p.m - pos - 1, left - 1);
    if (rank < with) {
      bitmap |= 1u << pos;
      --left;
    } else {
      rank -= with;
    }
  }
  return bitmap;
}

/// Number of N:M patterns, C(M, N).
[[nodiscard]] constexpr std::uint32_t pattern_count(nm_pattern p) noexcept { return binomial(p.m, p.n); }

}  // namespace mvq::inline v0
