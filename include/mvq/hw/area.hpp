#pragma once
/// @file
/// Area of a systolic array (the PE grid and the logic that feeds it weights), from the per-unit areas of an
/// energy/area table (`technology`). SRAMs and DRAM are outside "the array", as in the MVQ paper's array-area
/// comparison (ASPLOS 2025: "55 % smaller systolic array" than the EWS base accelerator).
///
/// Every PE has a multiplier (operand_bits²), an adder (accumulator_bits) and three register files: weight
/// (WRF, operand_bits × depth), activation (ARF, operand_bits × depth) and partial sum (PRF, accumulator_bits ×
/// depth). On WS/OS/IS arrays each file is one pipeline register (depth 1): the stationary weight, the forwarded
/// activation and the partial-sum register. On an EWS array the depths come from `array_config`, and a file of
/// depth D > 1 adds a D:1 read multiplexer ((D − 1) 2:1 mux bits per stored bit width).
/// Sparse N:M PEs (`sparse_nm`, `vq_decode` with an N:M pattern) add an M:1 activation multiplexer
/// (operand_bits × (M − 1) 2:1 mux bits) and a ⌈log2 M⌉-bit select register.
/// `vq_decode` arrays add the codebook register file (K × d × operand_bits register bits) and the decode lanes
/// of the weight-loading controller (see `decode_lanes`); `sparse_nm` arrays (S2TA-like) add one leading-zero
/// counter per column that turns the M-bit block bitmap into the select of each kept weight as it is loaded.

#include <bit>
#include <cstdint>

#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/processing_element.hpp"
#include "mvq/hw/tables.hpp"

namespace mvq::inline v0::hw {

/// Array area by component, µm².
struct area_breakdown {
  double mac_um2 = 0;          ///< multipliers and adders of all PEs
  double wrf_um2 = 0;          ///< weight register files (or the weight register), incl. read muxes
  double arf_um2 = 0;          ///< activation register files (or the forwarding register), incl. read muxes
  double prf_um2 = 0;          ///< partial-sum register files (or the partial-sum register), incl. read muxes
  double act_mux_um2 = 0;      ///< sparse PEs: M:1 activation multiplexers and their select registers
  double codebook_rf_um2 = 0;  ///< the codebook register file (vq_decode)
  double decoder_um2 = 0;      ///< weight decoders: codeword read muxes, leading-zero-count mask decoders, kept-value muxes

  /// Sum of all components.
  [[nodiscard]] constexpr double total_um2() const noexcept {
    return mac_um2 + wrf_um2 + arf_um2 + prf_um2 + act_mux_um2 + codebook_rf_um2 + decoder_um2;
  }
  /// Register files only (WRF + ARF + PRF).
  [[nodiscard]] constexpr double register_files_um2() const noexcept { return wrf_um2 + arf_um2 + prf_um2; }
};

/// Register-file depths that are in use: the configured ones on EWS arrays, 1 (a pipeline register) otherwise.
struct rf_depths {
  std::uint32_t wrf = 1, arf = 1, prf = 1;  ///< entries per PE
};
/// The depths `c` actually uses.
[[nodiscard]] constexpr rf_depths used_rf_depths(array_config const& c) noexcept {
  if (c.flow != dataflow::enhanced_weight_stationary) return {};
  return {c.wrf_depth, c.arf_depth, c.prf_depth};
}

/// ⌈log2 x⌉ for x ≥ 1.
[[nodiscard]] constexpr unsigned ceil_log2(std::uint64_t x) noexcept {
  return x <= 1 ? 0u : static_cast<unsigned>(std::bit_width(x - 1));
}

/// Non-zero weights a PE column holds per d-wide sub-vector: Q = (N/M)·d (d when dense). MVQ, ASPLOS 2025. The
/// kernels' definition (`kernel_traits<C>::kept_per_subvector` is core's `kept_per_subvector(vq, nm)`), applied to
/// the array's codebook shape and the pattern its PEs exploit.
[[nodiscard]] constexpr std::uint32_t pes_per_subvector(array_config const& c) noexcept {
  return static_cast<std::uint32_t>(mvq::kept_per_subvector(c.vq, c.pe_pattern()));
}

/// Decode lanes of a vq_decode array's weight-loading controller. Each lane reads one codeword per cycle and
/// delivers its Q kept values to one PE column over Q cycles (weights shift down a column one row per cycle, as
/// in SCALE-Sim's WS fill), so ⌈cols / Q⌉ lanes keep every column fed at the dense array's one weight per column
/// per cycle. This sizing is our choice (the MVQ paper does not publish its lane count); docs/emulator.md.
[[nodiscard]] constexpr std::uint32_t decode_lanes(array_config const& c) noexcept {
  if (c.pe != pe_kind::vq_decode) return 0;
  const std::uint32_t q = pes_per_subvector(c);
  return q == 0 ? 0u : (c.cols + q - 1) / q;
}

/// Area of the array `c` with the unit areas of `tech` (µm²). Errors: an invalid configuration.
[[nodiscard]] inline result<area_breakdown> array_area(array_config const& c, technology const& tech) {
  if (auto v = hw::validate(c); !v) return tl::unexpected(v.error());
  area_breakdown a;
  const double pes = static_cast<double>(c.pes());
  const double w = c.operand_bits, acc = c.accumulator_bits;
  const double reg = tech.reg_bit.area_um2, mux = tech.mux2_bit.area_um2;
  const rf_depths d = used_rf_depths(c);
  // A D-entry file of b-bit words: D·b register bits plus a D:1 read mux of (D − 1)·b 2:1 mux bits.
  auto rf = [&](double depth, double bits) { return depth * bits * reg + (depth - 1) * bits * mux; };
  a.mac_um2 = pes * (tech.mult.area_um2 + tech.add.area_um2);
  a.wrf_um2 = pes * rf(d.wrf, w);
  a.arf_um2 = pes * rf(d.arf, w);
  a.prf_um2 = pes * rf(d.prf, acc);
  const nm_pattern p = c.pe_pattern();
  if (!p.dense()) a.act_mux_um2 = pes * ((p.m - 1) * w * mux + ceil_log2(p.m) * reg);
  if (c.pe == pe_kind::vq_decode) {
    const double k = c.codebook_entries(), cw = static_cast<double>(codeword_bits(c)), q = pes_per_subvector(c);
    // The register file holds `codebook_rf_entries` codewords of `codeword_bits` (K·d·w when it is sized to K:
    // `codebook_bits`, the definition the analytic and energy models count).
    a.codebook_rf_um2 = k * cw * reg;
    // One lane: a K:1 read mux of d·w bits, then (sparse) one LZC per kept value (the mask decoder finds the
    // next set bit of its group, N times per group) and an M:1 mux per kept value picking it out of its group.
    double lane = (k - 1) * cw * mux;
    if (!p.dense()) lane += q * (tech.lzc.area_um2 + (p.m - 1) * w * mux);
    a.decoder_um2 = decode_lanes(c) * lane;
  } else if (c.pe == pe_kind::sparse_nm) {
    a.decoder_um2 = c.cols * tech.lzc.area_um2;
  }
  return a;
}

}  // namespace mvq::inline v0::hw
