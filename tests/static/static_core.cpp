// Compile-time facts about the core configuration types. This file passes by compiling.
#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"

namespace {

using namespace mvq;

// configurations are structural: usable as template arguments, compared by value
template <vq_config V, nm_pattern P = nm_pattern{}>
struct tag {};
static_assert(std::is_same_v<tag<k256_d8>, tag<vq_config{256, 8}>>);
static_assert(!std::is_same_v<tag<k256_d8, sparse_2_4>, tag<k256_d8>>);

// the runtime checks and the compile-time checks agree
static_assert(*check(k256_d16, sparse_2_4) == '\0');
static_assert(*check(vq_config{100, 8}) != '\0');
static_assert(*check(vq_config{256, 4}, nm_pattern{2, 8}) != '\0');
static_assert(*check(nm_pattern{3, 2}) != '\0');
static_assert(*check(nm_pattern{0, 4}) != '\0');
static_assert(nm_pattern{}.dense() && !nm_pattern{2, 4}.dense());

// derived numbers
using mvq_2_4 = vq_traits<k256_d16, sparse_2_4>;
static_assert(mvq_2_4::bits_per_index == 8);
static_assert(mvq_2_4::kept_per_subvector == 8);
static_assert(vq_traits<k16_d4>::bits_per_index == 4);
static_assert(vq_traits<vq_config{65536, 8}, sparse_1_4>::kept_per_subvector == 2);
static_assert(index_bits(2) == 1);

// N:M pattern encodings, evaluated at compile time
static_assert(pattern_count(sparse_2_4) == 6);
static_assert(pattern_count(sparse_2_8) == 28);
static_assert(mask_bits_per_group(sparse_2_8, mask_encoding::pattern) == 5);
static_assert(pattern_bitmap(sparse_2_4, 4) == 0b1010);
static_assert(pattern_rank(sparse_2_8, pattern_bitmap(sparse_2_8, 27)) == 27);

// layout arithmetic is constexpr
constexpr compressed_layout l{.rows = 128, .cols = 512, .vq = {256, 8}};
static_assert(l.index_bytes_per_row() == 64);
static_assert(l.stored_bits() == 128u * 64 * 8 + 256u * 8 * 32);
constexpr compressed_layout one_bit{.rows = 4096, .cols = 4096, .vq = {16, 4}, .codebook = codebook_dtype::i8};
static_assert(one_bit.bits_per_weight() > 1.0 && one_bit.bits_per_weight() < 1.001);

}  // namespace
