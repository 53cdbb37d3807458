// Energy/area tables, the area and energy models, and the built-in topologies.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mvq/hw/accelerators.hpp"
#include "mvq/hw/area.hpp"
#include "mvq/hw/energy.hpp"
#include "mvq/hw/scalesim_io.hpp"
#include "mvq/hw/tables.hpp"
#include "mvq/hw/topologies.hpp"

namespace hw = mvq::hw;
using Catch::Matchers::Contains;

namespace {

std::string source_dir() {
  const char* s = std::getenv("MVQ_SOURCE_DIR");
  return s ? s : ".";
}

std::string read_text(std::filesystem::path const& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* good_table = R"(# a comment
component,bits,capacity_kb,energy_pj,area_um2,source
add,32,,0.1,100,"adder, 32 bit"
mult,8,,0.2,200,mult
reg,1,,0.01,5,reg
mux2,1,,0.002,2,mux
lzc,8,,0.03,30,lzc

sram,64,8,10,,s8
sram,64,1024,100,,s1m
dram,64,,1280,,dram
)";

std::string error_of(std::string_view text) {
  auto t = hw::parse_cost_table(text, "user.csv");
  REQUIRE_FALSE(t.has_value());
  return t.error().message;
}

}  // namespace

TEST_CASE("built-in tables equal the CSV files byte for byte", "[hw][tables]") {
  for (auto name : hw::builtin_table_names) {
    const auto path = std::filesystem::path(source_dir()) / "hw" / "tables" / (std::string(name) + ".csv");
    INFO(path.string());
    REQUIRE(std::filesystem::exists(path));
    CHECK(read_text(path) == std::string(hw::builtin_table_text(name)));
    auto from_file = hw::load_cost_table(path);
    REQUIRE(from_file.has_value());
    auto builtin = hw::builtin_table(name);
    REQUIRE(builtin.has_value());
    CHECK(from_file->entries == builtin->entries);
    for (auto const& e : builtin->entries) CHECK_FALSE(e.source.empty());  // every number is cited
  }
}

TEST_CASE("built-in tables hold the published anchor figures", "[hw][tables]") {
  auto h = hw::builtin_table("horowitz_45nm").value();
  auto row = [](hw::cost_table const& t, std::string_view c, std::uint32_t bits) {
    for (auto const* e : t.rows(c))
      if (e->bits == bits) return e->energy_pj;
    return -1.0;
  };
  CHECK(row(h, "add", 8) == 0.03);
  CHECK(row(h, "mult", 8) == 0.2);
  CHECK(row(h, "add", 32) == 0.1);
  CHECK(row(h, "mult", 32) == 3.1);
  CHECK(row(h, "fp32_mac", 32) == 4.6);
  auto a = hw::builtin_table("accelergy_40nm").value();
  CHECK(row(a, "add", 32) == 0.086);
  CHECK(row(a, "mult", 32) == 8.63);
  CHECK(row(a, "reg", 1) == 0.009);
  CHECK(row(a, "dram_lpddr4", 1) == 8);
  CHECK(row(a, "dram_ddr3", 1) == 70);
  CHECK(row(a, "dram_hbm2", 1) == 3.9);
  CHECK_FALSE(hw::builtin_table("nope").has_value());
  CHECK(hw::builtin_table("nope").error().code == mvq::errc::not_found);
}

TEST_CASE("table parser accepts comments, blank lines and quoted fields", "[hw][tables]") {
  auto t = hw::parse_cost_table(good_table, "user.csv");
  REQUIRE(t.has_value());
  REQUIRE(t->entries.size() == 8);
  CHECK(t->entries[0].source == "adder, 32 bit");
  CHECK(t->entries[0].line == 3);
  CHECK(t->entries[5].capacity_kb == 8.0);
  CHECK_FALSE(t->entries[6].area_um2.has_value());
  CHECK(t->rows("sram").size() == 2);
  // CRLF line ends are accepted
  std::string crlf;
  for (char ch : std::string(good_table)) {
    if (ch == '\n') crlf += '\r';
    crlf += ch;
  }
  auto t2 = hw::parse_cost_table(crlf, "crlf.csv");
  REQUIRE(t2.has_value());
  CHECK(t2->entries == t->entries);
}

