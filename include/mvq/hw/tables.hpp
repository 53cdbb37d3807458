#pragma once
/// @file
/// Energy/area tables of the hardware cost model: the CSV format of `hw/tables/*.csv`, its parser, the
/// built-in copies of the default tables, and `resolve()`, which turns a table into the per-operation costs
/// (`technology`) that the energy and area models multiply with event counts.
///
/// Table format (one row per component; `#` lines are comments; the header line is required):
/// ```
/// component,bits,capacity_kb,energy_pj,area_um2,source
/// mult,32,,8.63,4600,Accelergy/Aladdin 40 nm: 32-bit multiplier
/// sram,64,32,20,,Horowitz ISSCC 2014: 64-bit read of a 32 kB SRAM
/// ```
/// `bits` is the operand width of arithmetic units and the access width of storage; `capacity_kb` is given on
/// `sram` rows only; `area_um2` may be blank. Fields may be double-quoted (to hold commas).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "mvq/core/error.hpp"

namespace mvq::inline v0::hw {

/// One row of an energy/area table.
struct table_entry {
  std::string component;             ///< model name: add, mult, reg, mux2, lzc, sram, dram, dram_<kind>, ...
  std::uint32_t bits = 0;            ///< operand width (add, mult, lzc) or access width (reg, mux2, sram, dram)
  std::optional<double> capacity_kb; ///< SRAM capacity (sram rows only)
  double energy_pj = 0;              ///< energy of one operation / one `bits`-bit access
  std::optional<double> area_um2;    ///< area of one unit, when the source gives it
  std::string source;                ///< citation
  std::size_t line = 0;              ///< 1-based line in the table text (for messages)

  friend bool operator==(table_entry const& a, table_entry const& b) {
    return a.component == b.component && a.bits == b.bits && a.capacity_kb == b.capacity_kb &&
           a.energy_pj == b.energy_pj && a.area_um2 == b.area_um2 && a.source == b.source;
  }
};

/// A parsed energy/area table.
struct cost_table {
  std::string name;                  ///< file name, or "builtin:<name>"
  std::vector<table_entry> entries;  ///< in file order

  /// All rows of `component`, in file order.
  [[nodiscard]] std::vector<const table_entry*> rows(std::string_view component) const {
    std::vector<const table_entry*> out;
    for (auto const& e : entries)
      if (e.component == component) out.push_back(&e);
    return out;
  }
};

/// The exact header line of a table.
inline constexpr std::string_view table_header = "component,bits,capacity_kb,energy_pj,area_um2,source";

namespace detail {

[[nodiscard]] inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

/// Splits one CSV line on commas; "..." fields may hold commas and "" for a quote. nullopt: unbalanced quote.
[[nodiscard]] inline std::optional<std::vector<std::string>> split_csv(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"' && trim(cur).empty()) {
      cur.clear();
      quoted = was_quoted = true;
    } else if (c == ',') {
      out.push_back(was_quoted ? cur : std::string(trim(cur)));
      cur.clear();
      was_quoted = false;
    } else {
      cur += c;
    }
  }
  if (quoted) return std::nullopt;
  out.push_back(was_quoted ? cur : std::string(trim(cur)));
  return out;
}

