#pragma once
/// @file
/// The closed-form (analytic) model: cycles, SRAM and DRAM traffic, register-file accesses and stalls of one
/// layer on one array. Every function is `constexpr`, so `static_assert(hw::cycles<cfg>(layer) <= budget)`
/// compiles; in CALC mode it equals the cycle-stepped model (cycle_sim.hpp) exactly, and for ws/os/is it equals
/// SCALE-Sim v2's "Total Cycles" and SRAM access counts. Modelling assumptions: docs/emulator.md.

#include <cstdint>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/config.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"
#include "mvq/hw/processing_element.hpp"

namespace mvq::inline v0::hw {

/// Cycles of one fold that streams `t` rows, without stalls (SCALE-Sim systolic_compute_*.py demand matrices):
/// WS and IS load the stationary operand (R cycles), then stream with the skew: 2R + C + T − 2; OS has no load
/// phase: R + C + T − 2. EWS: see `ews_group_cycles`.
[[nodiscard]] constexpr std::uint64_t fold_cycles(array_config const& c, std::uint64_t t) noexcept {
  const std::uint64_t r = c.rows, k = c.cols;
  return c.flow == dataflow::output_stationary ? r + k + t - 2 : 2 * r + k + t - 2;
}

/// EWS: one group of `g` ≤ WRF-depth row folds of the same column fold. The g weight tiles are shifted into
/// the WRFs (R·g cycles), then each streamed row is applied to all g tiles back to back (g·T cycles), with the
/// partial sum of the g products kept in the PE's PRF, so the skew fill/drain (R + C − 2) is paid once per group
/// instead of once per fold: R·g + R + C + g·T − 2. With a WRF of depth 1 this is the WS fold.
[[nodiscard]] constexpr std::uint64_t ews_group_cycles(array_config const& c, std::uint64_t g,
                                                       std::uint64_t t) noexcept {
  const std::uint64_t r = c.rows, k = c.cols;
  return r * g + r + k + g * t - 2;
}

/// Per-layer figures of the analytic model. Word counts are operand words (operand_bits each) unless stated.
struct layer_cost {
  array_mapping map{};                  ///< mapping of one GEMM group
  std::uint64_t groups = 1;             ///< independent GEMMs (depthwise channels)
  std::uint64_t cycles = 0;             ///< compute cycles, SCALE-Sim's "Total Cycles" summed over groups
  std::uint64_t stall_cycles = 0;       ///< cycles waiting for DRAM (USER bandwidth only)
  std::uint64_t prefetch_cycles = 0;    ///< cycles to fetch the first fold's operands before compute starts (USER)
  std::uint64_t macs = 0;               ///< useful MACs of the dense layer (SCALE-Sim's num_compute)
  std::uint64_t array_macs = 0;         ///< MACs the PEs perform (dense M·N·K', sparse arrays skip pruned weights)
  std::uint64_t ifmap_sram_reads = 0;   ///< ifmap SRAM reads (SCALE-Sim counting)
  std::uint64_t filter_sram_reads = 0;  ///< filter SRAM reads (SCALE-Sim counting; compressed words for VQ: see bits)
  std::uint64_t ofmap_sram_writes = 0;  ///< ofmap SRAM writes (SCALE-Sim counting, partial sums included)
  std::uint64_t ofmap_sram_reads = 0;   ///< partial sums read back for accumulation (not counted by SCALE-Sim)
  std::uint64_t ifmap_dram_reads = 0;   ///< ifmap words from DRAM (this library's model, not SCALE-Sim's)
  std::uint64_t filter_dram_reads = 0;  ///< filter words from DRAM (⌈bits / operand_bits⌉ for VQ weights)
  std::uint64_t ofmap_dram_writes = 0;  ///< ofmap words to DRAM
  std::uint64_t filter_bits = 0;        ///< bits of the weights as stored (indices + masks + codebook for VQ)
  std::uint64_t metadata_bits = 0;      ///< of which N:M mask bits
  std::uint64_t codebook_bits = 0;      ///< of which codebook bits (VQ)
  std::uint64_t wrf_writes = 0;         ///< weight-register writes (one per weight loaded into a PE)
  std::uint64_t arf_reads = 0;          ///< EWS: activations served from the ARF instead of the ifmap SRAM
  std::uint64_t prf_accesses = 0;       ///< EWS: partial-sum register-file read+write pairs
  std::uint64_t codebook_reads = 0;     ///< VQ: codebook register-file reads (one per sub-vector loaded)
  std::uint64_t mask_decodes = 0;       ///< N:M: mask groups decoded by the leading-zero-count decoder

