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

/// A systolic array fixed at compile time. @tparam C the array; an invalid one is a compile error with a sentence.
template <array_config C>
class systolic_array {
  // Every field is checked once; a failure prints that field's sentence from core/sentences.hpp.
  static_assert(require_valid<diagnose(C)>);

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