[[nodiscard]] inline std::optional<double> parse_number(std::string_view s) noexcept {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

[[nodiscard]] inline bool valid_component(std::string_view s) noexcept {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace detail

/// Parses a table. Errors name `name`, the line and the field: "hw table 'my.csv' line 7: energy_pj ...".
[[nodiscard]] inline result<cost_table> parse_cost_table(std::string_view text, std::string name) {
  cost_table t;
  t.name = std::move(name);
  auto err = [&](std::size_t line, std::string const& what) {
    return fail(errc::corrupt_file, "hw table '" + t.name + "' line " + std::to_string(line) + ": " + what);
  };
  bool have_header = false;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    std::string_view line = detail::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto fields = detail::split_csv(line);
    if (!fields) return err(line_no, "unbalanced double quote");
    if (!have_header) {
      std::string joined;
      for (std::size_t i = 0; i < fields->size(); ++i) joined += (i ? "," : "") + (*fields)[i];
      if (joined != table_header)
        return err(line_no, "the header must be '" + std::string(table_header) + "', found '" + std::string(line) +
                                "'");
      have_header = true;
      continue;
    }
    if (fields->size() != 6)
      return err(line_no, "expected 6 fields (" + std::string(table_header) + "), found " +
                              std::to_string(fields->size()));
    auto const& f = *fields;
    table_entry e;
    e.line = line_no;
    e.component = f[0];
    if (!detail::valid_component(e.component))
      return err(line_no, "component '" + f[0] + "' must be a non-empty name of a-z, 0-9 and _");
    auto bits = detail::parse_number(f[1]);
    if (!bits || *bits < 1 || *bits > 4096 || *bits != std::floor(*bits))
      return err(line_no, "bits '" + f[1] + "' must be an integer between 1 and 4096");
    e.bits = static_cast<std::uint32_t>(*bits);
    bool is_sram = e.component == "sram";
    if (!detail::trim(f[2]).empty()) {
      auto cap = detail::parse_number(f[2]);
      if (!cap || *cap <= 0) return err(line_no, "capacity_kb '" + f[2] + "' must be a positive number");
      if (!is_sram) return err(line_no, "capacity_kb is only allowed on sram rows");
      e.capacity_kb = *cap;
    } else if (is_sram) {
      return err(line_no, "an sram row needs capacity_kb");
    }
    auto energy = detail::parse_number(f[3]);
    if (!energy || *energy < 0) return err(line_no, "energy_pj '" + f[3] + "' must be a number >= 0");
    e.energy_pj = *energy;
    if (!detail::trim(f[4]).empty()) {
      auto area = detail::parse_number(f[4]);
      if (!area || *area < 0) return err(line_no, "area_um2 '" + f[4] + "' must be a number >= 0 or blank");
      e.area_um2 = *area;
    }
    e.source = f[5];
    for (auto const& o : t.entries)
      if (o.component == e.component && o.bits == e.bits && o.capacity_kb == e.capacity_kb)
        return err(line_no, "duplicate row for '" + e.component + "' (same bits" +
                                (is_sram ? std::string(" and capacity") : std::string()) + " as line " +
                                std::to_string(o.line) + ")");
    t.entries.push_back(std::move(e));
  }
  if (!have_header) return fail(errc::corrupt_file, "hw table '" + t.name + "': no header line");
  if (t.entries.empty()) return fail(errc::corrupt_file, "hw table '" + t.name + "': no rows");
  return t;
}

/// Reads and parses a table file.
[[nodiscard]] inline result<cost_table> load_cost_table(std::filesystem::path const& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::io_error, "hw table '" + path.string() + "': cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(errc::io_error, "hw table '" + path.string() + "': read error");
  return parse_cost_table(ss.str(), path.filename().string());
}

/// Names of the built-in tables: copies of hw/tables/<name>.csv compiled into the library.
inline constexpr std::string_view builtin_table_names[] = {"accelergy_40nm", "horowitz_45nm"};

/// The default table: 40 nm, the MVQ accelerator's technology.
inline constexpr std::string_view default_table_name = "accelergy_40nm";

namespace detail {

// Byte-for-byte copies of hw/tables/*.csv (a unit test compares them with the files).
inline constexpr std::string_view builtin_accelergy_40nm =
    R"csv(# mvq energy/area table "accelergy_40nm": 40 nm CMOS, the technology of the MVQ accelerator (ASPLOS 2025).
# Primary sources: the Accelergy energy/area estimation plug-ins for Aladdin's 40 nm component library
# (Wu, Emer, Sze, "Accelergy", ICCAD 2019; Shao et al., "Aladdin", ISCA 2014): 32-bit adder and multiplier
# at a 5 ns clock, register per bit; DRAM energy per bit from Accelergy's DRAM table (LPDDR4, DDR3, HBM2).
# SRAM energies are not part of that set: they are Horowitz's 45 nm figures (ISSCC 2014), used unscaled.
# Rows marked "choice" are not in these sources; they were chosen for mvq and are explained in docs/emulator.md.
#
# Columns
#   component    add | mult | reg | mux2 | lzc | sram | dram[_*]  (other names are kept but unused by the model)
#   bits         operand width (add, mult, lzc), access width in bits (reg, mux2, sram, dram)
#   capacity_kb  SRAM capacity in KiB (sram rows only, blank elsewhere)
#   energy_pj    energy of one operation, or of one access of `bits` bits, in pJ
#   area_um2     area of one unit in um^2 (blank: not given by the source)
#   source       where the number comes from
component,bits,capacity_kb,energy_pj,area_um2,source
add,32,,0.086,179,Accelergy/Aladdin 40 nm: 32-bit adder
mult,32,,8.63,4600,Accelergy/Aladdin 40 nm: 32-bit multiplier
reg,1,,0.009,5.98,Accelergy/Aladdin 40 nm: register (per bit)
mux2,1,,0.00115,2.40,choice: 2:1 mux bit = 12/28 of a 32-bit-adder bit (transistor count of a 2:1 mux vs a 28-T full adder)
lzc,8,,0.0215,44.75,choice: 8-bit leading-zero counter = an 8-bit slice of the 32-bit adder (log2 8 levels of ~8 gates)
sram,64,8,10,,Horowitz ISSCC 2014 (45 nm): 64-bit read of an 8 kB SRAM
sram,64,32,20,,Horowitz ISSCC 2014 (45 nm): 64-bit read of a 32 kB SRAM
sram,64,1024,100,,Horowitz ISSCC 2014 (45 nm): 64-bit read of a 1 MB SRAM
dram,1,,8,,choice: the default DRAM is LPDDR4 (Accelergy: 8 pJ/bit)
dram_lpddr4,1,,8,,Accelergy DRAM table: LPDDR4
dram_ddr3,1,,70,,Accelergy DRAM table: DDR3
dram_hbm2,1,,3.9,,Accelergy DRAM table: HBM2
)csv";

inline constexpr std::string_view builtin_horowitz_45nm =
    R"csv(# mvq energy/area table "horowitz_45nm": 45 nm CMOS, 0.9 V.
# Primary source: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
# energy table of integer/float arithmetic and memory accesses, and its area column for the arithmetic units.
# Rows marked "choice" are not in that source; they were chosen for mvq and are explained in docs/emulator.md.
#
# Columns
#   component    add | mult | reg | mux2 | lzc | sram | dram[_*]  (other names are kept but unused by the model)
#   bits         operand width (add, mult, lzc), access width in bits (reg, mux2, sram, dram)
#   capacity_kb  SRAM capacity in KiB (sram rows only, blank elsewhere)
#   energy_pj    energy of one operation, or of one access of `bits` bits, in pJ
#   area_um2     area of one unit in um^2 (blank: not given by the source)
#   source       where the number comes from
component,bits,capacity_kb,energy_pj,area_um2,source
add,8,,0.03,36,Horowitz ISSCC 2014: 8-bit integer add
add,32,,0.1,137,Horowitz ISSCC 2014: 32-bit integer add
mult,8,,0.2,282,Horowitz ISSCC 2014: 8-bit integer multiply
mult,32,,3.1,3495,Horowitz ISSCC 2014: 32-bit integer multiply
fp16_add,16,,0.4,1360,Horowitz ISSCC 2014: fp16 add (not used by the integer model)
fp32_add,32,,0.9,4184,Horowitz ISSCC 2014: fp32 add (not used by the integer model)
fp16_mult,16,,1.1,1640,Horowitz ISSCC 2014: fp16 multiply (not used by the integer model)
fp32_mult,32,,3.7,7700,Horowitz ISSCC 2014: fp32 multiply (not used by the integer model)
fp32_mac,32,,4.6,,Horowitz ISSCC 2014: fp32 multiply + add (not used by the integer model)
sram,64,8,10,,Horowitz ISSCC 2014: 64-bit read of an 8 kB SRAM
sram,64,32,20,,Horowitz ISSCC 2014: 64-bit read of a 32 kB SRAM
sram,64,1024,100,,Horowitz ISSCC 2014: 64-bit read of a 1 MB SRAM
dram,64,,1950,,choice: midpoint of Horowitz ISSCC 2014's 1.3-2.6 nJ per 64-bit DRAM access
dram_low,64,,1300,,Horowitz ISSCC 2014: DRAM 64-bit access (low end)
dram_high,64,,2600,,Horowitz ISSCC 2014: DRAM 64-bit access (high end)
reg,1,,0.009,5.98,choice: not in Horowitz; Accelergy/Aladdin 40 nm register bit used unscaled
mux2,1,,0.00134,1.83,choice: 2:1 mux bit = 12/28 of a 32-bit-adder bit (transistor count of a 2:1 mux vs a 28-T full adder)
lzc,8,,0.025,34.25,choice: 8-bit leading-zero counter = an 8-bit slice of the 32-bit adder (log2 8 levels of ~8 gates)
)csv";

}  // namespace detail

