// SCALE-Sim compatibility: parsers, bad input, report formats, and golden values measured by running SCALE-Sim v2
// (Python 3.11, CALC mode, 64 kB SRAMs) on the topologies below.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mvq/hw/scalesim_io.hpp"
#include "models.hpp"

using namespace mvq::hw;

namespace {

constexpr std::string_view gemm_csv = "Layer, M, N, K,\nG1, 256, 128, 256,\n";
constexpr std::string_view gemm_small_csv = "Layer, M, N, K,\nG1, 40, 21, 19,\nG2, 5, 3, 7,\nG3, 100, 9, 33,\n";
constexpr std::string_view conv_csv =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "C1, 23, 19, 5, 3, 3, 10, 3,\nC2, 12, 12, 3, 3, 4, 7, 2,\nDP3, 9, 9, 3, 3, 3, 1, 2,\nC4, 8, 10, 1, 1, 16, 20, 1,\n";

struct golden_row {
  const char* topo;
  std::uint32_t rows, cols;
  const char* flow;
  int layer_id;
  std::uint64_t total_cycles;
  double overall, mapping, compute;
  std::int64_t detailed[18];  // DETAILED_ACCESS_REPORT columns 2..19 (SRAM and DRAM start, stop, count)
};

// SCALE-Sim v2 COMPUTE_REPORT (LayerID, Total Cycles, Overall/Mapping/Compute %) and DETAILED_ACCESS_REPORT, one
// row per report line (DP3 is split into its 3 channels, as SCALE-Sim does).
const golden_row golden[] = {
    {"gemm", 32, 32, "ws", 0, 11199, 73.14938833824449, 100.0, 67.19160104986877, {33, 11169, 262144, 1, 10882, 32768, 63, 11199, 262144, -3243, 11153, 262144, -3275, 10882, 32768, 1463, 12223, 262175}},
    {"gemm", 32, 32, "os", 0, 10175, 80.51105651105651, 100.0, 80.50314465408805, {1, 10145, 262144, 1, 10145, 262144, 255, 10175, 34816, -3275, 10129, 262144, -3275, 7914, 40942, 10175, 11198, 32768}},
    {"gemm", 32, 32, "is", 0, 14207, 57.66171605546562, 100.0, 50.59288537549411, {1, 14018, 65536, 33, 14177, 262144, 63, 14207, 262144, -3275, 14017, 65536, -3243, 14161, 262144, 1839, 15231, 262175}},
    {"gemm_small", 16, 8, "ws", 0, 467, 26.699678800856532, 51.953125, 24.448529411764707, {17, 448, 2280, 1, 406, 399, 31, 464, 1680, -131, -1, 760, -66, -1, 399, 467, 676, 1680}},
    {"gemm_small", 16, 8, "ws", 1, 42, 1.953125, 16.40625, 1.640625, {17, 27, 35, 10, 16, 21, 31, 37, 15, -66, -1, 35, -66, -1, 21, 42, 43, 15}},
    {"gemm_small", 16, 8, "ws", 2, 827, 28.056983071342202, 38.671875, 26.67025862068966, {17, 806, 6600, 1, 706, 297, 31, 820, 2700, -393, -1, 3300, -66, -1, 297, 827, 1164, 2700}},
    {"gemm_small", 8, 12, "os", 0, 369, 45.05420054200542, 87.5, 44.93243243243243, {1, 359, 1520, 1, 360, 1995, 18, 366, 1040, -131, -1, 760, -66, -1, 399, 369, 438, 840}},
    {"gemm_small", 8, 12, "os", 1, 24, 4.557291666666667, 15.625, 4.375, {1, 11, 35, 1, 9, 21, 9, 15, 35, -66, -1, 35, -66, -1, 21, 24, 25, 15}},
    {"gemm_small", 8, 12, "os", 2, 662, 46.733383685800604, 72.11538461538461, 46.6628959276018, {1, 648, 3300, 1, 653, 3861, 32, 659, 1160, -393, -1, 3300, -66, -1, 297, 662, 736, 900}},
    {"gemm_small", 12, 8, "is", 0, 509, 32.66208251473478, 79.16666666666666, 28.663793103448278, {1, 471, 760, 13, 498, 1995, 23, 509, 1680, -131, -1, 760, -66, -1, 399, 509, 718, 1680}},
    {"gemm_small", 12, 8, "is", 1, 32, 3.41796875, 36.45833333333333, 2.734375, {6, 12, 35, 13, 21, 21, 23, 29, 15, -66, -1, 35, -66, -1, 21, 32, 33, 15}},
    {"gemm_small", 12, 8, "is", 2, 1520, 20.35361842105263, 88.14102564102564, 17.24498327759198, {1, 1494, 3300, 13, 1511, 3861, 23, 1516, 2700, -393, -1, 3300, -66, -1, 297, 1520, 1857, 2700}},
    {"gemm_small", 32, 32, "ws", 0, 133, 11.71875, 38.96484375, 9.446022727272728, {33, 90, 760, 14, 32, 399, 63, 122, 840, -131, -1, 760, -66, -1, 399, 133, 159, 840}},
    {"gemm_small", 32, 32, "ws", 1, 98, 0.10463169642857142, 2.05078125, 0.07887620192307693, {33, 43, 35, 26, 32, 21, 63, 69, 15, -66, -1, 35, -66, -1, 21, 98, 98, 15}},
    {"gemm_small", 32, 32, "ws", 2, 387, 7.4945494186046515, 14.501953125, 6.4453125, {33, 326, 3300, 1, 226, 297, 63, 364, 1800, -393, -1, 3300, -66, -1, 297, 387, 443, 1800}},
    {"gemm_small", 32, 32, "os", 0, 161, 9.68070652173913, 41.015625, 9.620949074074073, {1, 107, 760, 1, 120, 798, 18, 150, 968, -131, -1, 760, -66, -1, 399, 161, 187, 840}},
    {"gemm_small", 32, 32, "os", 1, 68, 0.15079273897058823, 1.46484375, 0.14860733695652176, {1, 11, 35, 1, 9, 21, 33, 39, 79, -66, -1, 35, -66, -1, 21, 68, 68, 15}},
    {"gemm_small", 32, 32, "os", 2, 379, 7.652745712401056, 21.97265625, 7.632606907894736, {1, 321, 3300, 1, 326, 1188, 32, 356, 1156, -393, -1, 3300, -66, -1, 297, 379, 407, 900}},
    {"gemm_small", 32, 32, "is", 0, 229, 6.8060862445414845, 37.109375, 5.337649828767123, {14, 147, 760, 33, 186, 798, 63, 205, 840, -131, -1, 760, -66, -1, 399, 229, 255, 840}},
    {"gemm_small", 32, 32, "is", 1, 96, 0.1068115234375, 3.41796875, 0.080108642578125, {26, 32, 35, 33, 41, 21, 63, 69, 15, -66, -1, 35, -66, -1, 21, 96, 96, 15}},
    {"gemm_small", 32, 32, "is", 2, 823, 3.524168438639125, 40.283203125, 2.7055882695895526, {1, 753, 3300, 33, 762, 1188, 63, 795, 1800, -393, -1, 3300, -66, -1, 297, 823, 879, 1800}},
    {"conv", 16, 8, "ws", 0, 521, 33.06441938579655, 58.59375, 30.543550531914892, {17, 511, 4410, 1, 451, 450, 31, 515, 1470, -197, -1, 1311, -66, -1, 450, 521, 704, 1470}},
    {"conv", 16, 8, "ws", 1, 221, 32.07013574660633, 65.625, 29.166666666666668, {17, 196, 1296, 1, 164, 252, 31, 220, 756, -66, -1, 576, -66, -1, 252, 221, 315, 756}},
    {"conv", 16, 8, "ws", 2, 53, 2.1226415094339623, 7.03125, 1.8442622950819672, {17, 40, 144, 8, 16, 9, 31, 46, 16, -66, -1, 81, -66, -1, 9, 53, 54, 16}},
    {"conv", 16, 8, "ws", 3, 53, 2.1226415094339623, 7.03125, 1.8442622950819672, {17, 40, 144, 8, 16, 9, 31, 46, 16, -66, -1, 81, -66, -1, 9, 53, 54, 16}},
    {"conv", 16, 8, "ws", 4, 53, 2.1226415094339623, 7.03125, 1.8442622950819672, {17, 40, 144, 8, 16, 9, 31, 46, 16, -66, -1, 81, -66, -1, 9, 53, 54, 16}},
    {"conv", 16, 8, "ws", 5, 353, 56.657223796033996, 83.33333333333334, 53.333333333333336, {17, 347, 3840, 1, 252, 320, 31, 349, 1600, -131, -1, 1280, -66, -1, 320, 353, 552, 1600}},
    {"conv", 8, 12, "os", 0, 440, 52.20170454545455, 72.91666666666667, 52.083333333333336, {1, 417, 2205, 1, 432, 3150, 44, 438, 630, -197, -1, 1311, -66, -1, 450, 440, 480, 490}},
    {"conv", 8, 12, "os", 1, 269, 35.13011152416357, 52.5, 35.0, {1, 242, 1296, 1, 258, 1260, 35, 264, 352, -66, -1, 576, -66, -1, 252, 269, 289, 252}},
    {"conv", 8, 12, "os", 2, 53, 2.830188679245283, 8.333333333333332, 2.7777777777777777, {1, 43, 144, 1, 36, 18, 8, 42, 56, -66, -1, 81, -66, -1, 9, 53, 54, 16}},
    {"conv", 8, 12, "os", 3, 53, 2.830188679245283, 8.333333333333332, 2.7777777777777777, {1, 43, 144, 1, 36, 18, 8, 42, 56, -66, -1, 81, -66, -1, 9, 53, 54, 16}},
    {"conv", 8, 12, "os", 4, 53, 2.830188679245283, 8.333333333333332, 2.7777777777777777, {1, 43, 144, 1, 36, 18, 8, 42, 56, -66, -1, 81, -66, -1, 9, 53, 54, 16}},
    {"conv", 8, 12, "os", 5, 679, 39.27344133529701, 83.3333333333333, 39.21568627450979, {1, 669, 2560, 1, 669, 3200, 15, 675, 2000, -131, -1, 1280, -66, -1, 320, 679, 812, 1600}},
    {"conv", 12, 8, "is", 0, 1119, 20.526139410187668, 82.03125, 17.453457446808507, {1, 1092, 2205, 13, 1110, 3150, 23, 1112, 1960, -197, -1, 1311, -66, -1, 450, 1119, 1363, 1960}},
    {"conv", 12, 8, "is", 1, 554, 17.057761732851986, 90.0, 14.318181818181818, {1, 493, 1296, 13, 548, 1260, 23, 550, 756, -66, -1, 576, -66, -1, 252, 554, 648, 756}},
    {"conv", 12, 8, "is", 2, 61, 2.459016393442623, 75.0, 1.9736842105263157, {4, 43, 144, 13, 52, 18, 23, 61, 16, -66, -1, 81, -66, -1, 9, 61, 62, 16}},
    {"conv", 12, 8, "is", 3, 61, 2.459016393442623, 75.0, 1.9736842105263157, {4, 43, 144, 13, 52, 18, 23, 61, 16, -66, -1, 81, -66, -1, 9, 61, 62, 16}},
    {"conv", 12, 8, "is", 4, 61, 2.459016393442623, 75.0, 1.9736842105263157, {4, 43, 144, 13, 52, 18, 23, 61, 16, -66, -1, 81, -66, -1, 9, 61, 62, 16}},
    {"conv", 12, 8, "is", 5, 999, 26.69336002669336, 66.66666666666667, 23.391812865497073, {1, 962, 1280, 13, 985, 3200, 23, 999, 3200, -131, -1, 1280, -66, -1, 320, 999, 1398, 3200}},
    {"conv", 32, 32, "ws", 0, 285, 7.555509868421052, 21.97265625, 6.187702047413793, {33, 235, 2205, 1, 175, 450, 63, 263, 980, -197, -1, 1311, -66, -1, 450, 285, 315, 980}},
    {"conv", 32, 32, "ws", 1, 259, 3.420608108108108, 12.3046875, 2.751358695652174, {33, 194, 1296, 1, 162, 252, 63, 234, 504, -66, -1, 576, -66, -1, 252, 259, 274, 504}},
    {"conv", 32, 32, "ws", 2, 109, 0.1290137614678899, 0.87890625, 0.09973404255319149, {33, 56, 144, 24, 32, 9, 63, 78, 16, -66, -1, 81, -66, -1, 9, 109, 109, 16}},
    {"conv", 32, 32, "ws", 3, 109, 0.1290137614678899, 0.87890625, 0.09973404255319149, {33, 56, 144, 24, 32, 9, 63, 78, 16, -66, -1, 81, -66, -1, 9, 109, 109, 16}},
    {"conv", 32, 32, "ws", 4, 109, 0.1290137614678899, 0.87890625, 0.09973404255319149, {33, 56, 144, 24, 32, 9, 63, 78, 16, -66, -1, 81, -66, -1, 9, 109, 109, 16}},
    {"conv", 32, 32, "ws", 5, 173, 14.45086705202312, 31.25, 12.195121951219512, {33, 127, 1280, 17, 32, 320, 63, 161, 1600, -131, -1, 1280, -66, -1, 320, 173, 222, 1600}},
    {"conv", 32, 32, "os", 0, 213, 10.109485035211268, 23.92578125, 10.06224445093458, {1, 167, 2205, 1, 161, 900, 44, 191, 618, -197, -1, 1311, -66, -1, 450, 213, 228, 490}},
    {"conv", 32, 32, "os", 1, 195, 4.543269230769231, 12.3046875, 4.5200892857142865, {1, 124, 1296, 1, 140, 504, 35, 170, 380, -66, -1, 576, -66, -1, 252, 195, 202, 252}},
    {"conv", 32, 32, "os", 2, 70, 0.20089285714285715, 1.5625, 0.19806338028169013, {1, 24, 144, 1, 9, 9, 24, 39, 80, -66, -1, 81, -66, -1, 9, 70, 70, 16}},
    {"conv", 32, 32, "os", 3, 70, 0.20089285714285715, 1.5625, 0.19806338028169013, {1, 24, 144, 1, 9, 9, 24, 39, 80, -66, -1, 81, -66, -1, 9, 70, 70, 16}},
    {"conv", 32, 32, "os", 4, 70, 0.20089285714285715, 1.5625, 0.19806338028169013, {1, 24, 144, 1, 9, 9, 24, 39, 80, -66, -1, 81, -66, -1, 9, 70, 70, 16}},
    {"conv", 32, 32, "os", 5, 233, 10.729613733905579, 52.083333333333336, 10.683760683760683, {1, 187, 1280, 1, 191, 960, 15, 221, 1792, -131, -1, 1280, -66, -1, 320, 233, 282, 1600}},
    {"conv", 32, 32, "is", 0, 415, 5.188723644578313, 53.8330078125, 3.9876302083333335, {1, 344, 2205, 33, 366, 900, 63, 400, 980, -197, -1, 1311, -66, -1, 450, 415, 445, 980}},
    {"conv", 32, 32, "is", 1, 403, 2.1983560794044665, 31.640625, 1.6779119318181817, {1, 234, 1296, 33, 345, 504, 63, 375, 504, -66, -1, 576, -66, -1, 252, 403, 418, 504}},
    {"conv", 32, 32, "is", 2, 94, 0.14960106382978725, 14.0625, 0.11160714285714285, {24, 32, 144, 33, 41, 9, 63, 78, 16, -66, -1, 81, -66, -1, 9, 94, 94, 16}},
    {"conv", 32, 32, "is", 3, 94, 0.14960106382978725, 14.0625, 0.11160714285714285, {24, 32, 144, 33, 41, 9, 63, 78, 16, -66, -1, 81, -66, -1, 9, 94, 94, 16}},
    {"conv", 32, 32, "is", 4, 94, 0.14960106382978725, 14.0625, 0.11160714285714285, {24, 32, 144, 33, 41, 9, 63, 78, 16, -66, -1, 81, -66, -1, 9, 94, 94, 16}},
    {"conv", 32, 32, "is", 5, 341, 7.331378299120234, 41.66666666666667, 5.74712643678161, {17, 260, 1280, 33, 295, 960, 63, 325, 1600, -131, -1, 1280, -66, -1, 320, 341, 390, 1600}},
};

std::vector<std::string> fields(std::string const& line) {
  std::vector<std::string> f;
  std::size_t s = 0;
  for (std::size_t i = 0; i <= line.size(); ++i)
    if (i == line.size() || line[i] == ',') {
      std::string x = line.substr(s, i - s);
      while (!x.empty() && x.front() == ' ') x.erase(0, 1);
      f.push_back(x);
      s = i + 1;
    }
  return f;
}

std::vector<std::string> lines(std::string const& text) {
  std::vector<std::string> out;
  std::size_t s = 0;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') {
      out.push_back(text.substr(s, i - s));
      s = i + 1;
    }
  return out;
}

}  // namespace