TEST_CASE("table parser rejects bad rows naming file and line", "[hw][tables]") {
  const std::string hdr = "component,bits,capacity_kb,energy_pj,area_um2,source\n";
  CHECK_THAT(error_of(""), Contains("user.csv") && Contains("no header"));
  CHECK_THAT(error_of(hdr), Contains("no rows"));
  CHECK_THAT(error_of("name,bits\nadd,8,,1,,x\n"), Contains("line 1") && Contains("header"));
  CHECK_THAT(error_of(hdr + "add,8,,1,x\n"), Contains("user.csv") && Contains("line 2") && Contains("6 fields"));
  CHECK_THAT(error_of(hdr + "add,8,,abc,,x\n"), Contains("line 2") && Contains("energy_pj 'abc'"));
  CHECK_THAT(error_of(hdr + "add,8,,-1,,x\n"), Contains("energy_pj"));
  CHECK_THAT(error_of(hdr + "add,8,,nan,,x\n"), Contains("energy_pj"));
  CHECK_THAT(error_of(hdr + "add,8,,inf,,x\n"), Contains("energy_pj"));
  CHECK_THAT(error_of(hdr + "add,0,,1,,x\n"), Contains("bits"));
  CHECK_THAT(error_of(hdr + "add,7.5,,1,,x\n"), Contains("bits"));
  CHECK_THAT(error_of(hdr + "add,8,,1,-3,x\n"), Contains("area_um2"));
  CHECK_THAT(error_of(hdr + "Add,8,,1,,x\n"), Contains("component 'Add'"));
  CHECK_THAT(error_of(hdr + ",8,,1,,x\n"), Contains("component"));
  CHECK_THAT(error_of(hdr + "sram,64,,1,,x\n"), Contains("needs capacity_kb"));
  CHECK_THAT(error_of(hdr + "sram,64,0,1,,x\n"), Contains("capacity_kb"));
  CHECK_THAT(error_of(hdr + "add,8,4,1,,x\n"), Contains("only allowed on sram"));
  CHECK_THAT(error_of(hdr + "add,8,,1,,\"x\n"), Contains("quote"));
  CHECK_THAT(error_of(hdr + "add,8,,1,,x\n# c\nadd,8,,2,,y\n"), Contains("line 4") && Contains("duplicate") &&
                                                                      Contains("line 2"));
  auto missing = hw::load_cost_table("/nonexistent/dir/t.csv");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == mvq::errc::io_error);
}

TEST_CASE("resolve scales rows by width and interpolates SRAM", "[hw][tables]") {
  auto t = hw::builtin_table("accelergy_40nm").value();
  hw::technology_params p;  // 8-bit operands, 32-bit accumulator, M = 4, 64 kB SRAMs
  auto tech = hw::resolve(t, p).value();
  CHECK(tech.mult.energy_pj == Approx(8.63 / 16));      // (8/32)² of the 32-bit multiplier
  CHECK(tech.mult.area_um2 == Approx(4600.0 / 16));
  CHECK(tech.add.energy_pj == Approx(0.086));
  CHECK(tech.add.area_um2 == Approx(179.0));
  CHECK(tech.reg_bit.energy_pj == Approx(0.009));
  CHECK(tech.reg_bit.area_um2 == Approx(5.98));
  CHECK(tech.lzc.energy_pj == Approx(0.0215 * (4 * 2.0) / (8 * 3.0)));  // w·log2 w scaling
  CHECK(tech.dram_pj_per_bit == Approx(8.0));
  // 64 kB between 32 kB (20 pJ) and 1 MB (100 pJ) on a log-log line
  const double e64 = std::exp(std::log(20.0) + (std::log(100.0) - std::log(20.0)) * std::log(2.0) / std::log(32.0));
  CHECK(tech.ifmap_sram_pj_per_bit == Approx(e64 / 64));
  p.ifmap_sram_kb = 8;
  p.filter_sram_kb = 32;
  p.ofmap_sram_kb = 1024;
  tech = hw::resolve(t, p).value();
  CHECK(tech.ifmap_sram_pj_per_bit == Approx(10.0 / 64));
  CHECK(tech.filter_sram_pj_per_bit == Approx(20.0 / 64));
  CHECK(tech.ofmap_sram_pj_per_bit == Approx(100.0 / 64));
  p.ifmap_sram_kb = 4;  // extrapolated below the smallest row along the first segment: 10 · (1/2)^(1/2)
  tech = hw::resolve(t, p).value();
  CHECK(tech.ifmap_sram_pj_per_bit == Approx(10.0 * std::sqrt(0.5) / 64));
  // nearest-width rows: Horowitz has 8- and 32-bit rows; 16 bits is nearer 8 (distance 8 vs 16)
  auto h = hw::builtin_table("horowitz_45nm").value();
  p = {};
  p.operand_bits = 16;
  p.accumulator_bits = 32;
  tech = hw::resolve(h, p).value();
  CHECK(tech.mult.energy_pj == Approx(0.2 * 4));
  CHECK(tech.add.energy_pj == Approx(0.1));
  p.dram = "dram_low";
  CHECK(hw::resolve(h, p).value().dram_pj_per_bit == Approx(1300.0 / 64));
  p.dram = "dram_nope";
  auto bad = hw::resolve(h, p);
  REQUIRE_FALSE(bad.has_value());
  CHECK_THAT(bad.error().message, Contains("dram_nope"));
  // a user table without a needed component
  auto partial = hw::parse_cost_table("component,bits,capacity_kb,energy_pj,area_um2,source\nadd,8,,1,,x\n", "p.csv");
  REQUIRE(partial.has_value());
  auto r = hw::resolve(*partial, {});
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Contains("p.csv") && Contains("'mult'"));
}

