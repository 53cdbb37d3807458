// `mvq report`: the MVQ accelerator comparison. Compresses a network's weights with MVQ (synthetic, seeded
// Laplacian weights unless a safetensors file is given), runs the analytic and energy models for five designs
// (dense WS, EWS, EWS + VQ, MVQ sparse EWS, S2TA-like) and prints cycles, energy per inference, TOPS/W, array
// area and compression ratio next to the MVQ paper's claims. Writes an SVG chart of the per-layer energy
// breakdown and, with --json, a JSON summary into the output folder. Modelling assumptions: docs/emulator.md.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/hw/accelerators.hpp"
#include "mvq/hw/energy.hpp"
#include "mvq/hw/scalesim_io.hpp"
#include "mvq/hw/tables.hpp"
#include "mvq/hw/topologies.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/quant/compress.hpp"

namespace {

namespace hw = mvq::hw;
using mvq::errc;
using mvq::fail;
using mvq::result;

struct report_args {
  std::string topology = "resnet18", table = std::string(hw::default_table_name), dram = "dram", nm = "2:4",
              weights, out = "mvq-report";
  std::uint32_t rows = 64, cols = 64, k = 256, d = 16;
  std::uint64_t seed = 1;
  std::uint64_t sample = 2048;  // sub-vectors clustered per layer (rows are subsampled above this)
  unsigned iters = 20;
  bool json = false;
};

// One weight layer of the network as the compressor sees it.
struct weight_layer {
  std::string name;
  std::uint64_t rows = 0, cols = 0;  // filters × reduction (R·S·C)
  bool compressed = false;           // false: kept int8 (depthwise, or the row length is not a multiple of d)
  std::string why;                   // reason when not compressed
  std::string source = "synthetic";  // "synthetic" or the tensor name
  std::uint32_t k_used = 0;
  double sqnr_db = 0;                // 10·log10(‖W‖²/‖W−Ŵ‖²) of the compressed sample
  double seconds = 0;
  std::uint64_t mvq_bits = 0, vq_bits = 0, s2ta_bits = 0;  // stored bits of the whole layer per format
};

result<mvq::nm_pattern> parse_nm(std::string const& s) {
  auto p = mvq::parse_nm_pattern(s);
  if (!p) return fail(errc::invalid_argument, "--nm: " + p.error().message);
  return p;
}

// Stored bits of a rows × cols layer in a compressed layout (K clamped as `compress` clamps it).
std::uint64_t layout_bits(std::uint64_t rows, std::uint64_t cols, std::uint32_t k, std::uint32_t d, mvq::nm_pattern nm) {
  mvq::compressed_layout l;
  l.rows = rows;
  l.cols = cols;
  l.vq = {mvq::quant::clamped_k(k, rows * cols / d), static_cast<std::uint8_t>(d)};
  l.nm = nm;
  l.masks = nm.dense() ? mvq::mask_encoding::none : mvq::mask_encoding::pattern;
  l.codebook = mvq::codebook_dtype::i8;
  return l.stored_bits();
}

// Synthetic weights: Laplacian with He-initialisation variance 2/fan_in (scale b = σ/√2), seeded per layer.
std::vector<float> synthetic_weights(std::uint64_t rows, std::uint64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> expo(1.0);
  std::bernoulli_distribution sign(0.5);
  const double b = std::sqrt(2.0 / static_cast<double>(cols)) / std::sqrt(2.0);
  std::vector<float> w(rows * cols);
  for (auto& x : w) x = static_cast<float>((sign(rng) ? 1.0 : -1.0) * b * expo(rng));
  return w;
}

// A layer of the network to report on: built-in topology rows (repeats expanded) or SCALE-Sim CSV rows.
struct report_layer {
  hw::named_layer layer;
  bool has_weights = true;
};

result<std::vector<weight_layer>> compress_network(report_args const& a, std::vector<report_layer> const& net,
                                                   mvq::nm_pattern nm, mvq::io::safetensors_file const* file) {
  std::vector<weight_layer> out;
  std::uint64_t index = 0;
  for (auto const& rl : net) {
    ++index;
    if (!rl.has_weights) continue;
    auto const& r = rl.layer;
    const hw::gemm_shape g = hw::to_gemm(r.shape);
    {
      weight_layer wl;
      wl.name = r.name;
      wl.rows = g.n * g.groups;
      wl.cols = g.k;
      const std::uint64_t elems = wl.rows * wl.cols;
      const std::uint64_t kept = hw::compact_k(wl.cols, nm) * wl.rows;
      wl.s2ta_bits = kept * 8 + ((wl.cols + nm.m - 1) / nm.m) * wl.rows * nm.m;
      if (r.shape.kind == hw::layer_kind::depthwise) wl.why = "depthwise (MVQ does not compress depthwise layers)";
      else if (wl.cols % a.d != 0) wl.why = "row length " + std::to_string(wl.cols) + " is not a multiple of d";
      if (!wl.why.empty()) {
        wl.mvq_bits = wl.vq_bits = elems * 8;
        out.push_back(std::move(wl));
        continue;
      }
      wl.compressed = true;
      wl.mvq_bits = layout_bits(wl.rows, wl.cols, a.k, a.d, nm);
      wl.vq_bits = layout_bits(wl.rows, wl.cols, a.k, a.d, {});
      // Weights: the file's tensor "<layer>.weight" (or "<layer>") when it has the right size, else synthetic.
      std::vector<float> w;
      if (file) {
        auto const* t = file->find(wl.name + ".weight");
        if (!t) t = file->find(wl.name);
        if (t && t->elements() == elems) {
          auto v = file->read_f32(t->name);
          if (!v) return tl::unexpected(v.error());
          w = std::move(*v);
          wl.source = t->name;
        }
      }
      // Subsample rows so that at most `sample` sub-vectors are clustered; K is clamped for the sample as
      // `compress` clamps it, the stored size above is for the whole layer.
      const std::uint64_t per_row = wl.cols / a.d;
      const std::uint64_t rows_s = std::clamp<std::uint64_t>(a.sample / std::max<std::uint64_t>(per_row, 1), 1, wl.rows);
      if (w.empty()) w = synthetic_weights(rows_s, wl.cols, a.seed * 1000003u + index * 131u);
      mvq::quant::compress_options o;
      o.method = mvq::quant::method::mvq;
      o.vq = {a.k, static_cast<std::uint8_t>(a.d)};
      o.nm = nm;
      o.masks = mvq::mask_encoding::pattern;
      o.codebook = mvq::codebook_dtype::i8;
      o.seed = a.seed + index;
      o.max_iter = a.iters;
      mvq::quant::layer_stats st;
      mvq::matrix_view<const float> view(w.data(), static_cast<std::size_t>(rows_s), static_cast<std::size_t>(wl.cols));
      auto cm = mvq::quant::compress(view, o, {}, &st);
      if (!cm) return fail(cm.error().code, "layer '" + wl.name + "': " + cm.error().message);
      wl.k_used = st.k;
      wl.sqnr_db = st.weight_err2 > 0 ? 10.0 * std::log10(st.weight_norm2 / st.weight_err2) : 999.0;
      wl.seconds = st.seconds;
      out.push_back(std::move(wl));
    }
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Hand-written SVG: per layer, two stacked bars (EWS, MVQ) of the energy components.
std::string energy_svg(std::vector<hw::network_result> const& res, std::array<hw::design, hw::design_count> const& ds,
                       std::string const& title) {
  static const char* colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f"};
  const std::size_t shown[] = {1, 3};  // EWS and MVQ
  const auto& layers = res[1].layers;
  const std::size_t n = layers.size();
  double vmax = 0;
  for (std::size_t s : shown)
    for (auto const& l : res[s].layers) vmax = std::max(vmax, l.energy.total_pj());
  if (vmax <= 0) vmax = 1;
  const double left = 70, top = 60, plot_h = 320, bar_w = 12, gap = 3, group_w = 2 * bar_w + gap + 14;
  const double width = left + group_w * static_cast<double>(n) + 190, height = top + plot_h + 150;
  std::ostringstream s;
  auto esc = [](std::string const& t) {
    std::string o;
    for (char c : t) {
      if (c == '&') o += "&amp;";
      else if (c == '<') o += "&lt;";
      else if (c == '>') o += "&gt;";
      else if (c == '"') o += "&quot;";
      else o += c;
    }
    return o;
  };
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << left << "\" y=\"24\" font-size=\"15\">" << esc(title) << "</text>\n";
  s << "<text x=\"" << left << "\" y=\"42\">per layer: left bar " << esc(std::string(ds[1].label))
    << ", right bar " << esc(std::string(ds[3].label)) << "; energy per inference in uJ</text>\n";
  // axis and grid
  for (int t = 0; t <= 4; ++t) {
    const double v = vmax * t / 4, y = top + plot_h - plot_h * t / 4;
    s << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + group_w * static_cast<double>(n)
      << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << fmt("%.1f", v * 1e-6)
      << "</text>\n";
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double x0 = left + group_w * static_cast<double>(i) + 7;
    for (std::size_t b = 0; b < 2; ++b) {
      const auto& e = res[shown[b]].layers[i].energy;
      const auto comp = hw::components(e);
      double y = top + plot_h;
      const double x = x0 + static_cast<double>(b) * (bar_w + gap);
      for (std::size_t c = 0; c < comp.size(); ++c) {
        const double h = plot_h * comp[c] / vmax;
        if (h <= 0) continue;
        y -= h;
        s << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << bar_w << "\" height=\"" << h << "\" fill=\""
          << colors[c] << "\"><title>" << esc(layers[i].name) << " " << esc(std::string(ds[shown[b]].label)) << " "
          << hw::energy_component_names[c] << ": " << fmt("%.3f", comp[c] * 1e-6) << " uJ</title></rect>\n";
      }
    }
    const double lx = x0 + bar_w, ly = top + plot_h + 10;
    s << "<text x=\"" << lx << "\" y=\"" << ly << "\" transform=\"rotate(60 " << lx << ' ' << ly << ")\">"
      << esc(layers[i].name) << "</text>\n";
  }
  s << "<line x1=\"" << left << "\" y1=\"" << top + plot_h << "\" x2=\"" << left + group_w * static_cast<double>(n)
    << "\" y2=\"" << top + plot_h << "\" stroke=\"black\"/>\n";
  s << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\"" << top + plot_h
    << "\" stroke=\"black\"/>\n";
  const double lgx = left + group_w * static_cast<double>(n) + 20;
  for (std::size_t c = 0; c < std::size(hw::energy_component_names); ++c) {
    const double y = top + 18.0 * static_cast<double>(c);
    s << "<rect x=\"" << lgx << "\" y=\"" << y << "\" width=\"12\" height=\"12\" fill=\"" << colors[c] << "\"/>\n";
    s << "<text x=\"" << lgx + 18 << "\" y=\"" << y + 10 << "\">" << hw::energy_component_names[c] << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

nlohmann::json energy_json(hw::energy_breakdown const& e) {
  nlohmann::json j;
  const auto comp = hw::components(e);
  for (std::size_t c = 0; c < comp.size(); ++c) j[hw::energy_component_names[c]] = comp[c];
  j["total"] = e.total_pj();
  return j;
}

int run_report(report_args const& a) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  // The network: a built-in topology, or a SCALE-Sim topology CSV (every layer assumed to hold weights).
  std::vector<report_layer> net;
  std::string topo_name = a.topology, topo_desc;
  if (auto const* topo = hw::find_builtin_topology(a.topology)) {
    topo_desc = std::string(topo->description);
    for (auto const& r : topo->rows) {
      for (std::uint32_t i = 0; i < r.repeat; ++i)
        net.push_back({{std::string(r.name) + (r.repeat > 1 ? ".h" + std::to_string(i) : ""), r.shape}, r.has_weights});
    }
  } else if (a.topology.size() > 4 && a.topology.ends_with(".csv")) {
    auto csv = hw::read_topology_csv(a.topology);
    if (!csv) return mvq_cli::report(csv.error());
    for (auto& l : *csv) net.push_back({std::move(l), true});
    topo_name = std::filesystem::path(a.topology).stem().string();
    topo_desc = "SCALE-Sim topology " + a.topology;
  } else {
    std::string names;
    for (auto const& t : hw::builtin_topologies) names += (names.empty() ? "" : ", ") + std::string(t.name);
    return mvq_cli::report({errc::not_found, "--topology '" + a.topology + "': neither a built-in topology (" + names +
                                                 ") nor a SCALE-Sim topology .csv file"});
  }
  if (net.empty()) return mvq_cli::report({errc::invalid_argument, "--topology '" + a.topology + "': no layers"});
  auto nm = parse_nm(a.nm);
  if (!nm) return mvq_cli::report(nm.error());
  if (nm->dense()) return mvq_cli::report({errc::invalid_argument, "--nm must be a sparse N:M pattern"});
  auto designs = hw::comparison_designs(a.rows, a.cols, {a.k, static_cast<std::uint8_t>(a.d)}, *nm);
  if (!designs) return mvq_cli::report(designs.error());
  auto table = hw::find_cost_table(a.table);
  if (!table) return mvq_cli::report(table.error());

  std::optional<mvq::io::safetensors_file> file;
  if (!a.weights.empty()) {
    auto f = mvq::io::safetensors_file::open(a.weights);
    if (!f) return mvq_cli::report(f.error());
    file.emplace(std::move(*f));
  }

  // 1. compress the weights
  auto wl = compress_network(a, net, *nm, file ? &*file : nullptr);
  if (!wl) return mvq_cli::report(wl.error());
  std::uint64_t weights = 0, mvq_bits = 0, vq_bits = 0, s2ta_bits = 0;
  double sq_sum = 0, comp_seconds = 0;
  std::size_t n_comp = 0, n_file = 0;
  for (auto const& l : *wl) {
    weights += l.rows * l.cols;
    mvq_bits += l.mvq_bits;
    vq_bits += l.vq_bits;
    s2ta_bits += l.s2ta_bits;
    if (l.compressed) {
      sq_sum += l.sqnr_db;
      ++n_comp;
      comp_seconds += l.seconds;
      if (l.source != "synthetic") ++n_file;
    }
  }
  const double fp32 = 32.0 * static_cast<double>(weights);
  const std::array<double, hw::design_count> ratio{4.0, 4.0, fp32 / static_cast<double>(vq_bits),
                                                   fp32 / static_cast<double>(mvq_bits),
                                                   fp32 / static_cast<double>(s2ta_bits)};

  // 2. the five designs
  std::vector<hw::named_layer> layers;
  std::vector<std::uint8_t> prunable;
  for (auto const& r : net) {
    layers.push_back(r.layer);
    prunable.push_back(r.has_weights ? 1 : 0);
  }
  std::vector<hw::network_result> res;
  for (auto const& d : *designs) {
    auto tech = hw::resolve(*table, hw::technology_params_for(d.config, a.dram));
    if (!tech) return mvq_cli::report(tech.error());
    auto r = hw::evaluate_network(d.config, layers, *tech, prunable);
    if (!r) return mvq_cli::report(r.error());
    res.push_back(std::move(*r));
  }
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();

  // 3. print
  std::printf("mvq report: %s (%zu layers, %.3f GMACs), logical %ux%u array, VQ K=%u d=%u, N:M %s, table %s, DRAM row '%s'\n",
              topo_desc.c_str(), layers.size(), static_cast<double>(res[0].dense_macs) * 1e-9,
              a.rows, a.cols, a.k, a.d, a.nm.c_str(), table->name.c_str(), a.dram.c_str());
  std::printf("weights: %zu of %zu weight layers compressed with MVQ (%zu from %s, the rest synthetic Laplacian, seed %llu);"
              " mean weight SQNR %.2f dB; clustering %.2f s\n\n",
              n_comp, wl->size(), n_file, a.weights.empty() ? "no file" : a.weights.c_str(),
              static_cast<unsigned long long>(a.seed), n_comp ? sq_sum / static_cast<double>(n_comp) : 0.0,
              comp_seconds);
  std::printf("%-16s %7s %12s %14s %9s %11s %12s\n", "design", "PEs", "cycles", "energy/inf uJ", "TOPS/W",
              "area mm2", "compression");
  for (std::size_t i = 0; i < res.size(); ++i) {
    auto const& r = res[i];
    std::printf("%-16s %7llu %12llu %14.2f %9.3f %11.3f %11.2fx\n", std::string((*designs)[i].label).c_str(),
                static_cast<unsigned long long>(r.config.pes()), static_cast<unsigned long long>(r.cycles),
                r.energy_uj(), r.tops_per_watt(), r.area.total_um2() * 1e-6, ratio[i]);
  }
  std::printf("\n%-16s", "energy/inf uJ");
  for (auto const* name : hw::energy_component_names) std::printf(" %9s", name);
  std::printf("\n");
  for (std::size_t i = 0; i < res.size(); ++i) {
    std::printf("%-16s", std::string((*designs)[i].label).c_str());
    for (double v : hw::components(res[i].energy)) std::printf(" %9.2f", v * 1e-6);
    std::printf("\n");
  }
  auto const &ws = res[0], &ews = res[1], &mvq_r = res[3], &s2ta = res[4];
  const double eff_mvq_ews = mvq_r.tops_per_watt() / ews.tops_per_watt();
  const double area_red = 1.0 - mvq_r.area.total_um2() / ews.area.total_um2();
  const double eff_mvq_s2ta = mvq_r.tops_per_watt() / s2ta.tops_per_watt();
  const double thr_ews_ws = static_cast<double>(ws.cycles) / static_cast<double>(ews.cycles);
  const double eff_ews_ws = ews.tops_per_watt() / ws.tops_per_watt();
  std::printf("\n%-44s %14s %12s\n", "claim (MVQ, ASPLOS 2025; EWS, TCAS-II 2024)", "paper", "this model");
  std::printf("%-44s %14s %11.2fx\n", "MVQ vs EWS energy efficiency", "2.3x", eff_mvq_ews);
  std::printf("%-44s %14s %11.1f%%\n", "MVQ array area reduction vs EWS", "55%", 100 * area_red);
  std::printf("%-44s %14s %11.2fx\n", "MVQ vs S2TA energy efficiency", "1.73x", eff_mvq_s2ta);
  std::printf("%-44s %14s %11.2f\n", "MVQ TOPS/W", "6.9", mvq_r.tops_per_watt());
  std::printf("%-44s %14s %11.2fx\n", "EWS vs WS throughput", "1.22-1.72x", thr_ews_ws);
  std::printf("%-44s %14s %11.2fx\n", "EWS vs WS energy efficiency", "1.35-2.48x", eff_ews_ws);
  std::printf("(the model is not tuned to the paper's figures; where it lands and why: docs/emulator.md)\n");

  // 4. files
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (ec) return mvq_cli::report({errc::io_error, "-o '" + a.out + "': " + ec.message()});
  const auto svg_path = std::filesystem::path(a.out) / "energy_breakdown.svg";
  {
    std::ofstream f(svg_path, std::ios::binary);
    f << energy_svg(res, *designs, "Energy per layer, " + topo_name + ", " + table->name);
    if (!f) return mvq_cli::report({errc::io_error, svg_path.string() + ": write failed"});
  }
  std::printf("\nwrote %s", svg_path.string().c_str());
  if (a.json) {
    nlohmann::json j;
    j["topology"] = topo_name;
    j["table"] = table->name;
    j["dram"] = a.dram;
    j["array"] = {{"rows", a.rows}, {"cols", a.cols}};
    j["vq"] = {{"k", a.k}, {"d", a.d}, {"nm", a.nm}};
    j["seed"] = a.seed;
    j["dense_macs"] = res[0].dense_macs;
    j["seconds"] = seconds;
    nlohmann::json jd = nlohmann::json::array();
    for (std::size_t i = 0; i < res.size(); ++i) {
      auto const& r = res[i];
      nlohmann::json d;
      d["key"] = std::string((*designs)[i].key);
      d["label"] = std::string((*designs)[i].label);
      d["rows"] = r.config.rows;
      d["cols"] = r.config.cols;
      d["dataflow"] = std::string(hw::to_string(r.config.flow));
      d["pe"] = std::string(hw::to_string(r.config.pe));
      d["pes"] = r.config.pes();
      d["cycles"] = r.cycles;
      d["energy_pj"] = energy_json(r.energy);
      d["tops_per_watt"] = r.tops_per_watt();
      d["area_um2"] = {{"mac", r.area.mac_um2}, {"wrf", r.area.wrf_um2}, {"arf", r.area.arf_um2},
                       {"prf", r.area.prf_um2}, {"act_mux", r.area.act_mux_um2},
                       {"codebook_rf", r.area.codebook_rf_um2}, {"decoder", r.area.decoder_um2},
                       {"total", r.area.total_um2()}};
      d["compression_vs_fp32"] = ratio[i];
      nlohmann::json jl = nlohmann::json::array();
      for (auto const& l : r.layers)
        jl.push_back({{"name", l.name}, {"cycles", l.events.cycles}, {"energy_pj", energy_json(l.energy)}});
      d["layers"] = jl;
      jd.push_back(d);
    }
    j["designs"] = jd;
    j["ratios"] = {{"mvq_vs_ews_energy_efficiency", eff_mvq_ews}, {"mvq_area_reduction_vs_ews", area_red},
                   {"mvq_vs_s2ta_energy_efficiency", eff_mvq_s2ta}, {"ews_vs_ws_throughput", thr_ews_ws},
                   {"ews_vs_ws_energy_efficiency", eff_ews_ws}};
    j["paper"] = {{"mvq_vs_ews_energy_efficiency", 2.3}, {"mvq_area_reduction_vs_ews", 0.55},
                  {"mvq_vs_s2ta_energy_efficiency", 1.73}, {"mvq_tops_per_watt", 6.9},
                  {"ews_vs_ws_throughput", {1.22, 1.72}}, {"ews_vs_ws_energy_efficiency", {1.35, 2.48}}};
    nlohmann::json jw = nlohmann::json::array();
    for (auto const& l : *wl) {
      nlohmann::json x{{"name", l.name}, {"rows", l.rows}, {"cols", l.cols}, {"compressed", l.compressed},
                       {"mvq_bits", l.mvq_bits}, {"source", l.source}};
      if (l.compressed) {
        x["k"] = l.k_used;
        x["sqnr_db"] = l.sqnr_db;
      } else {
        x["why"] = l.why;
      }
      jw.push_back(x);
    }
    j["weights"] = jw;
    const auto json_path = std::filesystem::path(a.out) / "report.json";
    std::ofstream f(json_path, std::ios::binary);
    f << j.dump(2) << '\n';
    if (!f) return mvq_cli::report({errc::io_error, json_path.string() + ": write failed"});
    std::printf(", %s", json_path.string().c_str());
  }
  std::printf(" (%.2f s)\n", seconds);
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto args = std::make_shared<report_args>();
  auto* sub = app.add_subcommand("report",
                                 "The MVQ accelerator comparison: compress a network with MVQ and cost it on dense WS, "
                                 "EWS, EWS + VQ, MVQ sparse EWS and S2TA-like arrays");
  sub->add_option("--topology", args->topology, "built-in topology (resnet18, resnet50, vgg16, mobilenet_v2, alexnet, "
                                                "dit_xl2_block) or a SCALE-Sim topology .csv")->capture_default_str();
  sub->add_option("--rows", args->rows, "logical array rows (sparse arrays get rows·N/M PE rows)")
      ->capture_default_str()->check(CLI::Range(1u, hw::max_array_side));
  sub->add_option("--cols", args->cols, "array columns")->capture_default_str()->check(CLI::Range(1u, hw::max_array_side));
  sub->add_option("--k", args->k, "codebook size K")->capture_default_str();
  sub->add_option("--d", args->d, "sub-vector dimension d (1..16)")->capture_default_str()->check(CLI::Range(1u, 16u));
  sub->add_option("--nm", args->nm, "N:M pattern of MVQ and S2TA-like")->capture_default_str();
  sub->add_option("--table", args->table, "energy/area table: accelergy_40nm, horowitz_45nm or a CSV file")
      ->capture_default_str();
  sub->add_option("--dram", args->dram, "DRAM row of the table (dram, dram_lpddr4, dram_ddr3, dram_hbm2, ...)")
      ->capture_default_str();
  sub->add_option("--weights", args->weights, "safetensors file with a '<layer>.weight' or '<layer>' tensor per "
                                              "layer (torchvision names); layers without one use synthetic weights");
  sub->add_option("--seed", args->seed, "seed of the synthetic weights and of k-means")->capture_default_str();
  sub->add_option("--sample", args->sample, "sub-vectors clustered per layer (rows are subsampled above this)")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{16}, std::uint64_t{1} << 24));
  sub->add_option("--iters", args->iters, "k-means iterations")->capture_default_str()->check(CLI::Range(1u, 1000u));
  sub->add_option("-o,--out", args->out, "output folder (energy_breakdown.svg, report.json)")->capture_default_str();
  sub->add_flag("--json", args->json, "also write report.json");
  sub->callback([args, &exit_code] { exit_code = run_report(*args); });
});

}  // namespace