TEST_CASE("golden: reports equal SCALE-Sim v2 runs (cycles, utilization, SRAM and DRAM columns)", "[hw][scalesim][golden]") {
  for (std::string_view topo : {"gemm", "gemm_small", "conv"}) {
    const std::string_view text = topo == "gemm" ? gemm_csv : topo == "gemm_small" ? gemm_small_csv : conv_csv;
    auto layers = parse_topology_csv(text, topo);
    REQUIRE(layers.has_value());
    for (auto [rows, cols, flow] : {std::tuple{32u, 32u, "ws"}, std::tuple{32u, 32u, "os"}, std::tuple{32u, 32u, "is"},
                                    std::tuple{16u, 8u, "ws"}, std::tuple{8u, 12u, "os"}, std::tuple{12u, 8u, "is"}}) {
      array_config c{.rows = rows, .cols = cols};
      REQUIRE(parse_dataflow(flow, c.flow));
      auto rep = make_scalesim_reports(c, *layers);
      auto comp = lines(rep.compute), det = lines(rep.detailed);
      int matched = 0;
      for (auto const& g : golden) {
        if (topo != g.topo || rows != g.rows || cols != g.cols || std::string_view(flow) != g.flow) continue;
        ++matched;
        CAPTURE(topo, rows, cols, flow, g.layer_id);
        const auto cf = fields(comp.at(static_cast<std::size_t>(g.layer_id) + 1));
        CHECK(std::stoull(cf[1]) == g.total_cycles);
        CHECK(cf[2] == "0");
        // SCALE-Sim averages with Python's sum(); Python < 3.12 sums naively, so allow the last bits to differ.
        CHECK(std::stod(cf[3]) == Approx(g.overall).epsilon(1e-13));
        CHECK(std::stod(cf[4]) == Approx(g.mapping).epsilon(1e-13));
        CHECK(std::stod(cf[5]) == Approx(g.compute).epsilon(1e-13));
        const auto df = fields(det.at(static_cast<std::size_t>(g.layer_id) + 1));
        for (int col = 0; col < 18; ++col) {
          CAPTURE(col);
          const bool is_count = col % 3 == 2;  // start and stop cycles are printed as floats ("33.0")
          CHECK(df.at(static_cast<std::size_t>(col) + 1) ==
                std::to_string(g.detailed[col]) + (is_count ? "" : ".0"));
        }
      }
      if (rows == 32 || topo != "gemm") CHECK(matched == static_cast<int>(comp.size()) - 1);
    }
  }
}