/// The CSV text of a built-in table, or an empty view when `name` is not one.
[[nodiscard]] constexpr std::string_view builtin_table_text(std::string_view name) noexcept {
  if (name == "accelergy_40nm") return detail::builtin_accelergy_40nm;
  if (name == "horowitz_45nm") return detail::builtin_horowitz_45nm;
  return {};
}

/// A built-in table, parsed; `not_found` when there is no table of that name.
[[nodiscard]] inline result<cost_table> builtin_table(std::string_view name) {
  auto text = builtin_table_text(name);
  if (text.empty())
    return fail(errc::not_found, "hw table: no built-in table named '" + std::string(name) +
                                     "' (built-in: accelergy_40nm, horowitz_45nm)");
  return parse_cost_table(text, "builtin:" + std::string(name));
}

/// A table given as a built-in name or a path to a CSV file (a built-in name wins).
[[nodiscard]] inline result<cost_table> find_cost_table(std::string const& name_or_path) {
  if (!builtin_table_text(name_or_path).empty()) return builtin_table(name_or_path);
  return load_cost_table(name_or_path);
}

/// Energy (pJ) and area (µm²) of one unit; area 0 when the table does not give it.
struct unit_cost {
  double energy_pj = 0;  ///< per operation (arithmetic) or per bit accessed (storage)
  double area_um2 = 0;   ///< per unit (arithmetic) or per bit stored (registers, muxes)
};

