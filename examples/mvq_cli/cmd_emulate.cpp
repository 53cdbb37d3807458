// `mvq emulate`: run a SCALE-Sim configuration and topology through the analytic model (optionally checked by the
// cycle-stepped model), write SCALE-Sim's report files plus a JSON summary with cycles, utilization, SRAM/DRAM
// traffic, energy and area.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "mvq/hw/accelerators.hpp"
#include "mvq/hw/analytic.hpp"
#include "mvq/hw/cycle_sim.hpp"
#include "mvq/hw/scalesim_io.hpp"
#include "mvq/hw/tables.hpp"
#include "mvq/io/mvq_format.hpp"

namespace {

namespace hw = mvq::hw;
using mvq::errc;

struct emulate_args {
  std::string config, topology, dataflow, nm, vq, weights, out, table = std::string(hw::default_table_name),
                                                                  dram = "dram";
  std::uint32_t wrf = 0, arf = 0, prf = 0;
  bool gemm = false, json = false, cycle_check = false, no_replay = false;
};

int run_emulate(emulate_args const& a) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto cfg = hw::read_scalesim_cfg(a.config);
  if (!cfg) return mvq_cli::report(cfg.error());
  hw::array_config c = cfg->array;
  if (!a.dataflow.empty() && !hw::parse_dataflow(a.dataflow, c.flow))
    return mvq_cli::report({errc::invalid_argument, "--dataflow must be ws, os, is or ews, got '" + a.dataflow + "'"});
  if (a.wrf) c.wrf_depth = static_cast<std::uint16_t>(a.wrf);
  if (a.arf) c.arf_depth = static_cast<std::uint16_t>(a.arf);
  if (a.prf) c.prf_depth = static_cast<std::uint16_t>(a.prf);
  std::string weights_note;
  if (!a.weights.empty()) {
    // The compressed file fixes the codebook shape and the N:M pattern (its first compressed layer's).
    auto f = mvq::io::mvq_file::open(a.weights);
    if (!f) return mvq_cli::report(f.error());
    if (f->layers().empty())
      return mvq_cli::report({errc::invalid_argument, a.weights + ": holds no compressed layer"});
    auto const& l = f->layers().front().layout;
    c.pe = hw::pe_kind::vq_decode;
    c.vq = {l.k(), static_cast<std::uint8_t>(l.d())};
    c.nm = l.nm;
    weights_note = a.weights + " (" + std::to_string(f->layers().size()) + " compressed layers; K=" +
                   std::to_string(l.k()) + " d=" + std::to_string(l.d()) + " N:M " + mvq::to_string(l.nm) + ")";
  }
  if (!a.nm.empty()) {
    auto p = mvq::parse_nm_pattern(a.nm);
    if (!p) return mvq_cli::report({errc::invalid_argument, "--nm: " + p.error().message});
    if (p->dense()) return mvq_cli::report({errc::invalid_argument, "--nm 0:0 is dense: leave --nm out"});
    c.nm = *p;
    if (c.pe == hw::pe_kind::dense_mac) c.pe = hw::pe_kind::sparse_nm;
  }
  if (!a.vq.empty()) {
    auto v = mvq::parse_vq_config(a.vq);
    if (!v) return mvq_cli::report({errc::invalid_argument, "--vq: " + v.error().message});
    c.vq = *v;
    c.pe = hw::pe_kind::vq_decode;
  }
  if (auto v = hw::validate(c, "--config/--dataflow/--nm/--vq"); !v) return mvq_cli::report(v.error());

  std::string topo_path = a.topology.empty() ? cfg->topology : a.topology;
  if (topo_path.empty()) return mvq_cli::report({errc::invalid_argument, "--topology is required (the .cfg names none)"});
  auto layers = hw::read_topology_csv(topo_path, a.gemm ? hw::topology_form::gemm : hw::topology_form::detect);
  if (!layers) return mvq_cli::report(layers.error());
  bool any_sparse = false;
  for (auto const& l : *layers) any_sparse = any_sparse || !l.shape.sparsity.dense();
  if (any_sparse && c.pe == hw::pe_kind::dense_mac) {
    // The topology's Sparsity column asks for a sparse array, as SCALE-Sim v3's SparsitySupport does.
    c.pe = hw::pe_kind::sparse_nm;
    for (auto const& l : *layers)
      if (!l.shape.sparsity.dense()) { c.nm = l.shape.sparsity; break; }
  }

  auto reports = hw::make_scalesim_reports(c, *layers, !a.no_replay);
  if (auto w = hw::write_scalesim_reports(a.out, reports); !w) return mvq_cli::report(w.error());