TEST_CASE("golden: SCALE-Sim v2's own test/golden_trace reports, byte for byte", "[hw][scalesim][golden]") {
  // configs/scale.cfg with Dataflow ws, topologies/conv_nets/alexnet_part.csv.
  constexpr std::string_view cfg_text =
      "[general]\nrun_name = scale_example_run_32x32_ws\n\n[architecture_presets]\nArrayHeight:    32\n"
      "ArrayWidth:     32\nIfmapSramSzkB:   64 \nFilterSramSzkB:  64 \nOfmapSramSzkB:   64 \nIfmapOffset:    0\n"
      "FilterOffset:   10000000\nOfmapOffset:    20000000\nBandwidth : 10\nDataflow : ws\nMemoryBanks:   1\n\n"
      "[run_presets]\nInterfaceBandwidth: CALC \n";
  constexpr std::string_view topo =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
      "Conv1,  224, 224,    11, 11,    3,      96,     4,";  // no newline after the last row
  auto cfg = parse_scalesim_cfg(cfg_text, "scale.cfg");
  REQUIRE(cfg.has_value());
  CHECK(cfg->run_name == "scale_example_run_32x32_ws");
  auto layers = parse_topology_csv(topo, "alexnet_part.csv");
  REQUIRE(layers.has_value());
  auto rep = make_scalesim_reports(cfg->array, *layers);
  CHECK(rep.compute ==
        "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n"
        "0, 112283, 0, 91.68309650614964, 94.53125, 90.78000992063492,\n");
  auto bw = fields(lines(rep.bandwidth).at(1));
  CHECK(bw[1] == "29.338590881967885");
  CHECK(bw[2] == "0.31035864734643714");
  CHECK(bw[3] == "31.035864734643713");
  CHECK(rep.bandwidth ==
        "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, "
        "Avg OFMAP DRAM BW,\n0, 29.338590881967885, 0.31035864734643714, 31.035864734643713, 15.686576632947475, "
        "0.3280954308794592, 31.243441697000126,\n");
  CHECK(rep.detailed ==
        "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle, "
        "SRAM Filter Stop Cycle, SRAM Filter Reads, SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
        "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, DRAM Filter Start Cycle, "
        "DRAM Filter Stop Cycle, DRAM Filter Reads, DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n"
        "0, 33.0, 112176.0, 3294225, 1.0, 109197.0, 34848, 63.0, 112283.0, 3484800, -3243.0, 111824.0, 1805023, "
        "-3275.0, 102937.0, 34848, 1102.0, 112639.0, 3484831,\n");
  // Without the memory replay the SRAM columns and cycles are unchanged; DRAM comes from this library's model.
  auto fast = make_scalesim_reports(cfg->array, *layers, false);
  CHECK(fast.compute == rep.compute);
  CHECK(lines(fast.detailed).at(1).rfind("0, 33.0, 112176.0, 3294225, 1.0, 109197.0, 34848, 63.0, 112283.0, 3484800, ", 0) == 0);
}

