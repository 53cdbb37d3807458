#pragma once
/// @file
/// `hw::array_config`: the compile-time description of a systolic array (shape, dataflow, PE kind, bit widths,
/// SRAM sizes, DRAM bandwidth, EWS register files, codebook register file, clock). A structural type, so it is a
/// non-type template parameter (`systolic_array<C>`), and the same value drives the runtime models, so a `.cfg`
/// file read at run time describes any array.

#include <cstdint>
#include <string>
#include <string_view>

#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/int8.hpp"
#include "mvq/core/sentences.hpp"

namespace mvq::inline v0::hw {

/// Which operand stays in the PEs during a fold. The SCALE-Sim names are `ws`, `os`, `is`; `ews` is the
/// enhanced weight-stationary dataflow of "EWS: an energy-efficient CNN accelerator with enhanced weight
/// stationary dataflow" (IEEE TCAS-II 2024).
enum class dataflow : std::uint8_t {
  weight_stationary,           ///< filters are held, ifmap rows are streamed (SCALE-Sim `ws`)
  output_stationary,           ///< partial sums are held, both operands are streamed (SCALE-Sim `os`)
  input_stationary,            ///< ifmap windows are held, filters are streamed (SCALE-Sim `is`)
  enhanced_weight_stationary,  ///< WS with per-PE weight, activation and partial-sum register files
};

/// What a processing element does with the weights it receives.
enum class pe_kind : std::uint8_t {
  dense_mac,  ///< one int multiply-accumulate per cycle on a dense weight
  sparse_nm,  ///< N:M sparse: weights arrive compacted, each PE muxes in the activation its mask selects
  vq_decode,  ///< weights arrive as codebook indices (+ N:M masks) and are rebuilt through a codebook register file
};

/// How the interface between SRAM and DRAM is modelled (SCALE-Sim `[run_presets] InterfaceBandwidth`).
enum class interface_bandwidth : std::uint8_t {
  calc,  ///< stall-free: DRAM is assumed fast enough (SCALE-Sim CALC mode)
  user,  ///< DRAM delivers `dram_words_per_cycle`; the stall model adds the cycles the array waits
};

/// A systolic array. Every member is an integer, an enum or a structural struct, so the type is usable as a
/// C++20 non-type template parameter (no floats: 0.0 and -0.0 would be different types).
struct array_config {
  std::uint32_t rows = 32;                              ///< PE rows (SCALE-Sim ArrayHeight)
  std::uint32_t cols = 32;                              ///< PE columns (SCALE-Sim ArrayWidth)
  hw::dataflow flow = dataflow::weight_stationary;      ///< dataflow (SCALE-Sim Dataflow, plus EWS)
  pe_kind pe = pe_kind::dense_mac;                      ///< processing-element kind
  nm_pattern nm{};                                      ///< N:M pattern of sparse_nm / vq_decode PEs ({0,0}: dense)
  vq_config vq{};                                       ///< codebook shape of vq_decode PEs
  std::uint8_t operand_bits = int8_conventions::operand_bits;          ///< weight / activation width in bits
  std::uint8_t accumulator_bits = int8_conventions::accumulator_bits;  ///< partial-sum width in bits
  std::uint32_t ifmap_sram_kb = 64;                     ///< ifmap SRAM, kB (SCALE-Sim IfmapSramSzkB)
  std::uint32_t filter_sram_kb = 64;                    ///< filter SRAM, kB (SCALE-Sim FilterSramSzkB)
  std::uint32_t ofmap_sram_kb = 64;                     ///< ofmap SRAM, kB (SCALE-Sim OfmapSramSzkB)
  interface_bandwidth bandwidth = interface_bandwidth::calc;  ///< CALC (stall-free) or USER bandwidth
  std::uint32_t dram_words_per_cycle = 10;              ///< DRAM words per cycle in USER mode (SCALE-Sim Bandwidth)
  std::uint16_t wrf_depth = 1;                          ///< EWS weight register file entries per PE
  std::uint16_t arf_depth = 1;                          ///< EWS activation register file entries per PE
  std::uint16_t prf_depth = 1;                          ///< EWS partial-sum register file entries per PE
  std::uint32_t codebook_rf_entries = 0;                ///< codebook register file entries (0: the codebook size K)
  std::uint32_t clock_mhz = 1000;                       ///< clock frequency in MHz
  std::uint32_t ifmap_offset = 0;                       ///< SCALE-Sim IfmapOffset (word address base)
  std::uint32_t filter_offset = 10000000;               ///< SCALE-Sim FilterOffset
  std::uint32_t ofmap_offset = 20000000;                ///< SCALE-Sim OfmapOffset

  friend constexpr bool operator==(array_config const&, array_config const&) = default;

