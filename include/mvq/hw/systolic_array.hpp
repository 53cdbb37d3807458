#pragma once
/// @file
/// `hw::systolic_array<C>`: the compile-time face of an `array_config`. An invalid configuration is a compile
/// error whose `static_assert` message is the same sentence `hw::check(C)` / `hw::validate(C)` give at run time;
/// the members forward to the `constexpr` models, so `static_assert(systolic_array<cfg>::cycles(l) <= budget)`
/// works.

#include <cstdint>
#include <span>
#include <string>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/reduction_order.hpp"
#include "mvq/hw/analytic.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/cycle_sim.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"
#include "mvq/hw/processing_element.hpp"

namespace mvq::inline v0::hw {

/// A systolic array fixed at compile time. Its PEs are `processing_element<pe_config(C)>`: the kernels' traits for
/// the array's widths, codebook and pattern. @tparam C the array; an invalid one is a compile error with a sentence.
template <array_config C>
class systolic_array {
  // Every field is checked once; a failure prints that field's sentence from core/sentences.hpp.
  static_assert(require_valid<diagnose(C)>);

 public:
  /// The configuration.
  static constexpr array_config config = C;
  /// The processing element every MAC of the cycle-stepped model goes through.
  using pe_type = processing_element<pe_config(C)>;
  /// PEs in the array.
  static constexpr std::uint64_t pes = C.pes();
  /// True when weights of codebook shape `V` and pattern `P` run on this array; any other shape is a compile error
  /// whose message is the sentence of what does not fit (`diagnose_fit`).
  template <vq_config V, nm_pattern P = nm_pattern{}>  // clang 14 rejects a bare `= {}` here
  static constexpr bool accepts = require_valid<diagnose_fit(C, V, P)>;

  /// Cycles of one WS/IS/OS fold that streams `t` rows.
  [[nodiscard]] static constexpr std::uint64_t fold_cycles(std::uint64_t t) noexcept { return hw::fold_cycles(C, t); }
  /// How a layer maps onto this array.
  [[nodiscard]] static constexpr array_mapping map(layer const& l) noexcept { return map_layer(C, l); }
  /// The analytic model of a layer.
  [[nodiscard]] static constexpr layer_cost analyze(layer const& l) noexcept { return hw::analyze(C, l); }
  /// Cycles of a layer (analytic model).
  [[nodiscard]] static constexpr std::uint64_t cycles(layer const& l) noexcept { return hw::cycles(C, l); }

  /// Checks that a layer runs on this array: a valid layer whose own N:M pattern (if any) is the PEs' pattern on
  /// a sparse or VQ array (dense_mac PEs multiply the zeros and take any pattern).
  [[nodiscard]] static result<void> check_layer(layer const& l) {
    if (auto v = validate(l); !v) return v;
    if (C.pe == pe_kind::dense_mac || l.sparsity.dense() || l.sparsity == C.nm) return {};
    return fail(errc::unsupported, "systolic_array: the array's " + detail::describe_pes(C) +
                                       " cannot run a layer with N:M " + to_string(l.sparsity) + ": " +
                                       sentence(config_error::array_fit_nm));
  }
  /// Checks that a compressed matrix runs on this array (`check_fits`: K within the codebook register file, the
  /// array's d and N:M); the error names both configurations.
  [[nodiscard]] static result<void> check_layer(compressed_layout const& l) { return check_fits(C, l, "systolic_array"); }

  /// The cycle-stepped model on synthetic operands (`simulate_layer`), after `check_layer`.
  [[nodiscard]] static result<sim_stats> simulate(layer const& l, std::uint64_t seed = 1) {
    if (auto v = check_layer(l); !v) return tl::unexpected(v.error());
    return simulate_layer(C, l, seed);
  }
  /// The cycle-stepped model on real int8 operands (kernel convention: w is N×K), on `pe_type`.
  [[nodiscard]] static result<sim_stats> simulate(matrix_view<const std::int8_t> x, matrix_view<const std::int8_t> w,
                                                  matrix_view<std::int32_t> out, nm_pattern p = C.pe_pattern()) {
    return detail::run_gemm(C, pe_type{}, x, w, out, p);
  }
  /// The cycle-stepped model on compressed weights, after `check_layer(w.layout)`, on `pe_type`.
  [[nodiscard]] static result<sim_stats> simulate(matrix_view<const std::int8_t> x, compressed_matrix_view const& w,
                                                  matrix_view<std::int32_t> out) {
    return detail::run_gemm(C, pe_type{}, x, w, out);
  }
  /// Compile-time-shaped form: `V` and `P` must fit the array (`accepts<V, P>`, a compile error otherwise), and
  /// the matrix must have exactly that shape (a runtime error otherwise).
  template <vq_config V, nm_pattern P = nm_pattern{}>  // clang 14 rejects a bare `= {}` here
  [[nodiscard]] static result<sim_stats> simulate(matrix_view<const std::int8_t> x, compressed_matrix_view const& w,
                                                  matrix_view<std::int32_t> out) {
    static_assert(accepts<V, P>);
    if (w.layout.vq != V || w.layout.nm != P) {
      // Appended piece by piece: GCC 12's -Wrestrict misfires on a chain of temporaries built from constants.
      std::string msg = "systolic_array: the matrix has ";
      msg += "K";
      msg += std::to_string(w.layout.vq.codebook_size);
      msg += "_d";
      msg += std::to_string(w.layout.vq.subvector_dim);
      msg += " and N:M ";
      msg += to_string(w.layout.nm);
      msg += ", the call was compiled for ";
      msg += "K";
      msg += std::to_string(V.codebook_size);
      msg += "_d";
      msg += std::to_string(V.subvector_dim);
      msg += " and N:M ";
      msg += to_string(P);
      return fail(errc::shape_mismatch, msg);
    }
    return simulate(x, w, out);
  }
  /// A conv or GEMM layer on real int8 weights in `order` (`simulate_conv_i8`), after `check_layer`, on `pe_type`.
  [[nodiscard]] static result<sim_stats> simulate(layer const& l, std::span<const std::int8_t> ifmap,
                                                  matrix_view<const std::int8_t> w, reduction_order order,
                                                  matrix_view<std::int32_t> out) {
    if (auto v = check_layer(l); !v) return tl::unexpected(v.error());
    return detail::run_conv(C, pe_type{}, l, ifmap, w, order, out);
  }
  /// A conv or GEMM layer on compressed weights; the im2col follows `w.layout.order`.
  [[nodiscard]] static result<sim_stats> simulate(layer const& l, std::span<const std::int8_t> ifmap,
                                                  compressed_matrix_view const& w, matrix_view<std::int32_t> out) {
    if (auto v = check_layer(l); !v) return tl::unexpected(v.error());
    return detail::run_conv(C, pe_type{}, l, ifmap, w, out);
  }
};

}  // namespace mvq::inline v0::hw