  // Energy and area (the table is resolved for this array).
  nlohmann::json energy_json, area_json;
  std::string energy_note;
  hw::network_result net;
  bool have_energy = false;
  if (auto table = hw::find_cost_table(a.table); !table) {
    energy_note = table.error().what();
  } else if (auto tech = hw::resolve(*table, hw::technology_params_for(c, a.dram)); !tech) {
    energy_note = tech.error().what();
  } else if (auto r = hw::evaluate_network(c, *layers, *tech); !r) {
    energy_note = r.error().what();
  } else {
    net = std::move(*r);
    have_energy = true;
  }

  std::uint64_t cycles = 0, stalls = 0, prefetch = 0, macs = 0, array_macs = 0;
  std::uint64_t sram[4] = {}, dram[3] = {}, filter_bits = 0;
  nlohmann::json per_layer = nlohmann::json::array();
  for (std::size_t i = 0; i < layers->size(); ++i) {
    auto const& nl = (*layers)[i];
    const hw::layer_cost k = hw::analyze(c, nl.shape);
    cycles += k.total_cycles();
    stalls += k.stall_cycles;
    prefetch += k.prefetch_cycles;
    macs += k.macs;
    array_macs += k.array_macs;
    sram[0] += k.ifmap_sram_reads;
    sram[1] += k.filter_sram_reads;
    sram[2] += k.ofmap_sram_writes;
    sram[3] += k.ofmap_sram_reads;
    dram[0] += k.ifmap_dram_reads;
    dram[1] += k.filter_dram_reads;
    dram[2] += k.ofmap_dram_writes;
    filter_bits += k.filter_bits;
    nlohmann::json lj = {{"name", nl.name}, {"kind", std::string(hw::to_string(nl.shape.kind))},
                         {"m", hw::to_gemm(nl.shape).m}, {"n", hw::to_gemm(nl.shape).n},
                         {"k", hw::to_gemm(nl.shape).k}, {"groups", k.groups}, {"folds", k.map.folds() * k.groups},
                         {"cycles", k.total_cycles()}, {"stall_cycles", k.stall_cycles}, {"macs", k.macs}};
    if (have_energy) lj["energy_pj"] = net.layers[i].energy.total_pj();
    if (a.cycle_check) {
      auto s = hw::simulate_layer(c, nl.shape);
      if (!s) return mvq_cli::report(s.error());
      lj["cycle_stepped_cycles"] = s->cycles;
      if (s->cycles != k.cycles)
        return mvq_cli::report({errc::unsupported, "layer '" + nl.name + "': cycle-stepped model gave " +
                                                       std::to_string(s->cycles) + " cycles, analytic " +
                                                       std::to_string(k.cycles)});
    }
    per_layer.push_back(std::move(lj));
  }
  // MACs the PEs perform per PE-cycle (sparse arrays skip pruned weights, so dense MACs would exceed 100 %).
  const double util =
      cycles ? static_cast<double>(array_macs) / (static_cast<double>(cycles) * static_cast<double>(c.pes())) : 0;
  nlohmann::json j = {
      {"config", {{"file", a.config}, {"rows", c.rows}, {"cols", c.cols}, {"dataflow", std::string(hw::to_string(c.flow))},
                  {"pe", std::string(hw::to_string(c.pe))}, {"nm", mvq::to_string(c.pe_pattern())},
                  {"vq", c.pe == hw::pe_kind::vq_decode ? mvq::to_string(c.vq) : std::string("none")},
                  {"bandwidth", c.bandwidth == hw::interface_bandwidth::calc ? "CALC" : "USER"},
                  {"dram_words_per_cycle", c.dram_words_per_cycle}, {"wrf_depth", c.wrf_depth},
                  {"arf_depth", c.arf_depth}, {"prf_depth", c.prf_depth}, {"clock_mhz", c.clock_mhz}}},
      {"topology", topo_path},
      {"layers", layers->size()},
      {"total_cycles", cycles},
      {"stall_cycles", stalls},
      {"prefetch_cycles", prefetch},
      {"dense_macs", macs},
      {"array_macs", array_macs},
      {"utilization", util},
      {"sram_words", {{"ifmap_reads", sram[0]}, {"filter_reads", sram[1]}, {"ofmap_writes", sram[2]},
                      {"ofmap_reads", sram[3]}}},
      {"dram_words", {{"ifmap_reads", dram[0]}, {"filter_reads", dram[1]}, {"ofmap_writes", dram[2]}}},
      {"filter_bits", filter_bits},
      {"per_layer", per_layer}};
  if (!weights_note.empty()) j["weights"] = weights_note;
  if (have_energy) {
    j["energy"] = {{"table", a.table}, {"dram_row", a.dram}, {"total_uj", net.energy_uj()},
                   {"tops_per_watt", net.tops_per_watt()}, {"mac_pj", net.energy.mac_pj}, {"wrf_pj", net.energy.wrf_pj},
                   {"arf_pj", net.energy.arf_pj}, {"prf_pj", net.energy.prf_pj}, {"sram_pj", net.energy.sram_pj},
                   {"dram_pj", net.energy.dram_pj}, {"decoder_pj", net.energy.decoder_pj}, {"mux_pj", net.energy.mux_pj}};
    j["area_mm2"] = net.area.total_um2() * 1e-6;
    j["latency_ms"] = net.latency_ms();
  } else {
    j["energy"] = {{"error", energy_note}};
  }
  const auto json_path = std::filesystem::path(a.out) / "summary.json";
  {
    std::ofstream o(json_path);
    o << j.dump(2) << "\n";
    if (!o) return mvq_cli::report({errc::io_error, json_path.string() + ": write failed"});
  }
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("mvq emulate: %zu layers on %ux%u %s (%s PEs%s), %s\n", layers->size(), c.rows, c.cols,
                std::string(hw::to_string(c.flow)).c_str(), std::string(hw::to_string(c.pe)).c_str(),
                c.pe == hw::pe_kind::dense_mac ? "" : (", " + mvq::to_string(c.pe_pattern())).c_str(),
                c.bandwidth == hw::interface_bandwidth::calc ? "CALC" : "USER bandwidth");
    std::printf("  total cycles %llu (stalls %llu), utilization %.2f %%, %.3f GMACs\n",
                static_cast<unsigned long long>(cycles), static_cast<unsigned long long>(stalls), util * 100,
                static_cast<double>(macs) * 1e-9);
    std::printf("  SRAM words: ifmap %llu, filter %llu, ofmap %llu; DRAM words: %llu / %llu / %llu\n",
                static_cast<unsigned long long>(sram[0]), static_cast<unsigned long long>(sram[1]),
                static_cast<unsigned long long>(sram[2]), static_cast<unsigned long long>(dram[0]),
                static_cast<unsigned long long>(dram[1]), static_cast<unsigned long long>(dram[2]));
    if (have_energy)
      std::printf("  energy %.2f uJ/inference (%s), %.2f TOPS/W, array area %.3f mm2\n", net.energy_uj(), a.table.c_str(),
                  net.tops_per_watt(), net.area.total_um2() * 1e-6);
    else
      std::printf("  energy: not computed (%s)\n", energy_note.c_str());
    std::printf("  wrote %s/{COMPUTE_REPORT,BANDWIDTH_REPORT,DETAILED_ACCESS_REPORT,SPARSE_REPORT,MVQ_REPORT}.csv and "
                "summary.json (%.3f s)\n", a.out.c_str(), seconds);
  }
  return mvq_cli::exit_ok;
}

