#pragma once
/// @file
/// Energy model: the events one layer causes on an array (`layer_events`: MACs, register-file, SRAM and DRAM
/// bits, activation-mux selections, codeword decodes, mask-decoder counts) priced with the per-operation costs
/// of an energy/area table (`technology`, tables.hpp), giving a per-layer `energy_breakdown`, and TOPS/W.
///
/// Conventions (docs/emulator.md, "Energy model"):
/// - dynamic energy only: every event costs its table energy; idle PEs cost nothing (clock gating assumed);
/// - a MAC is one operand_bits × operand_bits multiply plus one accumulator_bits add;
/// - registers and register files cost `reg` energy per bit read or written;
/// - an M:1 multiplexer selection costs (M − 1) 2:1 mux bits per data bit (every input of the tree may toggle);
/// - a codeword read from the codebook register file costs d·w register bits plus log2 K mux levels of d·w bits;
/// - TOPS/W counts 2 operations per MAC of the *dense* layer, so skipping pruned weights raises TOPS/W (the
///   convention of sparse accelerators such as S2TA, HPCA 2022).

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "mvq/hw/analytic.hpp"
#include "mvq/hw/area.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"
#include "mvq/hw/processing_element.hpp"
#include "mvq/hw/tables.hpp"

namespace mvq::inline v0::hw {

/// Events of one layer on one array: what the energy model prices.
struct layer_events {
  std::uint64_t cycles = 0;             ///< array cycles including stalls
  std::uint64_t macs = 0;               ///< MACs the PEs perform (kept weights only, on sparse arrays)
  std::uint64_t dense_macs = 0;         ///< MACs of the dense layer: the work delivered (TOPS/W counts these)
  std::uint64_t wrf_bits = 0;           ///< weight register file bits read + written
  std::uint64_t arf_bits = 0;           ///< activation register file bits read + written
  std::uint64_t prf_bits = 0;           ///< partial-sum register file bits read + written
  std::uint64_t ifmap_sram_bits = 0;    ///< ifmap SRAM bits read + written
  std::uint64_t filter_sram_bits = 0;   ///< filter SRAM bits read + written (compressed on VQ arrays)
  std::uint64_t ofmap_sram_bits = 0;    ///< ofmap SRAM bits read + written
  std::uint64_t dram_bits = 0;          ///< DRAM bits read + written
  std::uint64_t act_mux_selects = 0;    ///< M:1 activation selections of sparse PEs (one per MAC)
  std::uint64_t codewords_decoded = 0;  ///< codebook register-file reads (vq_decode)
  std::uint64_t kept_values_decoded = 0;///< kept values picked out of decoded codewords (N:M + VQ)
  std::uint64_t lzc_ops = 0;            ///< leading-zero counts of the mask decoder
  std::uint64_t codebook_write_bits = 0;///< bits written into the codebook register file (loading the codebook)

  /// Element-wise sum.
  constexpr layer_events& operator+=(layer_events const& o) noexcept {
    cycles += o.cycles; macs += o.macs; dense_macs += o.dense_macs;
    wrf_bits += o.wrf_bits; arf_bits += o.arf_bits; prf_bits += o.prf_bits;
    ifmap_sram_bits += o.ifmap_sram_bits; filter_sram_bits += o.filter_sram_bits;
    ofmap_sram_bits += o.ofmap_sram_bits; dram_bits += o.dram_bits;
    act_mux_selects += o.act_mux_selects; codewords_decoded += o.codewords_decoded;
    kept_values_decoded += o.kept_values_decoded; lzc_ops += o.lzc_ops; codebook_write_bits += o.codebook_write_bits;
    return *this;
  }
  friend constexpr bool operator==(layer_events const&, layer_events const&) = default;
};

/// Energy of one layer by component, pJ.
struct energy_breakdown {
  double mac_pj = 0;      ///< multipliers and adders
  double wrf_pj = 0;      ///< weight register files
  double arf_pj = 0;      ///< activation register files
  double prf_pj = 0;      ///< partial-sum register files
  double sram_pj = 0;     ///< ifmap + filter + ofmap SRAM
  double dram_pj = 0;     ///< off-chip DRAM
  double decoder_pj = 0;  ///< codebook register-file reads, mask decoder (LZC) and kept-value muxes
  double mux_pj = 0;      ///< activation multiplexers of sparse PEs