namespace {
hw::technology unit_tech() {
  hw::technology t;
  t.mult = {1.0, 100.0};
  t.add = {0.5, 10.0};
  t.reg_bit = {0.01, 1.0};
  t.mux2_bit = {0.001, 0.5};
  t.lzc = {0.02, 7.0};
  t.ifmap_sram_pj_per_bit = 0.1;
  t.filter_sram_pj_per_bit = 0.2;
  t.ofmap_sram_pj_per_bit = 0.3;
  t.dram_pj_per_bit = 10;
  return t;
}
}  // namespace

TEST_CASE("area model, hand-checked on small arrays", "[hw][area]") {
  const auto t = unit_tech();
  // 2×3 WS, 8-bit operands, 32-bit accumulator: per PE 100 + 10 (MAC) + 8 + 8 + 32 register bits
  hw::array_config ws{.rows = 2, .cols = 3};
  auto a = hw::array_area(ws, t).value();
  CHECK(a.mac_um2 == Approx(6 * 110.0));
  CHECK(a.wrf_um2 == Approx(6 * 8.0));
  CHECK(a.arf_um2 == Approx(6 * 8.0));
  CHECK(a.prf_um2 == Approx(6 * 32.0));
  CHECK(a.act_mux_um2 == 0);
  CHECK(a.codebook_rf_um2 == 0);
  CHECK(a.decoder_um2 == 0);
  CHECK(a.total_um2() == Approx(6 * (110.0 + 48.0)));
  // the same array as EWS with depths 2/3/4: D·b register bits + (D−1)·b mux bits
  hw::array_config ews = ws;
  ews.flow = hw::dataflow::enhanced_weight_stationary;
  ews.wrf_depth = 2;
  ews.arf_depth = 3;
  ews.prf_depth = 4;
  a = hw::array_area(ews, t).value();
  CHECK(a.wrf_um2 == Approx(6 * (2 * 8 * 1.0 + 1 * 8 * 0.5)));
  CHECK(a.arf_um2 == Approx(6 * (3 * 8 * 1.0 + 2 * 8 * 0.5)));
  CHECK(a.prf_um2 == Approx(6 * (4 * 32 * 1.0 + 3 * 32 * 0.5)));
  // depths are ignored (one register each) on a WS array
  hw::array_config ws_deep = ews;
  ws_deep.flow = hw::dataflow::weight_stationary;
  CHECK(hw::array_area(ws_deep, t).value().total_um2() == Approx(hw::array_area(ws, t).value().total_um2()));
  // S2TA-like 2:4: + 3 mux bits × 8 + 2 select bits per PE; one LZC per column
  hw::array_config s2 = ws;
  s2.pe = hw::pe_kind::sparse_nm;
  s2.nm = {2, 4};
  a = hw::array_area(s2, t).value();
  CHECK(a.act_mux_um2 == Approx(6 * (3 * 8 * 0.5 + 2 * 1.0)));
  CHECK(a.decoder_um2 == Approx(3 * 7.0));
  // MVQ: K = 4, d = 4, 2:4 → Q = 2, lanes ⌈3/2⌉ = 2; codebook 4·4·8 register bits;
  // lane = K:1 mux of d·w bits (3·32 mux bits) + Q·(LZC + 3·8 mux bits)
  hw::array_config mvq = s2;
  mvq.pe = hw::pe_kind::vq_decode;
  mvq.vq = {4, 4};
  REQUIRE(hw::pes_per_subvector(mvq) == 2);
  REQUIRE(hw::decode_lanes(mvq) == 2);
  a = hw::array_area(mvq, t).value();
  CHECK(a.codebook_rf_um2 == Approx(4 * 4 * 8 * 1.0));
  CHECK(a.decoder_um2 == Approx(2 * (3 * 32 * 0.5 + 2 * (7.0 + 3 * 8 * 0.5))));
  CHECK(a.act_mux_um2 == Approx(6 * (3 * 8 * 0.5 + 2 * 1.0)));
  // dense VQ: Q = d, no mask decoder
  hw::array_config vq = ws;
  vq.pe = hw::pe_kind::vq_decode;
  vq.vq = {4, 4};
  a = hw::array_area(vq, t).value();
  CHECK(hw::decode_lanes(vq) == 1);
  CHECK(a.decoder_um2 == Approx(3 * 32 * 0.5));
  CHECK(a.act_mux_um2 == 0);
  // invalid configuration → error
  hw::array_config bad = ws;
  bad.rows = 0;
  CHECK_FALSE(hw::array_area(bad, t).has_value());
}