const mvq_cli::registrar reg([](CLI::App& app, int& exit_code) {
  auto args = std::make_shared<emulate_args>();
  auto* sub = app.add_subcommand("emulate", "Run a SCALE-Sim .cfg and topology CSV on the systolic-array emulator; "
                                            "write SCALE-Sim's reports and a JSON summary");
  sub->add_option("--config", args->config, "SCALE-Sim .cfg file")->required();
  sub->add_option("--topology", args->topology, "SCALE-Sim topology CSV (conv or GEMM form; default: the .cfg's)");
  sub->add_option("--dataflow", args->dataflow, "override the dataflow: ws, os, is, ews");
  sub->add_option("--nm", args->nm, "N:M sparse array, e.g. 2:4");
  sub->add_option("--vq", args->vq, "VQ weight loading 'K,d', e.g. 256,16");
  sub->add_option("--weights", args->weights, ".mvq.safetensors file: take K, d and N:M from its compressed layers");
  sub->add_option("--wrf", args->wrf, "EWS weight register file depth")->check(CLI::Range(1u, 1024u));
  sub->add_option("--arf", args->arf, "EWS activation register file depth")->check(CLI::Range(1u, 1024u));
  sub->add_option("--prf", args->prf, "EWS partial-sum register file depth")->check(CLI::Range(1u, 1024u));
  sub->add_option("--table", args->table, "energy/area table: accelergy_40nm, horowitz_45nm or a CSV file")
      ->capture_default_str();
  sub->add_option("--dram", args->dram, "DRAM row of the table")->capture_default_str();
  sub->add_flag("--gemm", args->gemm, "the topology is in GEMM form (default: detected from the header)");
  sub->add_flag("--cycle-check", args->cycle_check, "also run the cycle-stepped model and require equal cycles");
  sub->add_flag("--no-replay", args->no_replay,
                "skip the replay of SCALE-Sim's memory system (DRAM columns then come from this library's model)");
  sub->add_option("-o,--out", args->out, "output folder")->required();
  sub->add_flag("--json", args->json, "print the JSON summary instead of the text one");
  sub->callback([args, &exit_code] { exit_code = run_emulate(*args); });
});

}  // namespace