TEST_CASE("cfg parser: keys, sections, extensions and bad input", "[hw][scalesim][parser]") {
  constexpr std::string_view base =
      "[general]\nrun_name = r\n[architecture_presets]\nArrayHeight: 8\nArrayWidth = 128\nIfmapSramSzkB: 32\n"
      "FilterSramSzkB: 16\nOfmapSramSzkB: 8\nDataflow : os\nBandwidth : 4\n[run_presets]\nInterfaceBandwidth: USER\n";
  auto c = parse_scalesim_cfg(base, "a.cfg");
  REQUIRE(c.has_value());
  CHECK(c->array.rows == 8);
  CHECK(c->array.cols == 128);
  CHECK(c->array.flow == dataflow::output_stationary);
  CHECK(c->array.bandwidth == interface_bandwidth::user);
  CHECK(c->array.dram_words_per_cycle == 4);
  CHECK(c->array.filter_sram_kb == 16);

  auto ext = parse_scalesim_cfg(std::string(base) + "[mvq]\nPeKind: vq\nNM: 2:4\nVQ: 256,8\nWrfDepth: 4\n", "b.cfg");
  REQUIRE(ext.has_value());
  CHECK(ext->array.pe == pe_kind::vq_decode);
  CHECK(ext->array.nm == mvq::nm_pattern{2, 4});
  CHECK(ext->array.vq.codebook_size == 256);
  CHECK(ext->array.wrf_depth == 4);

  auto v3 = parse_scalesim_cfg(std::string(base) + "[sparsity]\nSparsitySupport : true\nBlockSize : 8\n", "c.cfg");
  REQUIRE(v3.has_value());
  CHECK(v3->array.pe == pe_kind::sparse_nm);

  auto err = [](std::string_view text) {
    auto r = parse_scalesim_cfg(text, "bad.cfg");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.rfind("bad.cfg", 0) == 0);
    return r.error().message;
  };
  std::string b(base);
  CHECK(err("").find("missing required key ArrayHeight") != std::string::npos);
  CHECK(err(b.substr(0, b.find("Dataflow"))).find("Dataflow") != std::string::npos);
  CHECK(err(std::string(base).replace(b.find("8\n"), 1, "x")).find(":4: 'arrayheight' must be an integer") != std::string::npos);
  CHECK(err(std::string(base).replace(b.find("os"), 2, "xs")).find("Dataflow must be") != std::string::npos);
  CHECK(err(std::string(base).replace(b.find("USER"), 4, "FAST")).find("InterfaceBandwidth must be") != std::string::npos);
  CHECK(err(std::string(base).replace(b.find("Bandwidth : 4\n"), 14, "")).find("needs a Bandwidth") != std::string::npos);
  CHECK(err("[general\n").find("closing") != std::string::npos);
  CHECK(err("[general]\njunk line\n").find("expected 'key = value'") != std::string::npos);
  CHECK(err(std::string(base) + "[mvq]\nNM: 5:4\n").find("NM must be") != std::string::npos);
  CHECK(err(std::string(base) + "[mvq]\nPeKind: sparse\n").find("sparse_nm PEs need") != std::string::npos);
  CHECK(err(std::string(base).replace(b.find("128"), 3, "99999")).find("between 1 and 4096") != std::string::npos);
}

