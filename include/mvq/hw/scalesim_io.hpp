#pragma once
/// @file
/// SCALE-Sim compatibility: read `.cfg` files and topology CSVs (conv form, GEMM `Layer, M, N, K,` form, the
/// trailing comma, the optional SCALE-Sim v3 `Sparsity` column) and write SCALE-Sim v2's COMPUTE_REPORT.csv,
/// BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv with its columns, plus SCALE-Sim v3's SPARSE_REPORT.csv
/// and this library's extra figures (MVQ_REPORT.csv). Column sets and counting rules follow SCALE-Sim's
/// simulator.py / single_layer_sim.py / systolic_compute_*.py; numbers are printed the way Python prints them.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/hw/analytic.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"
#include "mvq/hw/scalesim_memory.hpp"

namespace mvq::inline v0::hw {

/// A SCALE-Sim configuration file, read into an `array_config` plus the fields that are not array properties.
struct scalesim_config {
  std::string run_name;     ///< [general] run_name
  array_config array{};     ///< the array ([architecture_presets], [run_presets], [sparsity], [mvq])
  std::string topology;     ///< [network_presets] TopologyCsvLoc, when present
  bool sparsity_support = false;  ///< SCALE-Sim v3 [sparsity] SparsitySupport
};

/// Which topology CSV form to expect.
enum class topology_form : std::uint8_t {
  detect,  ///< GEMM when the header's second column is `M`, else conv
  conv,    ///< `Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,`
  gemm,    ///< `Layer, M, N, K,`
};

namespace detail {

[[nodiscard]] inline std::string_view ss_trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

[[nodiscard]] inline std::string ss_lower(std::string_view s) {
  std::string o(s);
  for (auto& ch : o) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  return o;
}

[[nodiscard]] inline bool ss_parse_u32(std::string_view s, std::uint32_t& out) noexcept {
  s = ss_trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

/// A sparse "N:M" field (spaces around it trimmed) through core's one parser; "1:1"… "M:M" are accepted (they
/// keep every weight), "0:0" is not (a sparsity column names a sparse pattern).
[[nodiscard]] inline result<nm_pattern> ss_parse_nm(std::string_view s) {
  auto p = parse_nm_pattern(ss_trim(s));
  if (p && p->dense()) return fail(errc::invalid_argument, "N:M pattern '0:0' is dense; a sparse pattern is expected");
  return p;
}

[[nodiscard]] inline std::vector<std::string_view> ss_split_csv(std::string_view line) {
  std::vector<std::string_view> f;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i)
    if (i == line.size() || line[i] == ',') {
      f.push_back(ss_trim(line.substr(start, i - start)));
      start = i + 1;
    }
  // SCALE-Sim rows end with a comma; tolerate its absence, drop the empty trailing field.
  while (!f.empty() && f.back().empty()) f.pop_back();
  return f;
}

template <class F>
void ss_for_each_line(std::string_view text, F&& f) {
  std::size_t line_no = 0, start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++line_no;
    if (!f(text.substr(start, end - start), line_no)) return;
    if (end == text.size()) break;
    start = end + 1;
  }
}

[[nodiscard]] inline result<std::string> ss_read_text(std::filesystem::path const& p, std::uintmax_t limit) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(p, ec);
  if (ec) return fail(errc::io_error, p.string() + ": cannot read: " + ec.message());
  if (size > limit) return fail(errc::too_large, p.string() + ": larger than " + std::to_string(limit) + " bytes");
  std::ifstream in(p, std::ios::binary);
  if (!in) return fail(errc::io_error, p.string() + ": cannot open");
  std::string s(static_cast<std::size_t>(size), '\0');
  in.read(s.data(), static_cast<std::streamsize>(size));
  if (!in) return fail(errc::io_error, p.string() + ": read failed");
  return s;
}

}  // namespace detail

