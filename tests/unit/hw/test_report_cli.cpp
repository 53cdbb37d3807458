// `mvq report`: runs the CLI (path in $MVQ_CLI, set by ctest) and checks that the numbers it prints and writes
// are the library's model: the same designs evaluated here give the same cycles, energy, TOPS/W and area.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "models.hpp"
#include "mvq/hw/accelerators.hpp"
#include "mvq/hw/tables.hpp"
#include "mvq/hw/topologies.hpp"

namespace hw = mvq::hw;

namespace {
std::string read_text(std::filesystem::path const& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string two_decimals(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}
}  // namespace

TEST_CASE("mvq report prints and writes the library's model", "[hw][report][cli]") {
  const char* cli = std::getenv("MVQ_CLI");
  if (!cli || !*cli) {
    WARN("MVQ_CLI is not set: the mvq CLI is not built, nothing to check");
    return;
  }
  const auto dir = mvq_test::scratch_dir("report");
  const auto out = dir / "out";
  const std::string cmd = std::string("\"") + cli + "\" report --json --sample 64 --iters 3 --rows 32 --cols 16 -o \"" +
                          out.string() + "\" > \"" + (dir / "stdout.txt").string() + "\" 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string printed = read_text(dir / "stdout.txt");
  INFO(printed);
  REQUIRE(std::filesystem::exists(out / "energy_breakdown.svg"));
  auto j = nlohmann::json::parse(read_text(out / "report.json"), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());

  // the same evaluation through the library
  auto designs = hw::comparison_designs(32, 16, {256, 16}, {2, 4}).value();
  auto table = hw::builtin_table(hw::default_table_name).value();
  auto layers = hw::to_named_layers(hw::find_builtin_topology("resnet18")->rows);
  REQUIRE(j["designs"].size() == hw::design_count);
  double tops[hw::design_count] = {};
  double area[hw::design_count] = {};
  for (std::size_t i = 0; i < hw::design_count; ++i) {
    auto tech = hw::resolve(table, hw::technology_params_for(designs[i].config)).value();
    auto r = hw::evaluate_network(designs[i].config, layers, tech).value();
    auto const& d = j["designs"][i];
    INFO(designs[i].label);
    CHECK(d["key"] == std::string(designs[i].key));
    CHECK(d["rows"].get<std::uint32_t>() == designs[i].config.rows);
    CHECK(d["cycles"].get<std::uint64_t>() == r.cycles);
    CHECK(d["energy_pj"]["total"].get<double>() == Approx(r.energy.total_pj()).epsilon(1e-12));
    CHECK(d["energy_pj"]["mac"].get<double>() == Approx(r.energy.mac_pj).epsilon(1e-12));
    CHECK(d["tops_per_watt"].get<double>() == Approx(r.tops_per_watt()).epsilon(1e-12));
    CHECK(d["area_um2"]["total"].get<double>() == Approx(r.area.total_um2()).epsilon(1e-12));
    REQUIRE(d["layers"].size() == layers.size());
    CHECK(d["layers"][0]["cycles"].get<std::uint64_t>() == r.layers[0].events.cycles);
    // the printed table carries the same numbers
    CHECK_THAT(printed, Catch::Matchers::Contains(std::to_string(r.cycles)));
    CHECK_THAT(printed, Catch::Matchers::Contains(two_decimals(r.energy_uj())));
    tops[i] = r.tops_per_watt();
    area[i] = r.area.total_um2();
  }
  CHECK(j["ratios"]["mvq_vs_ews_energy_efficiency"].get<double>() == Approx(tops[3] / tops[1]));
  CHECK(j["ratios"]["mvq_vs_s2ta_energy_efficiency"].get<double>() == Approx(tops[3] / tops[4]));
  CHECK(j["ratios"]["mvq_area_reduction_vs_ews"].get<double>() == Approx(1 - area[3] / area[1]));
  CHECK_THAT(printed, Catch::Matchers::Contains(two_decimals(tops[3] / tops[1]) + "x"));
  // weights: every ResNet-18 layer but conv1 (K = 147 is not a multiple of 16) is compressed
  REQUIRE(j["weights"].size() == 21);
  CHECK(j["weights"][0]["compressed"] == false);
  for (std::size_t i = 1; i < 21; ++i) CHECK(j["weights"][i]["compressed"] == true);
  std::filesystem::remove_all(dir);
}

TEST_CASE("mvq report rejects bad arguments", "[hw][report][cli]") {
  const char* cli = std::getenv("MVQ_CLI");
  if (!cli || !*cli) return;
  const auto dir = mvq_test::scratch_dir("report_bad");
  auto run = [&](std::string const& args) {
    const std::string cmd = std::string("\"") + cli + "\" report " + args + " -o \"" + (dir / "o").string() +
                            "\" > \"" + (dir / "err.txt").string() + "\" 2>&1";
    return std::system(cmd.c_str());
  };
  CHECK(run("--topology resnet1000") != 0);
  CHECK_THAT(read_text(dir / "err.txt"), Catch::Matchers::Contains("resnet1000"));
  CHECK(run("--nm 3:2") != 0);
  CHECK(run("--table /nonexistent.csv") != 0);
  CHECK_THAT(read_text(dir / "err.txt"), Catch::Matchers::Contains("nonexistent.csv"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("mvq report reads SCALE-Sim topology CSVs", "[hw][report][cli]") {
  const char* cli = std::getenv("MVQ_CLI");
  if (!cli || !*cli) return;
  const auto dir = mvq_test::scratch_dir("report_csv");
  const auto csv = mvq_test::source_dir() / "hw" / "topologies" / "mobilenet_v2.csv";
  const std::string cmd = std::string("\"") + cli + "\" report --json --sample 64 --iters 2 --topology \"" +
                          csv.string() + "\" -o \"" + (dir / "o").string() + "\" > \"" + (dir / "log.txt").string() +
                          "\" 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto j = nlohmann::json::parse(read_text(dir / "o" / "report.json"), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["topology"] == "mobilenet_v2");
  CHECK(j["dense_macs"].get<std::uint64_t>() == hw::total_macs(hw::find_builtin_topology("mobilenet_v2")->rows));
  // depthwise layers are kept at int8 and run dense on the sparse designs
  std::size_t depthwise = 0;
  for (auto const& w : j["weights"])
    if (w["compressed"] == false && w["why"].get<std::string>().find("depthwise") != std::string::npos) ++depthwise;
  CHECK(depthwise == 17);
  std::filesystem::remove_all(dir);
}
