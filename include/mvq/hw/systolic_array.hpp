#pragma once
/// @file
/// `hw::systolic_array<C>`: the compile-time face of an `array_config`. An invalid configuration is a compile
/// error whose `static_assert` message is the same sentence `hw::check(C)` / `hw::validate(C)` give at run time;
/// the members forward to the `constexpr` models, so `static_assert(systolic_array<cfg>::cycles(l) <= budget)`
/// works.

#include <cstdint>

#include "mvq/hw/analytic.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/cycle_sim.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"

namespace mvq::inline v0::hw {

/// A systolic array fixed at compile time. @tparam C the array; every field is checked by a `static_assert`.
template <array_config C>
class systolic_array {
  static_assert(C.rows >= 1 && C.rows <= max_array_side, "array_config: rows must be between 1 and 4096.");
  static_assert(C.cols >= 1 && C.cols <= max_array_side, "array_config: cols must be between 1 and 4096.");
  static_assert(static_cast<unsigned>(C.flow) <= static_cast<unsigned>(dataflow::enhanced_weight_stationary),
                "array_config: flow must be one of ws, os, is, ews.");
  static_assert(static_cast<unsigned>(C.pe) <= static_cast<unsigned>(pe_kind::vq_decode),
                "array_config: pe must be dense_mac, sparse_nm or vq_decode.");
  static_assert(static_cast<unsigned>(C.bandwidth) <= static_cast<unsigned>(interface_bandwidth::user),
                "array_config: bandwidth must be calc or user.");
  static_assert(C.operand_bits >= 1 && C.operand_bits <= 32, "array_config: operand_bits must be between 1 and 32.");
  static_assert(C.accumulator_bits >= 2 * C.operand_bits && C.accumulator_bits <= 64,
                "array_config: accumulator_bits must be at least twice operand_bits and at most 64.");
  static_assert(C.ifmap_sram_kb >= 1 && C.filter_sram_kb >= 1 && C.ofmap_sram_kb >= 1,
                "array_config: every SRAM (ifmap, filter, ofmap) must hold at least 1 kB.");
  static_assert(C.ifmap_sram_kb <= (1u << 22) && C.filter_sram_kb <= (1u << 22) && C.ofmap_sram_kb <= (1u << 22),
                "array_config: an SRAM larger than 4 GB is not supported.");
  static_assert(C.bandwidth != interface_bandwidth::user || C.dram_words_per_cycle >= 1,
                "array_config: USER bandwidth needs dram_words_per_cycle of at least 1.");
  static_assert(C.wrf_depth >= 1 && C.arf_depth >= 1 && C.prf_depth >= 1 && C.wrf_depth <= max_register_file_depth &&
                    C.arf_depth <= max_register_file_depth && C.prf_depth <= max_register_file_depth,
                "array_config: the EWS register files (wrf_depth, arf_depth, prf_depth) must hold between 1 and 1024 entries.");
  static_assert(C.clock_mhz >= 1, "array_config: clock_mhz must be at least 1.");
  static_assert(C.pe != pe_kind::dense_mac || C.nm.dense(),
                "array_config: dense_mac PEs cannot exploit an N:M pattern; use pe_kind::sparse_nm or leave nm dense.");
  static_assert(C.pe != pe_kind::sparse_nm || !C.nm.dense(), "array_config: sparse_nm PEs need a non-dense N:M pattern in nm.");
  // The N:M and codebook sentences come from core (config.hpp); any remaining problem is reported by check().
  static_assert(*mvq::check(C.nm) == '\0', "nm_pattern: the array's N:M pattern is invalid (1 ≤ N ≤ M ≤ 16).");
  static_assert(C.pe != pe_kind::vq_decode || *mvq::check(C.vq, C.nm) == '\0',
                "vq_config: the array's codebook is invalid (K a power of two in [2, 65536], d in [1, 64], d a multiple of M).");
  static_assert(C.pe != pe_kind::vq_decode || C.codebook_rf_entries == 0 || C.codebook_rf_entries >= C.vq.codebook_size,
                "array_config: the codebook register file must hold at least K codewords.");
  static_assert(*check(C) == '\0', "array_config: invalid configuration.");

 public:
  /// The configuration.
  static constexpr array_config config = C;
  /// PEs in the array.
  static constexpr std::uint64_t pes = C.pes();
  /// Cycles of one WS/IS/OS fold that streams `t` rows.
  [[nodiscard]] static constexpr std::uint64_t fold_cycles(std::uint64_t t) noexcept { return hw::fold_cycles(C, t); }
  /// How a layer maps onto this array.
  [[nodiscard]] static constexpr array_mapping map(layer const& l) noexcept { return map_layer(C, l); }
  /// The analytic model of a layer.
  [[nodiscard]] static constexpr layer_cost analyze(layer const& l) noexcept { return hw::analyze(C, l); }
  /// Cycles of a layer (analytic model).
  [[nodiscard]] static constexpr std::uint64_t cycles(layer const& l) noexcept { return hw::cycles(C, l); }
  /// The cycle-stepped model on synthetic int8 operands.
  [[nodiscard]] static result<sim_stats> simulate(layer const& l, std::uint64_t seed = 1) {
    return simulate_layer(C, l, seed);
  }
  /// The cycle-stepped model on real int8 operands (kernel convention: w is N×K).
  [[nodiscard]] static result<sim_stats> simulate(matrix_view<const std::int8_t> x, matrix_view<const std::int8_t> w,
                                                  matrix_view<std::int32_t> out, nm_pattern p = C.pe_pattern()) {
    return simulate_gemm_i8(C, x, w, out, p);
  }
};

}  // namespace mvq::inline v0::hw