/// Parses the text of a SCALE-Sim `.cfg` (Python configparser syntax: `[section]`, `key = value` or
/// `key : value`, case-insensitive keys, `#`/`;` comments). Required: ArrayHeight, ArrayWidth, IfmapSramSzkB,
/// FilterSramSzkB, OfmapSramSzkB, Dataflow (ws|os|is, and ews here), InterfaceBandwidth (CALC|USER), and
/// Bandwidth in USER mode (a list: the first entry is used, as SCALE-Sim does). Optional: the offsets, SCALE-Sim
/// v3 [sparsity] (SparsitySupport, BlockSize) and this library's [mvq] section (PeKind dense|sparse|vq, NM "2:4",
/// VQ "256,8", WrfDepth, ArfDepth, PrfDepth, CodebookEntries, OperandBits, AccumulatorBits, ClockMHz).
[[nodiscard]] inline result<scalesim_config> parse_scalesim_cfg(std::string_view text, std::string_view name = "<cfg>") {
  scalesim_config out;
  std::string section;
  std::string err;
  bool have[7] = {};  // height, width, ifmap, filter, ofmap, dataflow, interface
  bool have_bw = false;
  std::uint32_t block_size = 0;
  auto bad = [&](std::size_t ln, std::string what) {
    err = std::string(name) + ":" + std::to_string(ln) + ": " + std::move(what);
    return false;
  };
  detail::ss_for_each_line(text, [&](std::string_view raw, std::size_t ln) {
    std::string_view line = detail::ss_trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') return true;
    if (line.front() == '[') {
      if (line.back() != ']') return bad(ln, "section header without a closing ']'");
      section = detail::ss_lower(detail::ss_trim(line.substr(1, line.size() - 2)));
      return true;
    }
    const auto sep = line.find_first_of("=:");
    if (sep == std::string_view::npos) return bad(ln, "expected 'key = value' or 'key : value'");
    const std::string key = detail::ss_lower(detail::ss_trim(line.substr(0, sep)));
    std::string_view val = detail::ss_trim(line.substr(sep + 1));
    if (const auto hash = val.find_first_of("#;"); hash != std::string_view::npos) val = detail::ss_trim(val.substr(0, hash));
    auto num = [&](std::uint32_t& dst, std::uint32_t lo, std::uint32_t hi) {
      std::uint32_t v = 0;
      if (!detail::ss_parse_u32(val, v) || v < lo || v > hi)
        return bad(ln, "'" + key + "' must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) +
                           ", got '" + std::string(val) + "'");
      dst = v;
      return true;
    };
    auto num16 = [&](std::uint16_t& dst) {
      std::uint32_t v = 0;
      if (!num(v, 1, max_register_file_depth)) return false;
      dst = static_cast<std::uint16_t>(v);
      return true;
    };
    auto num8 = [&](std::uint8_t& dst, std::uint32_t lo, std::uint32_t hi) {
      std::uint32_t v = 0;
      if (!num(v, lo, hi)) return false;
      dst = static_cast<std::uint8_t>(v);
      return true;
    };
    if (section == "general") {
      if (key == "run_name") out.run_name = std::string(val);
    } else if (section == "architecture_presets") {
      if (key == "arrayheight") return have[0] = true, num(out.array.rows, 1, max_array_side);
      if (key == "arraywidth") return have[1] = true, num(out.array.cols, 1, max_array_side);
      if (key == "ifmapsramszkb") return have[2] = true, num(out.array.ifmap_sram_kb, 1, 1u << 22);
      if (key == "filtersramszkb") return have[3] = true, num(out.array.filter_sram_kb, 1, 1u << 22);
      if (key == "ofmapsramszkb") return have[4] = true, num(out.array.ofmap_sram_kb, 1, 1u << 22);
      if (key == "ifmapoffset") return num(out.array.ifmap_offset, 0, 0xffffffffu);
      if (key == "filteroffset") return num(out.array.filter_offset, 0, 0xffffffffu);
      if (key == "ofmapoffset") return num(out.array.ofmap_offset, 0, 0xffffffffu);
      if (key == "dataflow") {
        have[5] = true;
        if (!parse_dataflow(val, out.array.flow)) return bad(ln, "Dataflow must be ws, os, is or ews, got '" + std::string(val) + "'");
        return true;
      }
      if (key == "bandwidth") {
        have_bw = true;
        return num(out.array.dram_words_per_cycle, 1, 1u << 20) || bad(ln, "Bandwidth must be a positive integer");
      }
    } else if (section == "run_presets") {
      if (key == "interfacebandwidth") {
        have[6] = true;
        if (val == "CALC") out.array.bandwidth = interface_bandwidth::calc;
        else if (val == "USER") out.array.bandwidth = interface_bandwidth::user;
        else return bad(ln, "InterfaceBandwidth must be CALC or USER, got '" + std::string(val) + "'");
      }
    } else if (section == "network_presets") {
      if (key == "topologycsvloc") out.topology = std::string(val);
    } else if (section == "sparsity") {
      if (key == "sparsitysupport") out.sparsity_support = detail::ss_lower(val) == "true";
      if (key == "blocksize") return num(block_size, 1, max_nm_group);
    } else if (section == "mvq") {
      if (key == "pekind") {
        if (val == "dense") out.array.pe = pe_kind::dense_mac;
        else if (val == "sparse") out.array.pe = pe_kind::sparse_nm;
        else if (val == "vq") out.array.pe = pe_kind::vq_decode;
        else return bad(ln, "PeKind must be dense, sparse or vq, got '" + std::string(val) + "'");
        return true;
      }
      if (key == "nm") {
        auto p = detail::ss_parse_nm(val);
        if (!p) return bad(ln, "NM must be a sparse N:M pattern: " + p.error().message);
        out.array.nm = *p;
        return true;
      }
      if (key == "vq") {
        auto v = parse_vq_config(val);  // core's one "K,d" parser
        if (!v) return bad(ln, "VQ must be 'K,d', e.g. 256,8: " + v.error().message);
        out.array.vq = *v;
        return true;
      }
      if (key == "wrfdepth") return num16(out.array.wrf_depth);
      if (key == "arfdepth") return num16(out.array.arf_depth);
      if (key == "prfdepth") return num16(out.array.prf_depth);
      if (key == "codebookentries") return num(out.array.codebook_rf_entries, 0, max_codebook_size);
      if (key == "operandbits") return num8(out.array.operand_bits, 1, 32);
      if (key == "accumulatorbits") return num8(out.array.accumulator_bits, 2, 64);
      if (key == "clockmhz") return num(out.array.clock_mhz, 1, 1u << 20);
    }
    return true;  // unknown keys (MemoryBanks, ReadRequestBuffer, ...) are ignored, as SCALE-Sim does
  });
  if (!err.empty()) return fail(errc::corrupt_file, err);
  static constexpr const char* names[] = {"ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB",
                                          "OfmapSramSzkB", "Dataflow", "InterfaceBandwidth"};
  for (int i = 0; i < 7; ++i)
    if (!have[i]) return fail(errc::corrupt_file, std::string(name) + ": missing required key " + names[i]);
  if (out.array.bandwidth == interface_bandwidth::user && !have_bw)
    return fail(errc::corrupt_file, std::string(name) + ": InterfaceBandwidth USER needs a Bandwidth entry");
  if (out.sparsity_support && out.array.pe == pe_kind::dense_mac) {
    out.array.pe = pe_kind::sparse_nm;
    if (out.array.nm.dense()) out.array.nm = {1, static_cast<std::uint8_t>(block_size ? block_size : 4)};
  }
  if (auto v = validate(out.array, name); !v) return tl::unexpected(v.error());
  return out;
}