TEST_CASE("energy breakdown prices events and sums to the total", "[hw][energy]") {
  const auto t = unit_tech();
  hw::array_config c{.rows = 4, .cols = 4, .pe = hw::pe_kind::vq_decode, .nm = {2, 4}, .vq = {16, 4}};
  hw::layer_events ev;
  ev.macs = 100;
  ev.dense_macs = 200;
  ev.wrf_bits = 10;
  ev.arf_bits = 20;
  ev.prf_bits = 30;
  ev.ifmap_sram_bits = 40;
  ev.filter_sram_bits = 50;
  ev.ofmap_sram_bits = 60;
  ev.dram_bits = 70;
  ev.act_mux_selects = 80;
  ev.codewords_decoded = 5;
  ev.kept_values_decoded = 10;
  ev.lzc_ops = 10;
  ev.codebook_write_bits = 7;
  const auto e = hw::price(ev, c, t);
  CHECK(e.mac_pj == Approx(150.0));
  CHECK(e.wrf_pj == Approx(0.1));
  CHECK(e.arf_pj == Approx(0.2));
  CHECK(e.prf_pj == Approx(0.3));
  CHECK(e.sram_pj == Approx(4 + 10 + 18.0));
  CHECK(e.dram_pj == Approx(700.0));
  // codeword read: d·w register bits + log2 K mux levels of d·w bits
  const double codeword = 4 * 8 * (0.01 + 4 * 0.001);
  CHECK(e.decoder_pj == Approx(5 * codeword + 10 * 0.02 + 7 * 0.01 + 10 * 3 * 8 * 0.001));
  CHECK(e.mux_pj == Approx(80 * 3 * 8 * 0.001));
  double sum = 0;
  for (double x : hw::components(e)) sum += x;
  CHECK(e.total_pj() == Approx(sum));
  CHECK(hw::tops_per_watt(200, e.total_pj()) == Approx(400.0 / e.total_pj()));
  CHECK(hw::tops_per_watt(200, 0) == 0);
}