/// What `resolve` needs to know about the hardware to pick and scale table rows.
struct technology_params {
  std::uint32_t operand_bits = 8;      ///< weight/activation width: the multiplier is operand_bits × operand_bits
  std::uint32_t accumulator_bits = 32; ///< accumulator (adder) width
  std::uint32_t mask_group = 4;        ///< M of an N:M pattern: width of the leading-zero counter
  double ifmap_sram_kb = 64, filter_sram_kb = 64, ofmap_sram_kb = 64;
  std::string dram = "dram";           ///< which dram row: "dram" (the table's default), "dram_lpddr4", ...
};

/// Per-operation costs resolved from a table for one hardware configuration.
struct technology {
  std::string table;         ///< the table's name
  unit_cost mult;            ///< one operand_bits × operand_bits multiply
  unit_cost add;             ///< one accumulator_bits add
  unit_cost reg_bit;         ///< one register bit: energy per bit read or written, area per bit
  unit_cost mux2_bit;        ///< one bit of a 2:1 multiplexer: energy per bit selected, area per bit
  unit_cost lzc;             ///< one mask_group-bit leading-zero count
  double ifmap_sram_pj_per_bit = 0, filter_sram_pj_per_bit = 0, ofmap_sram_pj_per_bit = 0;
  double dram_pj_per_bit = 0;

  /// One MAC: a multiply plus an accumulate.
  [[nodiscard]] double mac_pj() const noexcept { return mult.energy_pj + add.energy_pj; }
};

