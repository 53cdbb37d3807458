// The kernels' traits and the emulator's processing element agree. This file passes by compiling.
#include "mvq/hw/analytic.hpp"
#include "mvq/hw/area.hpp"
#include "mvq/hw/processing_element.hpp"
#include "mvq/hw/systolic_array.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_nibble.hpp"

namespace {

using namespace mvq;

// The array whose PEs run policy `Policy`'s configuration, and its PE.
template <class Policy>
inline constexpr hw::array_config array_of = hw::array_for(Policy::traits::config, hw::array_config{.rows = 8, .cols = 8});
template <class Policy>
using pe_of = typename hw::systolic_array<array_of<Policy>>::pe_type;

// Every number a consumer needs is the same on both sides, and pe_config(array) is the kernel's configuration.
template <class Policy>
consteval bool agree() {
  using t = typename Policy::traits;
  using pe = pe_of<Policy>;
  constexpr hw::array_config a = array_of<Policy>;
  static_assert(hw::pe_config(a) == t::config);
  static_assert(hw::array_for(hw::pe_config(a), a) == a);
  static_assert(std::is_same_v<pe, hw::processing_element<t::config>>);
  static_assert(std::is_base_of_v<t, pe>);
  static_assert(pe::kept_per_subvector == t::kept_per_subvector);
  static_assert(pe::max_k == t::max_k && pe::subvector_dim == t::subvector_dim && pe::index_bits == t::index_bits);
  static_assert(pe::operand_bits == t::operand_bits && pe::accumulator_bits == t::accumulator_bits);
  static_assert(pe::operand_bits == a.operand_bits && pe::accumulator_bits == a.accumulator_bits);
  static_assert(kernel::simd_int8<pe> == config_error::none);  // the SIMD kernels' int8 × int8 → int32
  static_assert(std::is_same_v<typename pe::accumulator_type, std::int32_t>);
  // The codebook: as many entries as the kernel accepts, counted once (K × d × operand bits) everywhere.
  static_assert(a.codebook_entries() == (a.pe == hw::pe_kind::vq_decode ? t::max_k : a.vq.codebook_size));
  static_assert(pe::codebook_bits == std::uint64_t{t::max_k} * t::subvector_dim * t::operand_bits);
  static_assert(hw::codebook_bits(a) == pe::codebook_bits);
  if constexpr (a.pe == hw::pe_kind::vq_decode) {
    static_assert(hw::pes_per_subvector(a) == t::kept_per_subvector);
    static_assert(hw::analyze(a, hw::layer::gemm(16, 16, 64)).codebook_bits == pe::codebook_bits);
  }
  // Weights of the kernel's own shape run on the array.
  if constexpr (t::max_k != 0) static_assert(hw::systolic_array<a>::template accepts<t::config.vq, t::config.nm>);
  return true;
}

static_assert(agree<kernel::vq_byte<8>>());
static_assert(agree<kernel::vq_nibble<4, kernel::lut_variant::exact>>());
static_assert(agree<kernel::mvq_byte<16, sparse_2_4>>());
static_assert(agree<kernel::nm_sparse<sparse_2_4>>());

// The PE kinds the configurations map to.
static_assert(array_of<kernel::vq_byte<8>>.pe == hw::pe_kind::vq_decode);
static_assert(array_of<kernel::nm_sparse<sparse_2_4>>.pe == hw::pe_kind::sparse_nm);
static_assert(hw::array_for(kernel::kernel_config{}).pe == hw::pe_kind::dense_mac);
static_assert(pe_of<kernel::mvq_byte<16, sparse_2_4>>::kept_per_subvector == 8);
static_assert(pe_of<kernel::vq_nibble<4, kernel::lut_variant::exact>>::max_k == 16);

// The named arrays round-trip through their kernel configuration, and the default PE is the SIMD kernels' MAC.
static_assert(hw::array_for(hw::pe_config(hw::ews_64x64), hw::ews_64x64) == hw::ews_64x64);
static_assert(hw::array_for(hw::pe_config(hw::scalesim_32x32_os), hw::scalesim_32x32_os) == hw::scalesim_32x32_os);
static_assert(std::is_same_v<hw::systolic_array<hw::scalesim_32x32_ws>::pe_type, hw::int8_processing_element>);
static_assert(hw::array_config{}.operand_bits == int8_conventions::operand_bits);
static_assert(hw::array_config{}.accumulator_bits == int8_conventions::accumulator_bits);

// Narrower widths reach the PE, and its accumulator type follows them.
constexpr hw::array_config narrow{.pe = hw::pe_kind::sparse_nm, .nm = sparse_2_4, .operand_bits = 4,
                                  .accumulator_bits = 12};
static_assert(hw::systolic_array<narrow>::pe_type::operand_bits == 4);
static_assert(hw::systolic_array<narrow>::pe_type::accumulator_bits == 12);
static_assert(hw::systolic_array<narrow>::pe_type::kept_per_subvector == 0);  // no codebook: no sub-vectors
constexpr hw::array_config wide{.operand_bits = 16, .accumulator_bits = 48};
static_assert(std::is_same_v<hw::systolic_array<wide>::pe_type::accumulator_type, std::int64_t>);
static_assert(kernel::simd_int8<hw::systolic_array<wide>::pe_type> == config_error::kernel_simd_int8);

// What does not fit an array is named by the sentence table.
constexpr hw::array_config mvq_rf{.pe = hw::pe_kind::vq_decode, .nm = sparse_2_4, .vq = k256_d16};
static_assert(hw::diagnose_fit(mvq_rf, k256_d16, sparse_2_4) == config_error::none);
static_assert(hw::diagnose_fit(mvq_rf, vq_config{512, 16}, sparse_2_4) == config_error::array_fit_codebook);
static_assert(hw::diagnose_fit(mvq_rf, k256_d8, sparse_2_4) == config_error::array_fit_dim);
static_assert(hw::diagnose_fit(mvq_rf, k256_d16, sparse_1_4) == config_error::array_fit_nm);
static_assert(hw::diagnose_fit(hw::scalesim_32x32_ws, vq_config{512, 16}, sparse_1_4) == config_error::none);
static_assert(*sentence(config_error::array_fit_codebook) != '\0');

}  // namespace