TEST_CASE("events from the analytic model", "[hw][energy]") {
  const auto layer = hw::layer::gemm(100, 40, 64);  // M, N, K
  hw::array_config ws{.rows = 16, .cols = 16};
  const auto lc = hw::analyze(ws, layer);
  const auto ev = hw::make_events(ws, layer, lc);
  CHECK(ev.macs == 100u * 40 * 64);
  CHECK(ev.dense_macs == ev.macs);
  CHECK(ev.cycles == lc.total_cycles());
  CHECK(ev.wrf_bits == (ev.macs + 64u * 40) * 8);
  CHECK(ev.prf_bits == 2 * ev.macs * 32);
  CHECK(ev.ifmap_sram_bits == (lc.ifmap_sram_reads + lc.ifmap_dram_reads) * 8);
  CHECK(ev.dram_bits == (lc.ifmap_dram_reads + lc.filter_dram_reads + lc.ofmap_dram_writes) * 8);
  CHECK(hw::stored_bits_per_kept_weight(layer, lc) == Approx(8.0));
  CHECK(ev.codewords_decoded == 0);
  CHECK(ev.act_mux_selects == 0);

  // 2:4 sparse halves the MACs the PEs perform, not the work delivered
  hw::array_config sp = ws;
  sp.pe = hw::pe_kind::sparse_nm;
  sp.nm = {2, 4};
  const auto lcs = hw::analyze(sp, layer);
  const auto evs = hw::make_events(sp, layer, lcs);
  CHECK(evs.macs == ev.macs / 2);
  CHECK(evs.dense_macs == ev.dense_macs);
  CHECK(evs.act_mux_selects == evs.macs);
  CHECK(evs.lzc_ops == 64u / 4 * 40 * 2);                              // N per mask group
  CHECK(hw::stored_bits_per_kept_weight(layer, lcs) == Approx(8.0 + 4.0 / 2));  // value + bitmap share

  // MVQ: K = 256, d = 16, 2:4 → (8 + 16) / 8 = 3 bits per kept weight; one codebook read per sub-vector
  hw::array_config mv = sp;
  mv.pe = hw::pe_kind::vq_decode;
  mv.vq = {256, 16};
  const auto lcm = hw::analyze(mv, layer);
  const auto evm = hw::make_events(mv, layer, lcm);
  CHECK(hw::stored_bits_per_kept_weight(layer, lcm) == Approx(3.0));
  CHECK(evm.codewords_decoded == 64u / 16 * 40);
  CHECK(evm.kept_values_decoded == 64u / 4 * 40 * 2);
  CHECK(evm.codebook_write_bits == lcm.codebook_bits);
  // The codebook is K full d-wide codewords (hw::codebook_bits), loaded once per layer through DRAM.
  CHECK(lcm.codebook_bits == 256u * 16 * 8);
  CHECK(lcm.codebook_bits == hw::codebook_bits(mv));
  // Filter SRAM reads (without the DRAM fill, which on this 2560-weight layer is dominated by the 32 kbit
  // codebook): 3 bits per kept weight against S2TA's 10.
  CHECK(evm.filter_sram_bits - lcm.filter_dram_reads * 8 < evs.filter_sram_bits - lcs.filter_dram_reads * 8);

  // priced: sum of components, and the sparse array spends less on MACs
  auto tech = hw::resolve(hw::builtin_table("accelergy_40nm").value(), hw::technology_params_for(ws)).value();
  const auto e = hw::price(ev, ws, tech);
  const auto es = hw::price(evs, sp, tech);
  CHECK(es.mac_pj == Approx(e.mac_pj / 2));
  CHECK(es.mux_pj > 0);
  CHECK(e.mux_pj == 0);
  CHECK(hw::layer_energy(ws, layer, tech).total_pj() == Approx(e.total_pj()));
}