  /// Total cycles including stalls.
  [[nodiscard]] constexpr std::uint64_t total_cycles() const noexcept { return cycles + stall_cycles; }
};

namespace detail {

/// Words of `kb` kilobytes of `bits`-bit words.
[[nodiscard]] constexpr std::uint64_t sram_words(std::uint32_t kb, std::uint8_t bits) noexcept {
  return std::uint64_t{kb} * 1024u * 8u / bits;
}

/// Unique ifmap words of one GEMM group (what DRAM must deliver at least once).
[[nodiscard]] constexpr std::uint64_t unique_ifmap_words(layer const& l) noexcept {
  if (l.kind == layer_kind::gemm) return std::uint64_t{l.ifmap_h} * l.ifmap_w;
  const std::uint64_t plane = std::uint64_t{l.ifmap_h} * l.ifmap_w;
  return l.kind == layer_kind::depthwise ? plane : plane * l.channels;
}

/// EWS activation reuse through the ARF (docs/emulator.md, "The EWS dataflow"): along an output row, the window
/// of pixel j+1 shares S − stride of its S columns with pixel j; an ARF of depth A keeps up to A of them, so each
/// row of windows reads the first window in full and then min(stride, S)/S of a window per pixel when A·stride ≥ S,
/// else 1/A of a window per pixel. Returns the SRAM reads of the layer's E_h × E_w windows of `k` words each.
[[nodiscard]] constexpr std::uint64_t ews_ifmap_reads(layer const& l, std::uint64_t k, std::uint16_t arf) noexcept {
  const std::uint64_t ew = l.ofmap_w(), eh = l.ofmap_h();
  const std::uint64_t s = l.filter_w, st = l.stride_w;
  if (l.kind == layer_kind::gemm || ew <= 1 || st >= s || arf <= 1) return eh * ew * k;
  const std::uint64_t rest = ew - 1;
  // new fraction per pixel: stride/S when the ARF holds the overlap, else 1/A
  const std::uint64_t rest_reads = std::uint64_t{arf} * st >= s ? (rest * k * st + s - 1) / s : (rest * k + arf - 1) / arf;
  return eh * (k + rest_reads);
}

}  // namespace detail

/// The analytic model of one layer. An invalid `c` or `l` (see `check`) gives an all-zero cost; validate
/// runtime input first to get the reason.
[[nodiscard]] constexpr layer_cost analyze(array_config const& c, layer const& l) noexcept {
  layer_cost out;
  if (*check(c) != '\0' || *check(l) != '\0') return out;
  const gemm_shape g = to_gemm(l);
  const nm_pattern p = effective_pattern(c, l);
  const array_mapping a = map_gemm(c, g, p);
  out.map = a;
  out.groups = g.groups;
  const std::uint64_t m = g.m, n = g.n, k = g.k, kc = a.k;
  const std::uint64_t folds = a.folds();

  // Cycles of one group: Σ folds − 1 (SCALE-Sim reports the index of the last cycle).
  std::uint64_t group_cycles = 0;
  std::uint64_t ews_groups_per_col = a.row_folds;  // row-fold groups per column fold (EWS), row folds otherwise
  if (c.flow == dataflow::enhanced_weight_stationary) {
    const std::uint64_t w = c.wrf_depth;
    const std::uint64_t full = a.row_folds / w, rest = a.row_folds % w;
    ews_groups_per_col = full + (rest ? 1 : 0);
    const std::uint64_t per_col = full * ews_group_cycles(c, w, a.t) + (rest ? ews_group_cycles(c, rest, a.t) : 0);
    group_cycles = a.col_folds * per_col - 1;
  } else {
    group_cycles = folds * fold_cycles(c, a.t) - 1;
  }
  out.cycles = g.groups * group_cycles;
  out.macs = g.groups * m * n * k;
  out.array_macs = g.groups * m * n * kc;

  // SRAM accesses (SCALE-Sim systolic_compute_*.py: ifmap_reads, filter_reads, ofmap_writes).
  std::uint64_t if_r = 0, fi_r = 0, of_w = 0, of_r = 0;
  switch (c.flow) {
    case dataflow::weight_stationary:
      if_r = a.col_folds * m * kc; fi_r = kc * n; of_w = a.row_folds * m * n; break;
    case dataflow::input_stationary:
      if_r = m * kc; fi_r = a.col_folds * kc * n; of_w = a.row_folds * m * n; break;
    case dataflow::output_stationary:
      // SCALE-Sim also adds R + C per fold to the OS ofmap writes (systolic_compute_os.py); kept for parity.
      if_r = a.col_folds * m * kc; fi_r = a.row_folds * kc * n;
      of_w = m * n + folds * (std::uint64_t{c.rows} + c.cols); break;
    case dataflow::enhanced_weight_stationary:
      if_r = a.col_folds * detail::ews_ifmap_reads(l, kc, c.arf_depth);
      fi_r = kc * n; of_w = ews_groups_per_col * m * n; break;
  }
  // Partial sums written before the last accumulation step are read back once each.
  if (c.flow != dataflow::output_stationary) of_r = of_w - m * n;
  // Sparse arrays: a PE row holding N kept weights of a group multiplexes among the group's M activations, so
  // every compacted row is fed M/N activations (SCALE-Sim v3 counts K'·M/N ifmap words per window).
  std::uint64_t if_all = c.flow == dataflow::input_stationary ? m * kc : a.col_folds * m * kc;
  if (!p.dense()) {
    if_r = (if_r * p.m + p.n - 1) / p.n;
    if_all = (if_all * p.m + p.n - 1) / p.n;
  }
  out.ifmap_sram_reads = g.groups * if_r;
  out.filter_sram_reads = g.groups * fi_r;
  out.ofmap_sram_writes = g.groups * of_w;
  out.ofmap_sram_reads = g.groups * of_r;

  // Register files. Every weight loaded into a PE is one WRF write; EWS serves the activations it did not read
  // from SRAM out of the ARF and accumulates g products per PRF entry.
  out.wrf_writes = out.filter_sram_reads;
  if (c.flow == dataflow::enhanced_weight_stationary) {
    out.arf_reads = g.groups * (if_all - if_r);
    out.prf_accesses = out.array_macs;
  }

  // Weight storage and traffic. Dense: K·N words. Sparse N:M: K'·N words plus an M-bit bitmap per group (the
  // MVQ paper's leading-zero-count decoder reads bitmaps). VQ: log2(K_cb) bits per d-wide sub-vector plus the
  // masks, plus the codebook once per layer (`codebook_bits`: K_cb codewords of d operand-width values; a masked
  // codeword is still d wide, MVQ, ASPLOS 2025).
  const std::uint64_t ob = c.operand_bits;
  const std::uint64_t mask_groups = p.dense() ? 0 : ((k + p.m - 1) / p.m) * n;
  out.mask_decodes = g.groups * mask_groups;
  out.metadata_bits = g.groups * mask_groups * mask_bits_per_group(p, mask_encoding::bitmap);
  if (c.pe == pe_kind::vq_decode) {
    const std::uint64_t d = c.vq.subvector_dim;
    const std::uint64_t subvectors = ((k + d - 1) / d) * n;
    out.codebook_reads = g.groups * subvectors;
    out.codebook_bits = hw::codebook_bits(c);
    out.filter_bits = g.groups * subvectors * index_bits(c.vq.codebook_size) + out.metadata_bits + out.codebook_bits;
  } else {
    out.filter_bits = g.groups * kc * n * ob + out.metadata_bits;
  }

  // DRAM (this library's model, docs/emulator.md): every operand crosses DRAM once when it fits in the active
  // half of its double-buffered SRAM, else once per pass that re-reads it (WS/EWS/OS re-stream the ifmap per
  // column fold; OS re-streams the filter per row fold, IS per column fold).
  const std::uint64_t if_words = detail::unique_ifmap_words(l);
  const std::uint64_t fi_words = (out.filter_bits / g.groups + ob - 1) / ob;
  const bool if_fits = if_words <= detail::sram_words(c.ifmap_sram_kb, c.operand_bits) / 2;
  const bool fi_fits = fi_words <= detail::sram_words(c.filter_sram_kb, c.operand_bits) / 2;
  std::uint64_t if_passes = 1, fi_passes = 1;
  if (!if_fits && c.flow != dataflow::input_stationary) if_passes = a.col_folds;
  if (!fi_fits && c.flow == dataflow::output_stationary) fi_passes = a.row_folds;
  if (!fi_fits && c.flow == dataflow::input_stationary) fi_passes = a.col_folds;
  out.ifmap_dram_reads = g.groups * if_words * if_passes;
  out.filter_dram_reads = g.groups * fi_words * fi_passes;
  out.ofmap_dram_writes = g.groups * m * n;

  // Stall model (USER bandwidth B words/cycle): each fold's new operands are fetched while the previous fold
  // computes (double buffering); a fold waits max(0, ⌈words/B⌉ − previous fold cycles). The first fold's fetch is
  // reported as prefetch, the way SCALE-Sim v3 reports "Total Cycles (incl. prefetch)"; the last fold's outputs drain
  // while the next layer starts.
  if (c.bandwidth == interface_bandwidth::user) {
    const std::uint64_t bw = c.dram_words_per_cycle;
    // Scheduling units of one group: folds (EWS: fold groups); their DRAM words and cycles are averaged over the
    // units (the totals are exact, the per-unit shape is spread evenly).
    const std::uint64_t units =
        c.flow == dataflow::enhanced_weight_stationary ? a.col_folds * ews_groups_per_col : folds;
    const std::uint64_t unit_cycles = (group_cycles + 1) / units;
    const std::uint64_t in_words = (out.ifmap_dram_reads + out.filter_dram_reads) / g.groups;
    const std::uint64_t in_per = (in_words + units - 1) / units, out_per = (m * n + units - 1) / units;
    const std::uint64_t need = (in_per + out_per + bw - 1) / bw;  // DRAM cycles a unit's traffic takes
    const std::uint64_t stall_per = need > unit_cycles ? need - unit_cycles : 0;
    out.prefetch_cycles = g.groups * ((in_per + bw - 1) / bw);
    out.stall_cycles = g.groups * (units - 1) * stall_per;
  }
  return out;
}

/// Compute cycles of a layer (SCALE-Sim "Total Cycles" in CALC mode; stalls added in USER mode).
[[nodiscard]] constexpr std::uint64_t cycles(array_config const& c, layer const& l) noexcept {
  return analyze(c, l).total_cycles();
}

/// Compile-time form: `static_assert(hw::cycles<cfg>(layer) <= budget)`. An invalid `C` is a compile error.
template <array_config C>
[[nodiscard]] constexpr std::uint64_t cycles(layer const& l) noexcept {
  static_assert(require_valid<diagnose(C)>);
  return cycles(C, l);
}

}  // namespace mvq::inline v0::hw
