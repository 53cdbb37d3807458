#pragma once
/// @file
/// Layer mapping: a layer becomes one GEMM (M, N, K) — or, for depthwise layers, one GEMM per channel as
/// SCALE-Sim does — and the GEMM is laid onto the array according to the dataflow: which extent sits on the PE
/// rows (Sr), which on the columns (Sc), and which is streamed through (T), and how many folds that takes.

#include <cstdint>

#include "mvq/core/config.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"

namespace mvq::inline v0::hw {

/// out (M×N) = in (M×K) · W (K×N), repeated `groups` times with independent operands.
struct gemm_shape {
  std::uint64_t m = 1;       ///< output pixels per filter (E_h·E_w) or GEMM rows
  std::uint64_t n = 1;       ///< filters or GEMM columns
  std::uint64_t k = 1;       ///< reduction length (R·S·C, or R·S per depthwise channel)
  std::uint64_t groups = 1;  ///< independent GEMMs of this shape (depthwise: one per channel)

  friend constexpr bool operator==(gemm_shape const&, gemm_shape const&) = default;
};

/// The GEMM of a layer. Conv (SCALE-Sim convention, topology_utils.py / operand_matrix.py): M = E_h·E_w,
/// K = R·S·C, N = filters. Depthwise (SCALE-Sim splits a "DP" layer into one single-channel layer per channel):
/// `channels` GEMMs with K = R·S and N = filters per channel.
[[nodiscard]] constexpr gemm_shape to_gemm(layer const& l) noexcept {
  const std::uint64_t window = std::uint64_t{l.filter_h} * l.filter_w;
  if (l.kind == layer_kind::depthwise) return {l.ofmap_pixels(), l.filters, window, l.channels};
  return {l.ofmap_pixels(), l.filters, window * l.channels, 1};
}

/// Reduction length left after N:M compaction of the filter, as SCALE-Sim v3 does it (operand_matrix.py, layer-wise
/// sparsity): every full group of M rows keeps N, a trailing partial group of r rows keeps min(r, N), and trailing
/// all-zero rows are dropped. Equals ⌈K/M⌉·N when M divides K.
[[nodiscard]] constexpr std::uint64_t compact_k(std::uint64_t k, nm_pattern p) noexcept {
  if (p.dense()) return k;
  const std::uint64_t full = k / p.m, rest = k % p.m;
  return full * p.n + (rest < p.n ? rest : std::uint64_t{p.n});
}

/// The N:M pattern that compacts a layer's reduction on an array: none on dense PEs; the layer's own pattern (a
/// SCALE-Sim v3 `Sparsity` entry) when it has one, else the array's.
[[nodiscard]] constexpr nm_pattern effective_pattern(array_config const& c, layer const& l) noexcept {
  if (c.pe == pe_kind::dense_mac) return {};
  return l.sparsity.dense() ? c.nm : l.sparsity;
}

/// How one GEMM sits on the array.
struct array_mapping {
  std::uint64_t sr = 1;         ///< extent mapped onto the PE rows
  std::uint64_t sc = 1;         ///< extent mapped onto the PE columns
  std::uint64_t t = 1;          ///< extent streamed through the array per fold
  std::uint64_t row_folds = 1;  ///< ⌈Sr / rows⌉
  std::uint64_t col_folds = 1;  ///< ⌈Sc / cols⌉
  std::uint64_t k = 1;          ///< reduction length after N:M compaction (K')

  /// Folds per GEMM, ⌈Sr/R⌉·⌈Sc/C⌉ (SCALE-Sim systolic_compute_*.py).
  [[nodiscard]] constexpr std::uint64_t folds() const noexcept { return row_folds * col_folds; }
  /// Rows used in row fold `fr` (the last one may be partial).
  [[nodiscard]] constexpr std::uint64_t rows_used(std::uint64_t fr, std::uint32_t rows) const noexcept {
    const std::uint64_t left = sr - fr * rows;
    return left < rows ? left : rows;
  }
  /// Columns used in column fold `fc`.
  [[nodiscard]] constexpr std::uint64_t cols_used(std::uint64_t fc, std::uint32_t cols) const noexcept {
    const std::uint64_t left = sc - fc * cols;
    return left < cols ? left : cols;
  }
};

namespace detail {
[[nodiscard]] constexpr std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) noexcept { return (a + b - 1) / b; }
}  // namespace detail

/// Lays a GEMM onto the array (SCALE-Sim topology_utils.py `calc_spatio_temporal_params`): WS and EWS map (K', N)
/// and stream M; OS maps (M, N) and streams K'; IS maps (K', M) and streams N. K' is K after N:M compaction.
[[nodiscard]] constexpr array_mapping map_gemm(array_config const& c, gemm_shape g, nm_pattern p = {}) noexcept {
  array_mapping a;
  a.k = compact_k(g.k, p);
  switch (c.flow) {
    case dataflow::weight_stationary:
    case dataflow::enhanced_weight_stationary: a.sr = a.k; a.sc = g.n; a.t = g.m; break;
    case dataflow::output_stationary: a.sr = g.m; a.sc = g.n; a.t = a.k; break;
    case dataflow::input_stationary: a.sr = a.k; a.sc = g.m; a.t = g.n; break;
  }
  a.row_folds = detail::ceil_div(a.sr, c.rows);
  a.col_folds = detail::ceil_div(a.sc, c.cols);
  return a;
}

/// Maps a layer: its GEMM (per group) with the effective N:M pattern.
[[nodiscard]] constexpr array_mapping map_layer(array_config const& c, layer const& l) noexcept {
  return map_gemm(c, to_gemm(l), effective_pattern(c, l));
}

}  // namespace mvq::inline v0::hw
