#pragma once
/// @file
/// The designs of the MVQ accelerator comparison (MVQ, ASPLOS 2025) as `array_config`s, and the cost of a whole
/// network on one of them (cycles, energy by layer and component, TOPS/W, array area).
///
/// For a logical R × C array (the MVQ paper: 64 × 64), N:M pattern and codebook (K, d):
/// - `ws`:      dense weight-stationary R × C, int8 weights (SCALE-Sim's WS);
/// - `ews`:     the EWS base accelerator (IEEE TCAS-II 2024): R × C with weight/activation/partial-sum register
///              files (depths from `ews_64x64`);
/// - `ews_vq`:  EWS whose weights arrive as codebook indices, decoded through a codebook register file (dense);
/// - `mvq`:     the MVQ accelerator: EWS, VQ weights with N:M masks, a sparse array of R·N/M × C PEs (each d-wide
///              sub-vector occupies Q = (N/M)·d PEs instead of d), one M:1 activation mux per PE;
/// - `s2ta`:    "S2TA-like": weight side of S2TA (HPCA 2022): int8 weights in N:M blocks with an M-bit bitmap,
///              R·N/M × C WS PEs with an M:1 activation mux each; activations are dense (S2TA's activation-side
///              block sparsity is not modelled), no EWS register files.
/// The sparse arrays keep the dense array's logical reduction height: R·N/M physical rows hold the N kept
/// weights of every M, so their fold count equals the dense array's (docs/emulator.md).

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/hw/analytic.hpp"
#include "mvq/hw/area.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/energy.hpp"
#include "mvq/hw/layer.hpp"

namespace mvq::inline v0::hw {

/// One design of the comparison.
struct design {
  std::string_view key;    ///< "ws", "ews", "ews_vq", "mvq", "s2ta"
  std::string_view label;  ///< column title: "dense WS", "EWS", "EWS + VQ", "MVQ sparse EWS", "S2TA-like"
  array_config config;     ///< the array
};

/// Number of designs in the comparison.
inline constexpr std::size_t design_count = 5;

/// The five designs for a logical `rows` × `cols` array, codebook `vq` and pattern `nm` (non-dense, with M
/// dividing rows·N so the sparse array has whole rows). Errors name the offending parameter.
[[nodiscard]] inline result<std::array<design, design_count>> comparison_designs(std::uint32_t rows, std::uint32_t cols,
                                                                               vq_config vq, nm_pattern nm) {
  if (nm.dense()) return fail(errc::invalid_argument, "MVQ comparison: the N:M pattern must not be dense");
  if (auto v = mvq::validate(vq, nm); !v) return fail(errc::invalid_argument, "MVQ comparison: " + v.error().message);
  if ((std::uint64_t{rows} * nm.n) % nm.m != 0)
    return fail(errc::invalid_argument, "MVQ comparison: rows·N/M must be a whole number of PE rows (rows = " +
                                            std::to_string(rows) + ", N:M = " + to_string(nm) + ")");
  const std::uint32_t sparse_rows = rows * nm.n / nm.m;
  array_config ws{.rows = rows, .cols = cols};
  array_config ews = ews_64x64;
  ews.rows = rows;
  ews.cols = cols;
  array_config ews_vq = ews;
  ews_vq.pe = pe_kind::vq_decode;
  ews_vq.vq = vq;
  array_config mvq_acc = ews_vq;
  mvq_acc.rows = sparse_rows;
  mvq_acc.nm = nm;
  array_config s2ta{.rows = sparse_rows, .cols = cols, .pe = pe_kind::sparse_nm, .nm = nm};
  std::array<design, design_count> out{{{"ws", "dense WS", ws},
                                        {"ews", "EWS", ews},
                                        {"ews_vq", "EWS + VQ", ews_vq},
                                        {"mvq", "MVQ sparse EWS", mvq_acc},
                                        {"s2ta", "S2TA-like", s2ta}}};
  for (auto const& d : out)
    if (auto v = hw::validate(d.config, std::string("MVQ comparison design '") + std::string(d.key) + "'"); !v)
      return tl::unexpected(v.error());
  return out;
}

/// Cost of one layer on one design.
struct layer_result {
  std::string name;          ///< layer name
  layer shape;               ///< the layer
  layer_cost counts;         ///< analytic model counts (analytic.hpp)
  layer_events events;       ///< events priced by the energy model
  energy_breakdown energy;   ///< energy by component, pJ
};

/// Cost of a network on one design.
struct network_result {
  array_config config;              ///< the array
  std::vector<layer_result> layers; ///< per layer, in order
  std::uint64_t cycles = 0;         ///< Σ total cycles
  std::uint64_t dense_macs = 0;     ///< Σ MACs of the dense layers
  energy_breakdown energy;          ///< Σ energy by component, pJ
  area_breakdown area;              ///< array area, µm²