TEST_CASE("topology parser: conv, GEMM, trailing comma, v3 Sparsity, depthwise, bad input", "[hw][scalesim][parser]") {
  auto g = parse_topology_csv("Layer Name, M, N, K, Sparsity,\nGEMM_1, 3, 5, 16, 3:4,\nGEMM_2, 1, 5, 16, 1:4,\n", "g.csv");
  REQUIRE(g.has_value());
  REQUIRE(g->size() == 2);
  CHECK((*g)[0].shape == layer::gemm(3, 5, 16, {3, 4}));
  CHECK((*g)[1].shape.sparsity == mvq::nm_pattern{1, 4});
  auto nocomma = parse_topology_csv("Layer, M, N, K\nA, 4, 5, 6\n\n", "h.csv");
  REQUIRE(nocomma.has_value());
  CHECK((*nocomma)[0].shape == layer::gemm(4, 5, 6));
  auto conv = parse_topology_csv(std::string(conv_csv) + "S9, 10, 12, 3, 3, 2, 4, 2, 3,\n", "c.csv");
  REQUIRE(conv.has_value());
  CHECK((*conv)[2].shape.kind == layer_kind::depthwise);
  CHECK((*conv)[4].shape.stride_h == 2);
  CHECK((*conv)[4].shape.stride_w == 3);
  auto forced = parse_topology_csv("x,y,z,w,\nA, 4, 5, 6,\n", "f.csv", topology_form::gemm);
  REQUIRE(forced.has_value());

  auto err = [](std::string_view text, std::string_view needle, topology_form form = topology_form::detect) {
    auto r = parse_topology_csv(text, "t.csv", form);
    REQUIRE_FALSE(r.has_value());
    CAPTURE(r.error().message);
    CHECK(r.error().message.find(needle) != std::string::npos);
    CHECK(r.error().message.rfind("t.csv", 0) == 0);
  };
  err("", "empty topology");
  err("Layer, M, N, K,\n", "no layers");
  err("Layer, M, N, K,\nA, 4, 5,\n", "t.csv:2: a GEMM row needs 4 fields");
  err("Layer, M, N, K,\nA, 4, -5, 6,\n", "field 3 of layer 'A' must be a positive integer");
  err("Layer, M, N, K,\nA, 4, 0, 6,\n", "positive integer");
  err("Layer, M, N, K,\n, 4, 5, 6,\n", "missing layer name");
  err("Layer, M, N, K, Sparsity,\nA, 4, 5, 6, 5:4,\n", "Sparsity must be");
  err("h,a,b,c,d,e,f,g,\nC, 5, 5, 7, 7, 1, 1, 1,\n", "filter must not be larger");
  err("h,a,b,c,d,e,f,g,\nC, 5, 5, 3, 3, 1, 1,\n", "a conv row needs 8 or 9 fields");
  err("h,a,b,c,d,e,f,g,\nC, 5, 5, 3, 3, 1, 1, 1, 1, 1,\n", "a conv row needs 8 or 9 fields");
}

TEST_CASE("python_float prints like Python's str(float)", "[hw][scalesim]") {
  CHECK(python_float(100.0) == "100.0");
  CHECK(python_float(0.5) == "0.5");
  CHECK(python_float(91.68309650614964) == "91.68309650614964");
  CHECK(python_float(0.31035864734643714) == "0.31035864734643714");
  CHECK(python_float(1e-05) == "1e-05");
  CHECK(python_float(0.0001) == "0.0001");
  CHECK(python_float(1e16) == "1e+16");
  CHECK(python_float(123456789012345.0) == "123456789012345.0");
  CHECK(python_float(-2.5) == "-2.5");
  CHECK(python_float(0.0) == "0.0");
  CHECK(python_float(1.5e300) == "1.5e+300");
}

TEST_CASE("reports: files are written, depthwise layers split per channel", "[hw][scalesim]") {
  auto layers = parse_topology_csv(conv_csv, "conv.csv");
  REQUIRE(layers.has_value());
  const array_config c{.rows = 8, .cols = 8, .pe = pe_kind::sparse_nm, .nm = {2, 4}};
  auto rep = make_scalesim_reports(c, *layers);
  CHECK(lines(rep.compute).size() == 1 + 2 + 3 + 1);
  CHECK(lines(rep.sparse).size() == 7);
  CHECK(lines(rep.extra).at(3).find("DP3") != std::string::npos);
  const auto dir = mvq_test::scratch_dir("hw_scalesim") / "out";
  REQUIRE(write_scalesim_reports(dir, rep).has_value());
  std::ifstream in(dir / "COMPUTE_REPORT.csv");
  std::string first;
  std::getline(in, first);
  CHECK(first == "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,");
  CHECK(std::filesystem::exists(dir / "DETAILED_ACCESS_REPORT.csv"));
  CHECK(std::filesystem::exists(dir / "BANDWIDTH_REPORT.csv"));
}

TEST_CASE("memory replay agrees with the closed-form SRAM figures on random layers; unsupported arrays are errors",
          "[hw][scalesim][replay]") {
  std::mt19937_64 rng(5);
  auto u = [&](std::uint32_t lo, std::uint32_t hi) { return lo + static_cast<std::uint32_t>(rng() % (hi - lo + 1)); };
  for (int it = 0; it < 120; ++it) {
    array_config c{.rows = u(1, 12), .cols = u(1, 12), .ifmap_sram_kb = u(1, 4), .filter_sram_kb = u(1, 4),
                   .ofmap_sram_kb = u(1, 4)};
    c.flow = static_cast<dataflow>(rng() % 3);
    const std::uint32_t r = u(1, 4), s = u(1, 4);
    const layer l = rng() % 2 ? layer::gemm(u(1, 60), u(1, 40), u(1, 50))
                              : layer::conv(u(r, r + 12), u(s, s + 12), r, s, u(1, 5), u(1, 30), u(1, 3));
    CAPTURE(it, to_string(c.flow), c.rows, c.cols, l.ifmap_h, l.ifmap_w, l.filter_h, l.filter_w, l.channels,
            l.filters, l.stride_h);
    const auto closed = scalesim_layer_figures(c, l, false);
    auto rep = scalesim_memory_replay(c, l);
    REQUIRE(rep.has_value());
    if (rep->stall_cycles == 0) {
      CHECK(rep->total_cycles == closed.total_cycles);
      for (int i = 0; i < 3; ++i) {
        CHECK(rep->sram_start[i] == closed.sram_start[i]);
        CHECK(rep->sram_stop[i] == closed.sram_stop[i]);
      }
    }
    CHECK(rep->dram_accesses[2] >= closed.cost.ofmap_dram_writes);  // every output reaches DRAM at least once
    CHECK(rep->dram_stop[0] >= rep->dram_start[0]);
  }
  CHECK_FALSE(scalesim_memory_replay(ews_64x64, layer::gemm(4, 4, 4)).has_value());
  CHECK_FALSE(scalesim_memory_replay(array_config{.pe = pe_kind::sparse_nm, .nm = {2, 4}}, layer::gemm(4, 4, 4)).has_value());
  CHECK_FALSE(scalesim_memory_replay(array_config{.bandwidth = interface_bandwidth::user}, layer::gemm(4, 4, 4)).has_value());
}