  /// Sum of all components.
  [[nodiscard]] constexpr double total_pj() const noexcept {
    return mac_pj + wrf_pj + arf_pj + prf_pj + sram_pj + dram_pj + decoder_pj + mux_pj;
  }
  constexpr energy_breakdown& operator+=(energy_breakdown const& o) noexcept {
    mac_pj += o.mac_pj; wrf_pj += o.wrf_pj; arf_pj += o.arf_pj; prf_pj += o.prf_pj;
    sram_pj += o.sram_pj; dram_pj += o.dram_pj; decoder_pj += o.decoder_pj; mux_pj += o.mux_pj;
    return *this;
  }
};

/// Number of components of an `energy_breakdown`, and their names in order ("mac", "wrf", ...).
inline constexpr const char* energy_component_names[] = {"mac", "wrf", "arf", "prf", "sram", "dram", "decoder", "mux"};

/// The components of `e` in the order of `energy_component_names`.
[[nodiscard]] constexpr std::array<double, 8> components(energy_breakdown const& e) noexcept {
  return {e.mac_pj, e.wrf_pj, e.arf_pj, e.prf_pj, e.sram_pj, e.dram_pj, e.decoder_pj, e.mux_pj};
}

/// Technology parameters for the array `c` (operand/accumulator widths, mask group, SRAM sizes) on DRAM `dram`.
[[nodiscard]] inline technology_params technology_params_for(array_config const& c, std::string dram = "dram") {
  technology_params p;
  p.operand_bits = c.operand_bits;
  p.accumulator_bits = c.accumulator_bits;
  p.mask_group = c.pe_pattern().dense() ? 4u : c.pe_pattern().m;
  p.ifmap_sram_kb = c.ifmap_sram_kb;
  p.filter_sram_kb = c.filter_sram_kb;
  p.ofmap_sram_kb = c.ofmap_sram_kb;
  p.dram = std::move(dram);
  return p;
}

/// Prices the events of one layer on array `c` with costs `tech` (resolved for `c`: see technology_params_for).
[[nodiscard]] inline energy_breakdown price(layer_events const& ev, array_config const& c,
                                               technology const& tech) noexcept {
  auto f = [](std::uint64_t x) { return static_cast<double>(x); };
  const double w = c.operand_bits;
  const double reg = tech.reg_bit.energy_pj, mux = tech.mux2_bit.energy_pj;
  const nm_pattern p = c.pe_pattern();
  const double m_minus_1 = p.dense() ? 0.0 : p.m - 1.0;
  energy_breakdown e;
  e.mac_pj = f(ev.macs) * tech.mac_pj();
  e.wrf_pj = f(ev.wrf_bits) * reg;
  e.arf_pj = f(ev.arf_bits) * reg;
  e.prf_pj = f(ev.prf_bits) * reg;
  e.sram_pj = f(ev.ifmap_sram_bits) * tech.ifmap_sram_pj_per_bit + f(ev.filter_sram_bits) * tech.filter_sram_pj_per_bit +
              f(ev.ofmap_sram_bits) * tech.ofmap_sram_pj_per_bit;
  e.dram_pj = f(ev.dram_bits) * tech.dram_pj_per_bit;
  // One codeword read: its bits (`codeword_bits`, the definition the area model sizes the register file with).
  const double codeword_pj = static_cast<double>(codeword_bits(c)) * (reg + ceil_log2(c.codebook_entries()) * mux);
  e.decoder_pj = f(ev.codewords_decoded) * codeword_pj + f(ev.lzc_ops) * tech.lzc.energy_pj +
                 f(ev.codebook_write_bits) * reg +
                 f(ev.kept_values_decoded) * m_minus_1 * w * mux;
  e.mux_pj = f(ev.act_mux_selects) * m_minus_1 * w * mux;
  return e;
}

/// Stored bits of one kept weight in the filter SRAM: the layer's weight bits without the codebook (indices,
/// masks or values) over the kept weights K'·N (analytic.hpp counts both). Dense int8: 8; S2TA-like 2:4: 8 + 4/2;
/// MVQ K = 256, d = 16, 2:4: (8 + 16) / 8 = 3.
[[nodiscard]] constexpr double stored_bits_per_kept_weight(layer const& l, layer_cost const& lc) noexcept {
  const double kept =
      static_cast<double>(lc.groups) * static_cast<double>(lc.map.k) * static_cast<double>(to_gemm(l).n);
  return kept > 0 ? static_cast<double>(lc.filter_bits - lc.codebook_bits) / kept : 0.0;
}

/// Events of layer `l` on array `c` from the analytic model's counts `lc` (analytic.hpp). Register files
/// (docs/emulator.md, "Energy model"): every MAC reads one weight (WRF) and one activation (ARF) and reads and
/// writes one partial sum (PRF, accumulator width); a stationary operand is written once per word loaded, a
/// streamed one into the register of every used PE it passes (WS/EWS: activations across the columns, so
/// activations EWS serves from its ARF are not re-written; IS: weights across the columns; OS: activations
/// across the columns and weights down the rows), at most once per MAC. SRAM: the reads of the model plus one write per word filled from DRAM; filter
/// SRAM words cost the stored bits of a kept weight (`stored_bits_per_kept_weight`); partial sums travel at
/// accumulator width. DRAM: operand words. Decoder: one codebook read per sub-vector loaded, one leading-zero
/// count and one kept-value selection per kept weight (N per mask group), the codebook written once per layer.
[[nodiscard]] constexpr layer_events make_events(array_config const& c, layer const& l, layer_cost const& lc) noexcept {
  const std::uint64_t w = c.operand_bits, acc = c.accumulator_bits;
  layer_events ev;
  ev.cycles = lc.total_cycles();
  ev.dense_macs = lc.macs;
  ev.macs = lc.array_macs;
  // Forwarding: a streamed operand is written into the register of every PE it passes; a stationary one once.
  // WS/EWS: weights stationary, activations cross the used columns. IS: activations stationary, weights cross
  // the used columns. OS: activations cross the used columns, weights the used rows. Capped at one per MAC.
  const std::uint64_t cols_used = lc.map.sc < c.cols ? lc.map.sc : c.cols;
  const std::uint64_t rows_used = lc.map.sr < c.rows ? lc.map.sr : c.rows;
  std::uint64_t arf_writes = lc.ifmap_sram_reads, wrf_writes = lc.wrf_writes;
  switch (c.flow) {
    case dataflow::weight_stationary:
    case dataflow::enhanced_weight_stationary: arf_writes *= cols_used; break;
    case dataflow::input_stationary: wrf_writes *= cols_used; break;
    case dataflow::output_stationary: arf_writes *= cols_used; wrf_writes *= rows_used; break;
  }
  auto cap = [&](std::uint64_t writes, std::uint64_t loaded) {
    const std::uint64_t limit = ev.macs > loaded ? ev.macs : loaded;
    return writes < limit ? writes : limit;
  };
  arf_writes = cap(arf_writes, lc.ifmap_sram_reads);
  wrf_writes = cap(wrf_writes, lc.wrf_writes);
  ev.wrf_bits = (ev.macs + wrf_writes) * w;
  ev.arf_bits = (ev.macs + arf_writes) * w;
  ev.prf_bits = 2 * ev.macs * acc;
  const double wb = stored_bits_per_kept_weight(l, lc);
  ev.ifmap_sram_bits = (lc.ifmap_sram_reads + lc.ifmap_dram_reads) * w;
  ev.filter_sram_bits = static_cast<std::uint64_t>(static_cast<double>(lc.filter_sram_reads) * wb + 0.5) +
                        lc.filter_dram_reads * w;
  ev.ofmap_sram_bits = (lc.ofmap_sram_writes + lc.ofmap_sram_reads) * acc + lc.ofmap_dram_writes * w;
  ev.dram_bits = (lc.ifmap_dram_reads + lc.filter_dram_reads + lc.ofmap_dram_writes) * w;
  const nm_pattern p = effective_pattern(c, l);
  if (!p.dense()) {
    ev.act_mux_selects = ev.macs;
    ev.lzc_ops = lc.mask_decodes * p.n;
  }
  if (c.pe == pe_kind::vq_decode) {
    ev.codewords_decoded = lc.codebook_reads;
    if (!p.dense()) ev.kept_values_decoded = lc.mask_decodes * p.n;
    ev.codebook_write_bits = lc.codebook_bits;
  }
  return ev;
}

/// Energy of layer `l` on array `c` under the analytic model: `price(make_events(c, l, analyze(c, l)), c, tech)`.
[[nodiscard]] inline energy_breakdown layer_energy(array_config const& c, layer const& l,
                                                   technology const& tech) noexcept {
  return price(make_events(c, l, analyze(c, l)), c, tech);
}

/// Tera-operations per second per watt: 2 ops per dense MAC over the energy. TOPS/W = ops / pJ.
[[nodiscard]] constexpr double tops_per_watt(std::uint64_t dense_macs, double energy_pj) noexcept {
  return energy_pj > 0 ? 2.0 * static_cast<double>(dense_macs) / energy_pj : 0.0;
}

}  // namespace mvq::inline v0::hw