namespace detail {

/// The row of `component` whose width is nearest `bits` (ties: the wider row).
[[nodiscard]] inline result<const table_entry*> nearest_row(cost_table const& t, std::string_view component,
                                                            std::uint32_t bits) {
  const table_entry* best = nullptr;
  for (auto const* e : t.rows(component)) {
    auto dist = [&](table_entry const* x) { return x->bits > bits ? x->bits - bits : bits - x->bits; };
    if (!best || dist(e) < dist(best) || (dist(e) == dist(best) && e->bits > best->bits)) best = e;
  }
  if (!best)
    return fail(errc::not_found, "hw table '" + t.name + "': no '" + std::string(component) +
                                     "' row (the energy model needs it)");
  return best;
}

/// SRAM energy per bit at `kb` KiB: log-log interpolation between the two nearest capacities of the table,
/// extrapolated along the end segments (energy of an SRAM access grows about as √capacity: Horowitz's 8 kB →
/// 32 kB → 1 MB figures give exponents 0.50 and 0.46).
[[nodiscard]] inline result<double> sram_pj_per_bit(cost_table const& t, double kb) {
  auto rows = t.rows("sram");
  if (rows.empty()) return fail(errc::not_found, "hw table '" + t.name + "': no 'sram' row (the energy model needs it)");
  if (!(kb > 0)) return fail(errc::invalid_argument, "hw energy model: SRAM size must be positive");
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return *a->capacity_kb < *b->capacity_kb; });
  auto per_bit = [](table_entry const* e) { return e->energy_pj / e->bits; };
  if (rows.size() == 1) return per_bit(rows[0]);
  std::size_t i = 0;
  while (i + 2 < rows.size() && kb > *rows[i + 1]->capacity_kb) ++i;
  const double x0 = std::log(*rows[i]->capacity_kb), x1 = std::log(*rows[i + 1]->capacity_kb);
  const double e0 = per_bit(rows[i]), e1 = per_bit(rows[i + 1]);
  if (e0 <= 0 || e1 <= 0) {  // no logarithm of zero: interpolate linearly in log capacity
    return e0 + (e1 - e0) * (std::log(kb) - x0) / (x1 - x0);
  }
  const double y = std::log(e0) + (std::log(e1) - std::log(e0)) * (std::log(kb) - x0) / (x1 - x0);
  return std::exp(y);
}

}  // namespace detail

/// Resolves a table into per-operation costs. Scaling rules (documented in docs/emulator.md):
/// multiplier energy and area ∝ (operand bits)² (an array multiplier has bits² partial-product cells),
/// adder ∝ bits (ripple/carry-select adders grow linearly), leading-zero counter ∝ w·log2 w, registers and
/// muxes per bit, memories per bit of their access width; each from the row of nearest width.
[[nodiscard]] inline result<technology> resolve(cost_table const& t, technology_params const& p) {
  if (p.operand_bits == 0 || p.accumulator_bits == 0 || p.mask_group == 0)
    return fail(errc::invalid_argument, "hw energy model: operand, accumulator and mask widths must be positive");
  technology tech;
  tech.table = t.name;
  auto area_of = [](table_entry const* e) { return e->area_um2.value_or(0.0); };

  auto mult = detail::nearest_row(t, "mult", p.operand_bits);
  if (!mult) return tl::unexpected(mult.error());
  const double ms = static_cast<double>(p.operand_bits) * p.operand_bits / (double((*mult)->bits) * (*mult)->bits);
  tech.mult = {(*mult)->energy_pj * ms, area_of(*mult) * ms};

  auto add = detail::nearest_row(t, "add", p.accumulator_bits);
  if (!add) return tl::unexpected(add.error());
  const double as = static_cast<double>(p.accumulator_bits) / (*add)->bits;
  tech.add = {(*add)->energy_pj * as, area_of(*add) * as};

  for (auto [name, out] : {std::pair{"reg", &tech.reg_bit}, std::pair{"mux2", &tech.mux2_bit}}) {
    auto r = detail::nearest_row(t, name, 1);
    if (!r) return tl::unexpected(r.error());
    *out = {(*r)->energy_pj / (*r)->bits, area_of(*r) / (*r)->bits};
  }

  auto lzc = detail::nearest_row(t, "lzc", p.mask_group);
  if (!lzc) return tl::unexpected(lzc.error());
  auto wlog = [](double w) { return w <= 1 ? 1.0 : w * std::log2(w); };
  const double ls = wlog(p.mask_group) / wlog((*lzc)->bits);
  tech.lzc = {(*lzc)->energy_pj * ls, area_of(*lzc) * ls};

  for (auto [kb, out] : {std::pair{p.ifmap_sram_kb, &tech.ifmap_sram_pj_per_bit},
                         std::pair{p.filter_sram_kb, &tech.filter_sram_pj_per_bit},
                         std::pair{p.ofmap_sram_kb, &tech.ofmap_sram_pj_per_bit}}) {
    auto s = detail::sram_pj_per_bit(t, kb);
    if (!s) return tl::unexpected(s.error());
    *out = *s;
  }

  auto dram = t.rows(p.dram);
  if (dram.empty())
    return fail(errc::not_found, "hw table '" + t.name + "': no '" + p.dram + "' row (the DRAM the model uses)");
  tech.dram_pj_per_bit = dram.front()->energy_pj / dram.front()->bits;
  return tech;
}

}  // namespace mvq::inline v0::hw