TEST_CASE("built-in topologies match the published layer counts and MACs", "[hw][topologies]") {
  struct expect {
    std::string_view name;
    std::size_t layers;
    double gmacs;  // from the papers / torchvision model statistics
  };
  // ResNet-18 1.82 G, ResNet-50 4.09 G (torchvision), VGG-16 15.47 G, MobileNet-V2 300 M (Sandler et al.:
  // "300M multiply-adds"), AlexNet 0.71 G (torchvision), DiT-XL/2 118.6 GFLOPs / 28 blocks (Peebles & Xie).
  const expect table[] = {{"resnet18", 21, 1.814}, {"resnet50", 54, 4.089}, {"vgg16", 16, 15.47},
                          {"mobilenet_v2", 53, 0.300}, {"alexnet", 8, 0.714}, {"dit_xl2_block", 7, 118.6 / 28}};
  for (auto const& x : table) {
    INFO(x.name);
    auto const* t = hw::find_builtin_topology(x.name);
    REQUIRE(t != nullptr);
    CHECK(t->rows.size() == x.layers);
    CHECK(static_cast<double>(hw::total_macs(t->rows)) / 1e9 == Approx(x.gmacs).epsilon(0.01));
    for (auto const& r : t->rows) {
      INFO(r.name);
      CHECK(*hw::check(r.shape) == '\0');
    }
  }
  CHECK(hw::find_builtin_topology("resnet1000") == nullptr);
  // output sizes at stage boundaries
  auto const& r18 = hw::detail::topo::resnet18;
  CHECK(r18[0].shape.ofmap_h() == 112);
  CHECK(r18[5].shape.ofmap_h() == 28);
  CHECK(r18[7].shape.ofmap_h() == 28);  // projection shortcut matches its block
  CHECK(r18[19].shape.ofmap_h() == 7);
  CHECK(hw::detail::topo::alexnet[0].shape.ofmap_h() == 55);
  CHECK(hw::detail::topo::mobilenet_v2[51].shape.ofmap_h() == 7);
  CHECK(hw::detail::topo::mobilenet_v2[51].shape.channels == 320);
  static_assert(hw::total_macs(hw::detail::topo::vgg16) == 15'470'264'320ull);
  // repeats expand to named layers
  auto dit = hw::to_named_layers(hw::detail::topo::dit_xl2_block);
  CHECK(dit.size() == 5 + 2 * 16);
  CHECK(dit[2].name == "attn.q_kT.h0");
}

TEST_CASE("layers without prunable weights run dense on sparse designs", "[hw][energy][designs]") {
  auto designs = hw::comparison_designs(64, 64, {256, 16}, {2, 4}).value();
  CHECK(designs[3].config.rows == 32);
  CHECK(designs[4].config.rows == 32);
  CHECK(designs[3].config.pe == hw::pe_kind::vq_decode);
  CHECK(designs[4].config.pe == hw::pe_kind::sparse_nm);
  CHECK_FALSE(hw::comparison_designs(64, 64, {256, 16}, {}).has_value());
  CHECK_FALSE(hw::comparison_designs(6, 64, {256, 16}, {1, 4}).has_value());  // 6·1/4 is not whole
  auto table = hw::builtin_table("accelergy_40nm").value();
  auto const& mvq_c = designs[3].config;
  auto tech = hw::resolve(table, hw::technology_params_for(mvq_c)).value();
  const std::vector<hw::named_layer> layers{{"attn", hw::layer::gemm(256, 256, 72)},
                                            {"dw", hw::layer::depthwise_conv(14, 14, 3, 3, 64, 1, 1)},
                                            {"fc", hw::layer::gemm(256, 1152, 1152)}};
  const std::vector<std::uint8_t> prunable{0, 1, 1};
  auto r = hw::evaluate_network(mvq_c, layers, tech, prunable).value();
  CHECK(r.layers[0].events.macs == layers[0].shape.macs());  // attention: no pruning, no decoding
  CHECK(r.layers[0].events.codewords_decoded == 0);
  CHECK(r.layers[0].events.act_mux_selects == 0);
  CHECK(r.layers[1].events.macs == layers[1].shape.macs());  // depthwise is never pruned
  CHECK(r.layers[2].events.macs == layers[2].shape.macs() / 2);
  CHECK(r.layers[2].events.codewords_decoded == 1152u / 16 * 1152);
  CHECK(r.dense_macs == layers[0].shape.macs() + layers[1].shape.macs() + layers[2].shape.macs());
  double sum = 0;
  for (auto const& l : r.layers) sum += l.energy.total_pj();
  CHECK(r.energy.total_pj() == Approx(sum));
  CHECK(r.area.total_um2() == Approx(hw::array_area(mvq_c, tech).value().total_um2()));
  // without flags every non-depthwise layer is pruned
  auto all = hw::evaluate_network(mvq_c, layers, tech).value();
  CHECK(all.layers[0].events.macs == layers[0].shape.macs() / 2);
  CHECK_FALSE(hw::evaluate_network(mvq_c, layers, tech, std::vector<std::uint8_t>{1}).has_value());
}

TEST_CASE("hw/topologies/*.csv are the built-in topologies in SCALE-Sim form", "[hw][topologies]") {
  for (auto const& t : hw::builtin_topologies) {
    INFO(t.name);
    const auto path = std::filesystem::path(source_dir()) / "hw" / "topologies" / (std::string(t.name) + ".csv");
    REQUIRE(std::filesystem::exists(path));
    const std::string text = hw::to_scalesim_csv(t.rows);
    CHECK(read_text(path) == text);
    auto parsed = hw::parse_topology_csv(text, path.string());
    REQUIRE(parsed.has_value());
    const auto expanded = hw::to_named_layers(t.rows);
    REQUIRE(parsed->size() == expanded.size());
    std::uint64_t macs = 0;
    for (std::size_t i = 0; i < expanded.size(); ++i) {
      INFO(expanded[i].name);
      auto const& a = expanded[i].shape;
      auto const& b = (*parsed)[i].shape;
      CHECK(hw::to_gemm(a) == hw::to_gemm(b));  // same M, N, K and groups under SCALE-Sim's convention
      CHECK(a.ofmap_h() == b.ofmap_h());
      CHECK(a.ofmap_w() == b.ofmap_w());
      CHECK((a.kind == hw::layer_kind::depthwise) == (b.kind == hw::layer_kind::depthwise));
      macs += b.macs();
    }
    CHECK(macs == hw::total_macs(t.rows));
  }
}

TEST_CASE("table parser on mutated input: an error or a table that satisfies the format", "[hw][tables]") {
  const std::string base(hw::builtin_table_text("horowitz_45nm"));
  std::mt19937_64 rng(20240513);
  const char alphabet[] = ",\"\n\r#-.e0123456789 aZ_\t";
  std::size_t ok = 0, errors = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        case 1: if (pos < text.size()) text.erase(pos, 1); break;
        default: if (pos < text.size()) text[pos] = alphabet[rng() % (sizeof alphabet - 1)]; break;
      }
    }
    auto t = hw::parse_cost_table(text, "mutated.csv");
    if (!t) {
      ++errors;
      CHECK_THAT(t.error().message, Contains("mutated.csv"));
      continue;
    }
    ++ok;
    for (auto const& e : t->entries) {
      CHECK(e.bits >= 1);
      CHECK(e.bits <= 4096);
      CHECK(std::isfinite(e.energy_pj));
      CHECK(e.energy_pj >= 0);
      CHECK(e.capacity_kb.has_value() == (e.component == "sram"));
      if (e.area_um2) CHECK(*e.area_um2 >= 0);
    }
  }
  CHECK(ok > 0);      // some mutations stay valid (comments, sources)
  CHECK(errors > 0);  // and some are caught
}