  /// PEs in the array.
  [[nodiscard]] constexpr std::uint64_t pes() const noexcept { return std::uint64_t{rows} * cols; }
  /// Codebook register file entries actually provisioned (K when left at 0).
  [[nodiscard]] constexpr std::uint32_t codebook_entries() const noexcept {
    return codebook_rf_entries != 0 ? codebook_rf_entries : vq.codebook_size;
  }
  /// The N:M pattern the PEs exploit: `nm` for sparse_nm / vq_decode PEs, dense otherwise.
  [[nodiscard]] constexpr nm_pattern pe_pattern() const noexcept { return pe == pe_kind::dense_mac ? nm_pattern{} : nm; }
};

/// Largest array side accepted (a 4096×4096 array already has 16 M PEs).
inline constexpr std::uint32_t max_array_side = 4096;
/// Largest EWS register file depth accepted.
inline constexpr std::uint16_t max_register_file_depth = 1024;

/// What is wrong with `c` (`config_error::none` when it is valid); the sentences are core's table
/// (core/sentences.hpp), so `systolic_array<C>`'s static_assert and `validate()` report exactly the same text.
[[nodiscard]] constexpr config_error diagnose(array_config const& c) noexcept {
  using e = config_error;
  if (c.rows < 1 || c.rows > max_array_side) return e::array_rows;
  if (c.cols < 1 || c.cols > max_array_side) return e::array_cols;
  if (static_cast<unsigned>(c.flow) > static_cast<unsigned>(dataflow::enhanced_weight_stationary)) return e::array_flow;
  if (static_cast<unsigned>(c.pe) > static_cast<unsigned>(pe_kind::vq_decode)) return e::array_pe;
  if (static_cast<unsigned>(c.bandwidth) > static_cast<unsigned>(interface_bandwidth::user)) return e::array_bandwidth;
  if (c.operand_bits < 1 || c.operand_bits > 32) return e::array_operand_bits;
  if (c.accumulator_bits < 2 * c.operand_bits || c.accumulator_bits > 64) return e::array_accumulator_bits;
  if (c.ifmap_sram_kb < 1 || c.filter_sram_kb < 1 || c.ofmap_sram_kb < 1) return e::array_sram_min;
  if (c.ifmap_sram_kb > (1u << 22) || c.filter_sram_kb > (1u << 22) || c.ofmap_sram_kb > (1u << 22))
    return e::array_sram_max;
  if (c.bandwidth == interface_bandwidth::user && c.dram_words_per_cycle < 1) return e::array_user_bandwidth;
  if (c.wrf_depth < 1 || c.arf_depth < 1 || c.prf_depth < 1 || c.wrf_depth > max_register_file_depth ||
      c.arf_depth > max_register_file_depth || c.prf_depth > max_register_file_depth)
    return e::array_register_files;
  if (c.clock_mhz < 1) return e::array_clock;
  if (auto n = mvq::diagnose(c.nm); n != e::none) return n;
  if (c.pe == pe_kind::dense_mac && !c.nm.dense()) return e::array_dense_nm;
  if (c.pe == pe_kind::sparse_nm && c.nm.dense()) return e::array_sparse_dense;
  if (c.pe == pe_kind::vq_decode) {
    if (auto v = mvq::diagnose(c.vq, c.nm); v != e::none) return v;
    if (c.codebook_rf_entries != 0 && c.codebook_rf_entries < c.vq.codebook_size) return e::array_codebook_rf;
  }
  return e::none;
}

/// Empty when `c` is valid, else its sentence.
[[nodiscard]] constexpr const char* check(array_config const& c) noexcept { return sentence(diagnose(c)); }

/// Runtime form of `check`: the error names the configuration source (a `.cfg` file name, "--config", ...).
[[nodiscard]] inline result<void> validate(array_config const& c, std::string_view source = "array_config") {
  if (const char* e = check(c); *e) return fail(errc::invalid_argument, std::string(source) + ": " + e);
  return {};
}

/// "ws", "os", "is", "ews" (SCALE-Sim spelling, plus ews).
[[nodiscard]] constexpr std::string_view to_string(dataflow d) noexcept {
  switch (d) {
    case dataflow::weight_stationary: return "ws";
    case dataflow::output_stationary: return "os";
    case dataflow::input_stationary: return "is";
    case dataflow::enhanced_weight_stationary: return "ews";
  }
  return "?";
}

/// "dense_mac", "sparse_nm", "vq_decode".
[[nodiscard]] constexpr std::string_view to_string(pe_kind p) noexcept {
  switch (p) {
    case pe_kind::dense_mac: return "dense_mac";
    case pe_kind::sparse_nm: return "sparse_nm";
    case pe_kind::vq_decode: return "vq_decode";
  }
  return "?";
}

/// Parses "ws" / "os" / "is" / "ews" (case-sensitive, as SCALE-Sim).
[[nodiscard]] constexpr bool parse_dataflow(std::string_view s, dataflow& out) noexcept {
  if (s == "ws") out = dataflow::weight_stationary;
  else if (s == "os") out = dataflow::output_stationary;
  else if (s == "is") out = dataflow::input_stationary;
  else if (s == "ews") out = dataflow::enhanced_weight_stationary;
  else return false;
  return true;
}

/// Named configurations; they show up in test and benchmark names.
/// SCALE-Sim's `configs/scale.cfg`: 32×32, 64 kB SRAMs, CALC.
inline constexpr array_config scalesim_32x32_ws{};
/// Same array, output stationary.
inline constexpr array_config scalesim_32x32_os{.flow = dataflow::output_stationary};
/// Same array, input stationary.
inline constexpr array_config scalesim_32x32_is{.flow = dataflow::input_stationary};
/// The MVQ paper's 64×64 EWS base accelerator (ASPLOS 2025); register-file depths are our choice (docs/emulator.md).
inline constexpr array_config ews_64x64{.rows = 64, .cols = 64, .flow = dataflow::enhanced_weight_stationary,
                                        .wrf_depth = 4, .arf_depth = 4, .prf_depth = 4};

}  // namespace mvq::inline v0::hw