/// Reads and parses a SCALE-Sim `.cfg` file (at most 1 MB).
[[nodiscard]] inline result<scalesim_config> read_scalesim_cfg(std::filesystem::path const& p) {
  auto t = detail::ss_read_text(p, 1u << 20);
  if (!t) return tl::unexpected(t.error());
  return parse_scalesim_cfg(*t, p.string());
}

/// Parses the text of a SCALE-Sim topology CSV. The first line is the header. Conv rows have 8 fields (one
/// stride) or 9 (stride height, stride width); GEMM rows have 4 (`name, M, N, K`). A trailing `N:M` field is
/// SCALE-Sim v3's Sparsity column. Layers whose name contains "DP" are depthwise, split per channel as SCALE-Sim
/// does. Errors name the file, line and field.
[[nodiscard]] inline result<std::vector<named_layer>> parse_topology_csv(std::string_view text,
                                                                        std::string_view name = "<topology>",
                                                                        topology_form form = topology_form::detect) {
  std::vector<named_layer> layers;
  std::string err;
  bool header = true;
  detail::ss_for_each_line(text, [&](std::string_view raw, std::size_t ln) {
    const std::string_view line = detail::ss_trim(raw);
    auto bad = [&](std::string what) {
      err = std::string(name) + ":" + std::to_string(ln) + ": " + std::move(what);
      return false;
    };
    if (line.empty()) return true;
    auto f = detail::ss_split_csv(line);
    if (header) {
      header = false;
      if (form == topology_form::detect)
        form = f.size() >= 2 && detail::ss_lower(f[1]) == "m" ? topology_form::gemm : topology_form::conv;
      return true;
    }
    if (layers.size() >= 100000) return bad("more than 100000 layers");
    named_layer nl;
    nl.name = f.empty() ? std::string() : std::string(f[0]);
    if (nl.name.empty()) return bad("missing layer name");
    nm_pattern sp{};
    if (f.size() > 1 && f.back().find(':') != std::string_view::npos) {
      auto parsed = detail::ss_parse_nm(f.back());
      if (!parsed) return bad("Sparsity must be a sparse N:M pattern: " + parsed.error().message);
      sp = *parsed;
      f.pop_back();
    }
    std::vector<std::uint32_t> v(f.size(), 0);
    for (std::size_t i = 1; i < f.size(); ++i)
      if (!detail::ss_parse_u32(f[i], v[i]) || v[i] == 0)
        return bad("field " + std::to_string(i + 1) + " of layer '" + nl.name + "' must be a positive integer, got '" +
                   std::string(f[i]) + "'");
    if (form == topology_form::gemm) {
      if (f.size() != 4) return bad("a GEMM row needs 4 fields (name, M, N, K), got " + std::to_string(f.size()));
      nl.shape = layer::gemm(v[1], v[2], v[3], sp);
    } else {
      if (f.size() != 8 && f.size() != 9)
        return bad("a conv row needs 8 or 9 fields (name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                   "Channels, Num Filter, Strides[, Stride Width]), got " + std::to_string(f.size()));
      nl.shape = layer::conv(v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
      if (f.size() == 9) nl.shape.stride_w = v[8];
      nl.shape.sparsity = sp;
      if (nl.name.find("DP") != std::string::npos) nl.shape.kind = layer_kind::depthwise;
    }
    if (auto ok = validate(nl.shape, nl.name); !ok) return bad(ok.error().message);
    layers.push_back(std::move(nl));
    return true;
  });
  if (!err.empty()) return fail(errc::corrupt_file, err);
  if (header) return fail(errc::corrupt_file, std::string(name) + ": empty topology (no header line)");
  if (layers.empty()) return fail(errc::corrupt_file, std::string(name) + ": no layers after the header");
  return layers;
}

/// Reads and parses a topology CSV file (at most 16 MB).
[[nodiscard]] inline result<std::vector<named_layer>> read_topology_csv(std::filesystem::path const& p,
                                                                       topology_form form = topology_form::detect) {
  auto t = detail::ss_read_text(p, 16u << 20);
  if (!t) return tl::unexpected(t.error());
  return parse_topology_csv(*t, p.string(), form);
}

/// Python's `str(float)`: the shortest round-trip digits, fixed notation for exponents in [−4, 16), else
/// `d.ddde+XX`; integral values keep ".0".
[[nodiscard]] inline std::string python_float(double v) {
  if (v != v) return "nan";
  if (v == 1.0 / 0.0) return "inf";
  if (v == -1.0 / 0.0) return "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));
  const bool neg = s.front() == '-';
  if (neg) s.remove_prefix(1);
  const auto e = s.find('e');
  std::string digits;
  for (char ch : s.substr(0, e))
    if (ch != '.') digits += ch;
  int exp = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+'), s.data() + s.size(), exp);
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    } else {
      const auto ip = static_cast<std::size_t>(exp) + 1;
      if (digits.size() <= ip) out += digits + std::string(ip - digits.size(), '0') + ".0";
      else out += digits.substr(0, ip) + "." + digits.substr(ip);
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return out;
}

/// One row's worth of SCALE-Sim report figures for one GEMM group of a layer.
struct scalesim_figures {
  layer_cost cost{};                 ///< analytic model of the group (groups = 1)
  std::uint64_t total_cycles = 0;    ///< "Total Cycles" (compute + stalls)
  double overall_util = 0;           ///< "Overall Util %"
  double mapping_efficiency = 0;     ///< "Mapping Efficiency %"
  double compute_util = 0;           ///< "Compute Util %"
  std::int64_t sram_start[3] = {};   ///< ifmap, filter, ofmap SRAM first access cycle
  std::int64_t sram_stop[3] = {};    ///< ifmap, filter, ofmap SRAM last access cycle
  std::int64_t dram_start[3] = {};   ///< DRAM first transfer cycle (this library's model)
  std::int64_t dram_stop[3] = {};    ///< DRAM last transfer cycle (this library's model)
  std::uint64_t dram_accesses[3] = {};  ///< DRAM words: ifmap and filter reads, ofmap writes
  std::uint64_t stall_cycles = 0;    ///< "Stall Cycles"
  bool replayed = false;             ///< DRAM figures (and cycles) from SCALE-Sim's replayed memory system
};

namespace detail {

/// Python's built-in `sum` of floats since 3.12 (Neumaier's compensated summation, CPython bltinmodule.c),
/// which SCALE-Sim uses for its per-fold averages; its upstream golden reports were produced with it.
struct python_sum {
  double s = 0, c = 0;
  void add(double x) noexcept {
    const double t = s + x;
    c += (s >= 0 ? s : -s) >= (x >= 0 ? x : -x) ? (s - t) + x : (x - t) + s;
    s = t;
  }
  [[nodiscard]] double value() const noexcept { return c != 0 && c - c == 0 ? s + c : s; }
};

/// SCALE-Sim's ifmap address validity (operand_matrix.py): window element k of output pixel m lies inside the
/// ifmap (its partial border windows read address −1).
[[nodiscard]] inline bool ifmap_valid(layer const& l, std::uint64_t m, std::uint64_t k) noexcept {
  if (l.kind == layer_kind::gemm || l.mode == conv_mode::padded) return true;
  const std::uint64_t ch = l.kind == layer_kind::depthwise ? 1 : l.channels;
  const std::uint64_t ew = l.ofmap_w();
  const std::uint64_t oy = m / ew, ox = m % ew;
  const std::uint64_t cr = k / (std::uint64_t{l.filter_w} * ch), kk = k % (std::uint64_t{l.filter_w} * ch);
  const std::uint64_t cc = kk / ch;
  return cr + oy * l.stride_h < l.ifmap_h && cc + ox * l.stride_w < l.ifmap_w;
}

}  // namespace detail

/// SCALE-Sim report figures of one group of `l` on `c` (depthwise layers: one channel; SCALE-Sim prints one row
/// per channel). SRAM start/stop cycles follow SCALE-Sim's demand matrices in CALC mode (trace cycle = demand line
/// + 1 for the read buffers' hit latency); EWS uses the same rules on its own schedule. With `replay_memory`, dense
/// ws/os/is arrays in CALC mode replay SCALE-Sim's memory system (scalesim_memory.hpp) for the DRAM columns and
/// any write-buffer stalls; otherwise the DRAM figures come from this library's DRAM model.
[[nodiscard]] inline scalesim_figures scalesim_layer_figures(array_config const& c, layer const& l,
                                                             bool replay_memory = true) {
  scalesim_figures f;
  layer one = l;
  if (l.kind == layer_kind::depthwise) one.channels = 1;
  f.cost = analyze(c, one);
  const array_mapping& a = f.cost.map;
  const std::int64_t R = c.rows, C = c.cols, T = static_cast<std::int64_t>(a.t);
  f.total_cycles = f.cost.total_cycles();
  const std::uint64_t pes = c.pes();
  const gemm_shape g = to_gemm(one);
  f.overall_util = static_cast<double>(g.m * g.n * g.k * 100) / static_cast<double>(f.total_cycles * pes);
  // Per-fold averages in SCALE-Sim's order and arithmetic (fc outer, fr inner; each term a true division).
  const bool os = c.flow == dataflow::output_stationary;
  const std::uint64_t fold_len = os ? a.t + c.rows + c.cols - 2 : a.t + 2ull * c.rows + 2ull * c.cols - 3;
  detail::python_sum map_sum, util_sum;
  for (std::uint64_t fc = 0; fc < a.col_folds; ++fc)
    for (std::uint64_t fr = 0; fr < a.row_folds; ++fr) {
      const std::uint64_t used = a.rows_used(fr, c.rows) * a.cols_used(fc, c.cols);
      map_sum.add(static_cast<double>(used) / static_cast<double>(pes));
      util_sum.add(static_cast<double>(used * a.t) / static_cast<double>(pes * fold_len));
    }
  const double folds = static_cast<double>(a.folds());
  f.mapping_efficiency = map_sum.value() / folds * 100;
  f.compute_util = util_sum.value() / folds * 100;

  // SRAM start/stop (demand-matrix line of the first/last non-empty entry).
  const std::int64_t F = static_cast<std::int64_t>(a.folds());
  const std::int64_t P = F ? (static_cast<std::int64_t>(f.cost.cycles) + 1) / F : 0;  // fold length (WS/IS/OS)
  const std::int64_t base = static_cast<std::int64_t>(f.cost.cycles) + 1 - P;         // start of the last fold
  const std::int64_t ru0 = static_cast<std::int64_t>(a.rows_used(0, c.rows));
  const std::int64_t ru_last = static_cast<std::int64_t>(a.rows_used(a.row_folds - 1, c.rows));
  const std::int64_t cu_last = static_cast<std::int64_t>(a.cols_used(a.col_folds - 1, c.cols));
  const std::uint64_t k0_last = (a.row_folds - 1) * c.rows;
  switch (c.flow) {
    case dataflow::weight_stationary: {
      // ifmap: line R + t + c for valid (m = t, k = k0 + c); the latest valid one in the last fold.
      std::int64_t best = 0;
      for (std::int64_t t = T - 1; t >= 0 && t + ru_last - 1 > best; --t)
        for (std::int64_t cc = ru_last - 1; cc >= 0 && t + cc > best; --cc)
          if (detail::ifmap_valid(one, static_cast<std::uint64_t>(t), k0_last + static_cast<std::uint64_t>(cc))) {
            best = t + cc;
            break;
          }
      f.sram_start[0] = R + 1;
      f.sram_stop[0] = base + R + best + 1;
      // filter: flipped rows, line R − 1 − r for used rows r; ofmap: line 2R − 1 + t + c.
      f.sram_start[1] = R - ru0 + 1;
      f.sram_stop[1] = base + R - 1 + 1;
      f.sram_start[2] = 2 * R - 1;
      f.sram_stop[2] = base + 2 * R - 1 + T - 1 + cu_last - 1;
      break;
    }
    case dataflow::enhanced_weight_stationary: {
      // This library's EWS schedule (ews_group_cycles): a group loads R·g weight rows, then row r sees stream step
      // u = m·g + w at line R·g + u + r; the psum of m leaves row R − 1 of column c at line R·g + m·g + g − 1 + R − 1 + c.
      const std::int64_t g0 = std::min<std::int64_t>(c.wrf_depth, static_cast<std::int64_t>(a.row_folds));
      const std::int64_t rest = static_cast<std::int64_t>(a.row_folds % c.wrf_depth);
      const std::int64_t gl = rest ? rest : std::min<std::int64_t>(c.wrf_depth, static_cast<std::int64_t>(a.row_folds));
      const std::int64_t glen = static_cast<std::int64_t>(ews_group_cycles(c, static_cast<std::uint64_t>(gl), a.t));
      const std::int64_t gbase = static_cast<std::int64_t>(f.cost.cycles) + 1 - glen;
      f.sram_start[0] = R * g0 + 1;
      f.sram_stop[0] = gbase + R * gl + gl * T - 1 + ru_last - 1 + 1;
      f.sram_start[1] = 1;
      f.sram_stop[1] = gbase + R * gl - 1 + 1;
      f.sram_start[2] = R * g0 + g0 - 1 + R - 1;
      f.sram_stop[2] = static_cast<std::int64_t>(f.cost.cycles) - (C - cu_last);
      break;
    }
    case dataflow::input_stationary: {
      // ifmap (stationary): line R − 1 − r of each fold. The latest line with a valid address is the smallest
      // valid r of the last fold that has any (border folds may hold only partial-window addresses, −1).
      std::int64_t stop_line = 0;
      for (std::int64_t fi = F - 1; fi >= 0 && stop_line == 0; --fi) {
        const std::uint64_t fc = static_cast<std::uint64_t>(fi) / a.row_folds, fr = static_cast<std::uint64_t>(fi) % a.row_folds;
        const std::uint64_t ru = a.rows_used(fr, c.rows), cu = a.cols_used(fc, c.cols);
        for (std::uint64_t r = 0; r < ru && stop_line == 0; ++r)
          for (std::uint64_t cc = 0; cc < cu; ++cc)
            if (detail::ifmap_valid(one, fc * c.cols + cc, fr * c.rows + r)) {
              stop_line = fi * P + R - 1 - static_cast<std::int64_t>(r);
              break;
            }
      }
      f.sram_start[0] = R - ru0 + 1;
      f.sram_stop[0] = stop_line + 1;
      f.sram_start[1] = R + 1;
      f.sram_stop[1] = base + R + T - 1 + ru_last - 1 + 1;
      f.sram_start[2] = 2 * R - 1;
      f.sram_stop[2] = base + 2 * R - 1 + T - 1 + cu_last - 1;
      break;
    }
    case dataflow::output_stationary: {
      // ifmap: line t + c for valid (m = m0 + c, k = t); filter: line t + c; ofmap: T − 1 + (R − 1 − r) + c.
      // With stride > filter size whole border windows are invalid, so the latest valid ifmap line may lie in an
      // earlier fold: search folds backwards.
      std::int64_t stop_line = -1;
      for (std::int64_t fi = F - 1; fi >= 0 && stop_line < 0; --fi) {
        const std::uint64_t fr = static_cast<std::uint64_t>(fi) % a.row_folds;
        const std::int64_t ru = static_cast<std::int64_t>(a.rows_used(fr, c.rows));
        const std::uint64_t m0 = fr * c.rows;
        std::int64_t best = -1;
        for (std::int64_t t = T - 1; t >= 0 && t + ru - 1 > best; --t)
          for (std::int64_t cc = ru - 1; cc >= 0 && t + cc > best; --cc)
            if (detail::ifmap_valid(one, m0 + static_cast<std::uint64_t>(cc), static_cast<std::uint64_t>(t))) {
              best = t + cc;
              break;
            }
        if (best >= 0) stop_line = fi * P + best;
      }
      f.sram_start[0] = 1;
      f.sram_stop[0] = stop_line + 1;
      f.sram_start[1] = 1;
      f.sram_stop[1] = base + T - 1 + cu_last - 1 + 1;
      f.sram_start[2] = T - 1 + R - ru0;
      f.sram_stop[2] = base + T - 1 + R - 1 + cu_last - 1;
      break;
    }
  }
  // DRAM (this library's model): the first fold's operands are prefetched before cycle 0 at the interface
  // bandwidth (SCALE-Sim's CALC estimate uses 10 words/cycle for ifmap and filter, C for the ofmap); transfers
  // end with the operand's last SRAM access; the ofmap drains from its first write to the last plus its tail.
  const std::uint64_t bw_in = c.bandwidth == interface_bandwidth::user ? c.dram_words_per_cycle : 10;
  const std::uint64_t bw_out = c.bandwidth == interface_bandwidth::user ? c.dram_words_per_cycle : c.cols;
  const std::uint64_t first_if = std::min<std::uint64_t>(f.cost.ifmap_dram_reads, detail::sram_words(c.ifmap_sram_kb, c.operand_bits) / 2);
  const std::uint64_t first_fi = std::min<std::uint64_t>(f.cost.filter_dram_reads, detail::sram_words(c.filter_sram_kb, c.operand_bits) / 2);
  f.dram_start[0] = -static_cast<std::int64_t>((first_if + bw_in - 1) / bw_in);
  f.dram_stop[0] = f.sram_stop[0] - 1;
  f.dram_start[1] = -static_cast<std::int64_t>((first_fi + bw_in - 1) / bw_in);
  f.dram_stop[1] = f.sram_stop[1] - 1;
  f.dram_start[2] = f.sram_start[2];
  f.dram_stop[2] = f.sram_stop[2] + static_cast<std::int64_t>((std::uint64_t(c.cols) + bw_out - 1) / bw_out);
  f.dram_accesses[0] = f.cost.ifmap_dram_reads;
  f.dram_accesses[1] = f.cost.filter_dram_reads;
  f.dram_accesses[2] = f.cost.ofmap_dram_writes;
  f.stall_cycles = f.cost.stall_cycles;
  if (replay_memory && c.pe == pe_kind::dense_mac && c.bandwidth == interface_bandwidth::calc &&
      c.flow != dataflow::enhanced_weight_stationary) {
    if (auto r = scalesim_memory_replay(c, one); r) {
      f.replayed = true;
      for (int i = 0; i < 3; ++i) {
        f.sram_start[i] = r->sram_start[i];
        f.sram_stop[i] = r->sram_stop[i];
        f.dram_start[i] = r->dram_start[i];
        f.dram_stop[i] = r->dram_stop[i];
        f.dram_accesses[i] = r->dram_accesses[i];
      }
      f.total_cycles = r->total_cycles;
      f.stall_cycles = r->stall_cycles;
      f.overall_util = static_cast<double>(g.m * g.n * g.k * 100) / static_cast<double>(f.total_cycles * pes);
    }
  }
  return f;
}

/// The SCALE-Sim v2 report files as strings.
struct scalesim_reports {
  std::string compute;    ///< COMPUTE_REPORT.csv
  std::string bandwidth;  ///< BANDWIDTH_REPORT.csv
  std::string detailed;   ///< DETAILED_ACCESS_REPORT.csv
  std::string sparse;     ///< SPARSE_REPORT.csv (SCALE-Sim v3 columns)
  std::string extra;      ///< MVQ_REPORT.csv (v3's prefetch-inclusive cycles and this library's figures)
};

/// Builds the reports of a topology: one row per layer, depthwise layers one row per channel (as SCALE-Sim).
/// `replay_memory`: see `scalesim_layer_figures` (costs about one pass over every operand address).
[[nodiscard]] inline scalesim_reports make_scalesim_reports(array_config const& c, std::span<const named_layer> layers,
                                                            bool replay_memory = true) {
  scalesim_reports r;
  r.compute = "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n";
  r.bandwidth = "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, "
                "Avg FILTER DRAM BW, Avg OFMAP DRAM BW,\n";
  r.detailed = "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle, "
               "SRAM Filter Stop Cycle, SRAM Filter Reads, SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, "
               "SRAM OFMAP Writes, DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
               "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, DRAM OFMAP Start Cycle, "
               "DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n";
  r.sparse = "LayerID, Sparsity Representation, Original Filter Storage, New Storage (Filter+Metadata), "
             "Filter Metadata Storage, Avg FILTER Metadata SRAM BW, \n";
  r.extra = "LayerID, Layer Name, Total Cycles (incl. prefetch), Prefetch Cycles, Array MACs, Filter Bits, "
            "Metadata Bits, Codebook Bits, Ofmap SRAM Reads, WRF Writes, ARF Reads, PRF Accesses, Codebook Reads, "
            "Mask Decodes,\n";
  auto pf = [](double v) { return python_float(v); };
  auto cyc = [](std::int64_t v) { return std::to_string(v) + ".0"; };
  std::size_t id = 0;
  for (auto const& nl : layers) {
    const std::uint64_t reps = nl.shape.kind == layer_kind::depthwise ? nl.shape.channels : 1;
    const scalesim_figures f = scalesim_layer_figures(c, nl.shape, replay_memory);
    const auto& k = f.cost;
    const double tc = static_cast<double>(f.total_cycles);
    const gemm_shape g = to_gemm(nl.shape);
    const std::uint64_t dense_words = g.k * g.n;
    for (std::uint64_t rep = 0; rep < reps; ++rep, ++id) {
      const std::string lid = std::to_string(id) + ", ";
      r.compute += lid + std::to_string(f.total_cycles) + ", " + std::to_string(f.stall_cycles) + ", " +
                   pf(f.overall_util) + ", " + pf(f.mapping_efficiency) + ", " + pf(f.compute_util) + ",\n";
      auto dbw = [&](int i, std::uint64_t words) {
        return pf(static_cast<double>(words) / static_cast<double>(f.dram_stop[i] - f.dram_start[i] + 1));
      };
      r.bandwidth += lid + pf(static_cast<double>(k.ifmap_sram_reads) / tc) + ", " +
                     pf(static_cast<double>(k.filter_sram_reads) / tc) + ", " +
                     pf(static_cast<double>(k.ofmap_sram_writes) / tc) + ", " + dbw(0, f.dram_accesses[0]) + ", " +
                     dbw(1, f.dram_accesses[1]) + ", " + dbw(2, f.dram_accesses[2]) + ",\n";
      // SCALE-Sim v3 prints the ifmap reads of sparse layers as a float (K'·M/N words per window).
      const bool sparse_row = !effective_pattern(c, nl.shape).dense();
      const std::string if_reads = std::to_string(k.ifmap_sram_reads) + (sparse_row ? ".0" : "");
      r.detailed += lid + cyc(f.sram_start[0]) + ", " + cyc(f.sram_stop[0]) + ", " + if_reads +
                    ", " + cyc(f.sram_start[1]) + ", " + cyc(f.sram_stop[1]) + ", " + std::to_string(k.filter_sram_reads) +
                    ", " + cyc(f.sram_start[2]) + ", " + cyc(f.sram_stop[2]) + ", " + std::to_string(k.ofmap_sram_writes) +
                    ", " + cyc(f.dram_start[0]) + ", " + cyc(f.dram_stop[0]) + ", " + std::to_string(f.dram_accesses[0]) +
                    ", " + cyc(f.dram_start[1]) + ", " + cyc(f.dram_stop[1]) + ", " + std::to_string(f.dram_accesses[1]) +
                    ", " + cyc(f.dram_start[2]) + ", " + cyc(f.dram_stop[2]) + ", " + std::to_string(f.dram_accesses[2]) +
                    ",\n";
      const nm_pattern p = effective_pattern(c, nl.shape);
      const std::string rep_name = c.pe == pe_kind::vq_decode ? "vq_index_bitmap" : p.dense() ? "dense" : "nm_bitmap";
      const double meta_words = static_cast<double>(k.metadata_bits) / c.operand_bits;
      const double stored_words = static_cast<double>(k.filter_bits) / c.operand_bits;
      r.sparse += lid + rep_name + ", " + std::to_string(dense_words) + ", " + pf(stored_words) + ", " + pf(meta_words) +
                  ", " + pf(meta_words / tc) + ",\n";
      r.extra += lid + nl.name + ", " + std::to_string(f.total_cycles + k.prefetch_cycles) + ", " +
                 std::to_string(k.prefetch_cycles) + ", " + std::to_string(k.array_macs) + ", " +
                 std::to_string(k.filter_bits) + ", " + std::to_string(k.metadata_bits) + ", " +
                 std::to_string(k.codebook_bits) + ", " + std::to_string(k.ofmap_sram_reads) + ", " +
                 std::to_string(k.wrf_writes) + ", " + std::to_string(k.arf_reads) + ", " + std::to_string(k.prf_accesses) +
                 ", " + std::to_string(k.codebook_reads) + ", " + std::to_string(k.mask_decodes) + ",\n";
    }
  }
  return r;
}

/// Writes the report files into `dir` (created when missing).
[[nodiscard]] inline result<void> write_scalesim_reports(std::filesystem::path const& dir, scalesim_reports const& r) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(errc::io_error, dir.string() + ": cannot create: " + ec.message());
  const std::pair<const char*, const std::string*> files[] = {{"COMPUTE_REPORT.csv", &r.compute},
                                                              {"BANDWIDTH_REPORT.csv", &r.bandwidth},
                                                              {"DETAILED_ACCESS_REPORT.csv", &r.detailed},
                                                              {"SPARSE_REPORT.csv", &r.sparse},
                                                              {"MVQ_REPORT.csv", &r.extra}};
  for (auto const& [file, text] : files) {
    const auto p = dir / file;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(text->data(), static_cast<std::streamsize>(text->size()));
    if (!out) return fail(errc::io_error, p.string() + ": write failed");
  }
  return {};
}

}  // namespace mvq::inline v0::hw