TEST_CASE("register-file events follow the dataflow's stationary operand", "[hw][energy]") {
  const auto layer = hw::layer::gemm(100, 40, 64);  // M, N, K
  for (auto flow : {hw::dataflow::weight_stationary, hw::dataflow::input_stationary,
                    hw::dataflow::output_stationary, hw::dataflow::enhanced_weight_stationary}) {
    hw::array_config c{.rows = 16, .cols = 8, .flow = flow, .wrf_depth = 2, .arf_depth = 2, .prf_depth = 2};
    INFO(hw::to_string(flow));
    const auto lc = hw::analyze(c, layer);
    const auto ev = hw::make_events(c, layer, lc);
    const std::uint64_t macs = ev.macs, cols_used = std::min<std::uint64_t>(lc.map.sc, 8),
                        rows_used = std::min<std::uint64_t>(lc.map.sr, 16);
    auto capped = [&](std::uint64_t x, std::uint64_t loaded) { return std::min(x, std::max(macs, loaded)); };
    std::uint64_t wrf_w = lc.wrf_writes, arf_w = lc.ifmap_sram_reads;
    if (flow == hw::dataflow::input_stationary) wrf_w *= cols_used;
    else arf_w *= cols_used;
    if (flow == hw::dataflow::output_stationary) wrf_w *= rows_used;
    CHECK(ev.wrf_bits == (macs + capped(wrf_w, lc.wrf_writes)) * 8);
    CHECK(ev.arf_bits == (macs + capped(arf_w, lc.ifmap_sram_reads)) * 8);
    CHECK(ev.prf_bits == 2 * macs * 32);
    // a stationary operand is written once per word loaded, a streamed one more often
    if (flow == hw::dataflow::input_stationary) CHECK(ev.arf_bits == (macs + lc.ifmap_sram_reads) * 8);
    if (flow == hw::dataflow::weight_stationary) CHECK(ev.wrf_bits == (macs + lc.wrf_writes) * 8);
  }
}