  /// TOPS/W over the whole network (2 ops per dense MAC).
  [[nodiscard]] double tops_per_watt() const noexcept { return hw::tops_per_watt(dense_macs, energy.total_pj()); }
  /// Energy of one inference, µJ.
  [[nodiscard]] double energy_uj() const noexcept { return energy.total_pj() * 1e-6; }
  /// Latency of one inference at the array's clock, ms.
  [[nodiscard]] double latency_ms() const noexcept {
    return static_cast<double>(cycles) / (static_cast<double>(config.clock_mhz) * 1e3);
  }
};

/// The array `c` running a layer whose weights are not pruned or not VQ-coded (depthwise layers, which MVQ does
/// not compress, and activation × activation products such as attention): the same PEs with their activation
/// muxes held and no weight decoding, i.e. `c` with dense_mac PEs. A sparse array of R·N/M rows then holds R·N/M
/// reduction indices per fold.
[[nodiscard]] constexpr array_config dense_variant(array_config c) noexcept {
  c.pe = pe_kind::dense_mac;
  c.nm = {};
  return c;
}

/// Runs the analytic model and the energy model over `layers` on array `c`, with costs `tech` (resolved for `c`,
/// see `technology_params_for`). Layer i runs on `dense_variant(c)` when it is depthwise or when `prunable` is
/// given and `prunable[i]` is 0. The area is always the area of `c`. Errors: an invalid configuration or layer
/// (named), or a `prunable` of the wrong length.
[[nodiscard]] inline result<network_result> evaluate_network(array_config const& c, std::span<const named_layer> layers,
                                                             technology const& tech,
                                                             std::span<const std::uint8_t> prunable = {}) {
  if (auto v = hw::validate(c); !v) return tl::unexpected(v.error());
  if (!prunable.empty() && prunable.size() != layers.size())
    return fail(errc::shape_mismatch, "evaluate_network: " + std::to_string(prunable.size()) +
                                          " prunable flags for " + std::to_string(layers.size()) + " layers");
  network_result out;
  out.config = c;
  auto area = array_area(c, tech);
  if (!area) return tl::unexpected(area.error());
  out.area = *area;
  out.layers.reserve(layers.size());
  const array_config dense_c = dense_variant(c);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto const& nl = layers[i];
    if (auto v = hw::validate(nl.shape, nl.name); !v) return tl::unexpected(v.error());
    const bool dense = nl.shape.kind == layer_kind::depthwise || (!prunable.empty() && prunable[i] == 0);
    array_config const& lc = dense ? dense_c : c;
    layer_result r;
    r.name = nl.name;
    r.shape = nl.shape;
    r.counts = analyze(lc, nl.shape);
    r.events = make_events(lc, nl.shape, r.counts);
    r.energy = price(r.events, lc, tech);
    out.cycles += r.events.cycles;
    out.dense_macs += r.events.dense_macs;
    out.energy += r.energy;
    out.layers.push_back(std::move(r));
  }
  return out;
}

}  // namespace mvq::inline v0::hw