TEST_CASE("golden: SCALE-Sim v3 layer-wise N:M sparsity (CALC, 32x32 WS, OptimizedMapping false)", "[hw][scalesim][golden]") {
  // COMPUTE_REPORT of SCALE-Sim v3 on these topologies: Total Cycles, Overall Util %, Mapping Efficiency %,
  // Compute Util % (v3's extra "incl. prefetch" column is not a v2 column). K' = ⌊K/M⌋·N + min(K mod M, N).
  constexpr std::string_view cfg_text =
      "[general]\nrun_name = sp\n[architecture_presets]\nArrayHeight: 32\nArrayWidth: 32\nIfmapSramSzkB: 64\n"
      "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow : ws\n[sparsity]\nSparsitySupport : true\nBlockSize : 4\n"
      "[run_presets]\nInterfaceBandwidth: CALC\n";
  auto cfg = parse_scalesim_cfg(cfg_text, "sparsity.cfg");
  REQUIRE(cfg.has_value());
  CHECK(cfg->array.pe == pe_kind::sparse_nm);
  struct row {
    std::string_view topo;
    std::uint64_t cycles;
    double overall, mapping, compute;
    const char* sram_counts[3];  // DETAILED_ACCESS_REPORT: SRAM IFMAP Reads, Filter Reads, OFMAP Writes
  };
  const std::string_view gemm = "Layer Name, M, N, K, Sparsity,\nG1, 256, 128, 256, 2:4,\nG2, 256, 128, 256, 1:4,\n"
                                "G3, 40, 21, 19, 1:4,\nG4, 33, 50, 37, 2:4,\n";
  const std::string_view conv =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n"
      "C1, 23, 19, 5, 3, 3, 10, 3, 1:4,\nC2, 12, 12, 3, 3, 5, 7, 2, 2:4,\n";
  const std::vector<std::vector<row>> want = {
      {{gemm, 5599, 146.31184140025005, 100.0, 67.19160104986877, {"262144.0", "16384", "131072"}},
       {gemm, 2799, 292.6759556984637, 100.0, 67.19160104986877, {"262144.0", "8192", "65536"}},
       {gemm, 133, 11.71875, 10.25390625, 2.4857954545454546, {"800.0", "105", "840"}},
       {gemm, 253, 23.564877717391305, 46.38671875, 9.688365308544302, {"2508.0", "950", "1650"}}},
      {{conv, 142, 15.164227552816902, 11.71875, 3.30010775862069, {"2352.0", "120", "490"}},
       {conv, 129, 8.584665697674419, 15.72265625, 3.515625, {"1656.0", "161", "252"}}}};
  for (auto const& rows : want) {
    auto layers = parse_topology_csv(rows.front().topo, "sparse.csv");
    REQUIRE(layers.has_value());
    auto rep = make_scalesim_reports(cfg->array, *layers);
    auto comp = lines(rep.compute);
    REQUIRE(comp.size() == rows.size() + 1);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(i);
      const auto f = fields(comp[i + 1]);
      CHECK(std::stoull(f[1]) == rows[i].cycles);
      CHECK(std::stod(f[3]) == Approx(rows[i].overall).epsilon(1e-13));
      CHECK(std::stod(f[4]) == Approx(rows[i].mapping).epsilon(1e-13));
      CHECK(std::stod(f[5]) == Approx(rows[i].compute).epsilon(1e-13));
      const auto d = fields(lines(rep.detailed).at(i + 1));
      CHECK(d[3] == rows[i].sram_counts[0]);
      CHECK(d[6] == rows[i].sram_counts[1]);
      CHECK(d[9] == rows[i].sram_counts[2]);
    }
  }
}

TEST_CASE("parsers survive mutated and random input (errors, never crashes)", "[hw][scalesim][parser]") {
  std::mt19937_64 rng(77);
  const std::string cfg_seed =
      "[general]\nrun_name = r\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 4\n"
      "FilterSramSzkB: 4\nOfmapSramSzkB: 4\nDataflow : ws\n[run_presets]\nInterfaceBandwidth: CALC\n[mvq]\nNM: 2:4\n";
  const std::string csv_seed = std::string(conv_csv) + "G, 4, 4, 1, 1, 2, 3, 1, 2:4,\n";
  const std::string alphabet = "0123456789:,=[]#\n -abcdefDPMNK\r\t";
  int parsed = 0, rejected = 0;
  for (int it = 0; it < 3000; ++it) {
    std::string t = it % 2 ? cfg_seed : csv_seed;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !t.empty(); ++e) {
      const std::size_t pos = rng() % t.size();
      switch (rng() % 3) {
        case 0: t[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: t.erase(pos, 1 + rng() % 8); break;
        default: t.insert(pos, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    if (it % 2) {
      auto r = parse_scalesim_cfg(t, "fuzz.cfg");
      if (r) {
        ++parsed;
        CHECK(*check(r->array) == '\0');  // whatever parses is a valid array
      } else {
        ++rejected;
        CHECK(r.error().message.rfind("fuzz.cfg", 0) == 0);
      }
    } else {
      auto r = parse_topology_csv(t, "fuzz.csv");
      if (r) {
        ++parsed;
        for (auto const& l : *r) CHECK(*check(l.shape) == '\0');  // whatever parses is a valid layer
        const array_config c{.rows = 4, .cols = 4};
        (void)make_scalesim_reports(c, *r);
      } else {
        ++rejected;
        CHECK(r.error().message.rfind("fuzz.csv", 0) == 0);
      }
    }
  }
  CHECK(parsed > 100);
  CHECK(rejected > 100);
}

namespace {
// SCALE-Sim v2, Python 3.11, CALC, 32×32 WS, 64 kB SRAMs, topologies/conv_nets/Resnet18.csv: the report rows.
const char* const resnet18_bandwidth_rows =
    "0, 29.173603195040144, 0.07715333076374253, 31.753581708887232, 10.883300557194362, 9.570701932858595, 31.99866948746343,\n"
    "1, 31.000950544024953, 0.34020247510589796, 31.000950544024953, 30.270714498121166, 0.38154381171210333, 31.16604197205574,\n"
    "2, 31.000950544024953, 0.34020247510589796, 31.000950544024953, 30.270714498121166, 0.38154381171210333, 31.16604197205574,\n"
    "3, 31.000950544024953, 0.34020247510589796, 31.000950544024953, 30.270714498121166, 0.38154381171210333, 31.16604197205574,\n"
    "4, 31.000950544024953, 0.34020247510589796, 31.000950544024953, 30.270714498121166, 0.38154381171210333, 31.16604197205574,\n"
    "5, 28.574483904136677, 1.1663054654749663, 28.574483904136677, 26.98220651458821, 1.2577062827314445, 29.06556928621999,\n"
    "6, 28.09375986435664, 1.3298821237565275, 28.09375986435664, 27.333982678284677, 1.4585740286460394, 28.383560520465064,\n"
    "7, 28.786736194678433, 1.0953336007487633, 28.786736194678433, 19.09284627092846, 9.615023474178404, 31.35221316249272,\n"
    "8, 28.09375986435664, 1.3298821237565275, 28.09375986435664, 27.333982678284677, 1.4585740286460394, 28.383560520465064,\n"
    "9, 28.09375986435664, 1.3298821237565275, 28.09375986435664, 27.333982678284677, 1.4585740286460394, 28.383560520465064,\n"
    "10, 21.627845160981334, 3.531076760976544, 21.627845160981334, 18.549847815185828, 3.4080870881628975, 22.00846776158682,\n"
    "11, 19.361485771809143, 4.302552393735366, 19.361485771809143, 18.926183685111237, 4.208579501669663, 19.466080438864115,\n"
    "12, 22.572744195160183, 3.2103458410894485, 22.572744195160183, 9.819178082191781, 2.4829885580056072, 26.29890435973522,\n"
    "13, 19.361485771809143, 4.302552393735366, 19.361485771809143, 18.926183685111237, 4.208579501669663, 19.466080438864115,\n"
    "14, 19.361485771809143, 4.302552393735366, 19.361485771809143, 18.926183685111237, 4.208579501669663, 19.466080438864115,\n"
    "15, 10.965101526694388, 7.1608826296779675, 10.965101526694388, 6.45554642365056, 7.02669152554488, 11.158748200816659,\n"
    "16, 6.722713595331449, 8.605073402024255, 6.722713595331449, 9.819178082191781, 8.510002236345667, 6.837899399393829,\n"
    "17, 12.962666271077486, 6.481333135538743, 12.962666271077486, 9.57557251908397, 5.60807804210166, 14.052366404030659,\n"
    "18, 6.722713595331449, 8.605073402024255, 6.722713595331449, 9.819178082191781, 8.510002236345667, 6.837899399393829,\n"
    "19, 6.722713595331449, 8.605073402024255, 6.722713595331449, 9.819178082191781, 8.510002236345667, 6.837899399393829,\n"
    "20, 0.33684903061329385, 10.526532206665433, 0.3289541314582948, 7.757575757575758, 10.49072840897449, 32.0,\n";
const char* const resnet18_detailed_rows =
    "0, 33.0, 121785.0, 3557400, 1.0, 109778.0, 9408, 63.0, 121939.0, 3872000, -3243.0, 118796.0, 1328198, -983.0, -1.0, 9408, 1102.0, 122107.0, 3872031,\n"
    "1, 33.0, 108329.0, 3359232, 1.0, 105382.0, 36864, 63.0, 108359.0, 3359232, -3243.0, 107729.0, 3359232, -3275.0, 93342.0, 36864, 1102.0, 108887.0, 3359263,\n"
    "2, 33.0, 108329.0, 3359232, 1.0, 105382.0, 36864, 63.0, 108359.0, 3359232, -3243.0, 107729.0, 3359232, -3275.0, 93342.0, 36864, 1102.0, 108887.0, 3359263,\n"
    "3, 33.0, 108329.0, 3359232, 1.0, 105382.0, 36864, 63.0, 108359.0, 3359232, -3243.0, 107729.0, 3359232, -3275.0, 93342.0, 36864, 1102.0, 108887.0, 3359263,\n"
    "4, 33.0, 108329.0, 3359232, 1.0, 105382.0, 36864, 63.0, 108359.0, 3359232, -3243.0, 107729.0, 3359232, -3275.0, 93342.0, 36864, 1102.0, 108887.0, 3359263,\n"
    "5, 33.0, 63156.0, 1806336, 1.0, 62370.0, 73728, 63.0, 63215.0, 1806336, -3243.0, 62117.0, 1763584, -3275.0, 55345.0, 73728, 1196.0, 63343.0, 1806367,\n"
    "6, 33.0, 110849.0, 3115008, 1.0, 110142.0, 147456, 63.0, 110879.0, 3115008, -3243.0, 110717.0, 3115008, -3275.0, 97820.0, 147456, 1196.0, 110943.0, 3115039,\n"
    "7, 33.0, 7419.0, 215296, 1.0, 6577.0, 8192, 63.0, 7479.0, 215296, -3243.0, 7268.0, 200704, -852.0, -1.0, 8192, 1196.0, 8063.0, 215327,\n"
    "8, 33.0, 110849.0, 3115008, 1.0, 110142.0, 147456, 63.0, 110879.0, 3115008, -3243.0, 110717.0, 3115008, -3275.0, 97820.0, 147456, 1196.0, 110943.0, 3115039,\n"
    "9, 33.0, 110849.0, 3115008, 1.0, 110142.0, 147456, 63.0, 110879.0, 3115008, -3243.0, 110717.0, 3115008, -3275.0, 97820.0, 147456, 1196.0, 110943.0, 3115039,\n"
    "10, 33.0, 83474.0, 1806336, 1.0, 83262.0, 294912, 63.0, 83519.0, 1806336, -3243.0, 82507.0, 1590668, -3275.0, 83257.0, 294912, 1572.0, 83647.0, 1806367,\n"
    "11, 33.0, 137057.0, 2654208, 1.0, 136882.0, 589824, 63.0, 137087.0, 2654208, -3243.0, 136996.0, 2654208, -3275.0, 136872.0, 589824, 1760.0, 138111.0, 2654239,\n"
    "12, 33.0, 10161.0, 230400, 1.0, 9921.0, 32768, 63.0, 10207.0, 230400, -2555.0, -1.0, 25088, -3275.0, 9921.0, 32768, 1478.0, 10239.0, 230431,\n"
    "13, 33.0, 137057.0, 2654208, 1.0, 136882.0, 589824, 63.0, 137087.0, 2654208, -3243.0, 136996.0, 2654208, -3275.0, 136872.0, 589824, 1760.0, 138111.0, 2654239,\n"
    "14, 33.0, 137057.0, 2654208, 1.0, 136882.0, 589824, 63.0, 137087.0, 2654208, -3243.0, 136996.0, 2654208, -3275.0, 136872.0, 589824, 1760.0, 138111.0, 2654239,\n"
    "15, 33.0, 164697.0, 1806336, 1.0, 164625.0, 1179648, 63.0, 164735.0, 1806336, -3243.0, 162232.0, 1068238, -3275.0, 164605.0, 1179648, 2985.0, 164863.0, 1806367,\n"
    "16, 33.0, 274145.0, 1843200, 1.0, 274089.0, 2359296, 63.0, 274175.0, 1843200, -2555.0, -1.0, 25088, -3275.0, 273962.0, 2359296, 4871.0, 274431.0, 1843231,\n"
    "17, 33.0, 20184.0, 262144, 1.0, 20098.0, 131072, 63.0, 20223.0, 262144, -1310.0, -1.0, 12544, -3275.0, 20096.0, 131072, 2591.0, 21247.0, 262175,\n"
    "18, 33.0, 274145.0, 1843200, 1.0, 274089.0, 2359296, 63.0, 274175.0, 1843200, -2555.0, -1.0, 25088, -3275.0, 273962.0, 2359296, 4871.0, 274431.0, 1843231,\n"
    "19, 33.0, 274145.0, 1843200, 1.0, 274089.0, 2359296, 63.0, 274175.0, 1843200, -2555.0, -1.0, 25088, -3275.0, 273962.0, 2359296, 4871.0, 274431.0, 1843231,\n"
    "20, 33.0, 48609.0, 16384, 1.0, 48577.0, 512000, 63.0, 48615.0, 16000, -66.0, -1.0, 512, -3275.0, 45529.0, 512000, 48639.0, 49138.0, 16000,\n";
const double resnet18_compute[][4] = {
    {121939, 91.16750998450044, 91.875, 90.93558282208589},
    {108359, 96.87797045007798, 100.0, 95.8895100295955},
    {108359, 96.87797045007798, 100.0, 95.8895100295955},
    {108359, 96.87797045007798, 100.0, 95.8895100295955},
    {108359, 96.87797045007798, 100.0, 95.8895100295955},
    {63215, 89.29526220042712, 100.0, 86.24862486248618},
    {110879, 87.7929995761145, 100.0, 84.39450686641693},
    {7479, 89.9585506083701, 100.0, 87.06004140786749},
    {110879, 87.7929995761145, 100.0, 84.39450686641693},
    {110879, 87.7929995761145, 100.0, 84.39450686641693},
    {83519, 67.58701612806667, 100.0, 61.059190031153065},
    {137087, 60.50464303690357, 100.0, 53.53159851301198},
    {10207, 70.53982560987558, 100.0, 64.28571428571426},
    {137087, 60.50464303690357, 100.0, 53.53159851301198},
    {137087, 60.50464303690357, 100.0, 53.53159851301198},
    {164735, 34.265942270919965, 100.0, 28.160919540230285},
    {274175, 21.008479985410776, 100.0, 16.666666666667044},
    {20223, 40.50833209711714, 100.0, 33.862433862433946},
    {274175, 21.008479985410776, 100.0, 16.666666666667044},
    {274175, 21.008479985410776, 100.0, 16.666666666667044},
    {48639, 1.0279816608071712, 97.65625, 0.7750496031746006},
};
}  // namespace

TEST_CASE("golden: ResNet-18 on SCALE-Sim's 32x32 WS, all three reports", "[hw][scalesim][golden][resnet18]") {
  // The shapes of SCALE-Sim's Resnet18.csv (SCALE-Sim convention, no padding).
  const std::string topo =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
      "Conv1,224,224,7,7,3,64,2,\nConv2_1a,56,56,3,3,64,64,1,\nConv2_1b,56,56,3,3,64,64,1,\n"
      "Conv2_2a,56,56,3,3,64,64,1,\nConv2_2b,56,56,3,3,64,64,1,\nConv3_1a,56,56,3,3,64,128,2,\n"
      "Conv3_1b,28,28,3,3,128,128,1,\nConv3_s,56,56,1,1,64,128,2,\nConv3_2a,28,28,3,3,128,128,1,\n"
      "Conv3_2b,28,28,3,3,128,128,1,\nConv4_1a,28,28,3,3,128,256,2,\nConv4_1b,14,14,3,3,256,256,1,\n"
      "Conv4_s,28,28,1,1,128,256,2,\nConv4_2a,14,14,3,3,256,256,1,\nConv4_2b,14,14,3,3,256,256,1,\n"
      "Conv5_1a,14,14,3,3,256,512,2,\nConv5_1b,7,7,3,3,512,512,1,\nConv5_s,14,14,1,1,256,512,2,\n"
      "Conv5_2a,7,7,3,3,512,512,1,\nConv5_2b,7,7,3,3,512,512,1,\nFC,1,1,1,1,512,1000,1,\n";
  auto layers = parse_topology_csv(topo, "Resnet18.csv");
  REQUIRE(layers.has_value());
  auto rep = make_scalesim_reports(scalesim_32x32_ws, *layers);
  const auto strip_header = [](std::string const& s) { return s.substr(s.find('\n') + 1); };
  CHECK(strip_header(rep.bandwidth) == resnet18_bandwidth_rows);
  CHECK(strip_header(rep.detailed) == resnet18_detailed_rows);
  const auto comp = lines(rep.compute);
  REQUIRE(comp.size() == 22);
  for (std::size_t i = 0; i < 21; ++i) {
    CAPTURE(i);
    const auto f = fields(comp[i + 1]);
    CHECK(std::stod(f[1]) == resnet18_compute[i][0]);
    CHECK(f[2] == "0");
    CHECK(std::stod(f[3]) == Approx(resnet18_compute[i][1]).epsilon(1e-13));
    CHECK(std::stod(f[4]) == Approx(resnet18_compute[i][2]).epsilon(1e-13));
    CHECK(std::stod(f[5]) == Approx(resnet18_compute[i][3]).epsilon(1e-13));
  }
}
