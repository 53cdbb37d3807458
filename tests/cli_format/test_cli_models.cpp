// The "done when" command on the shared PP-OCRv4 detector weights and its calibration rows:
//   mvq compress ppocr_det.safetensors -o d.mvq.safetensors --method mvq --k 256 --d 16 --nm 2:4
//       --calib ppocr_det_calib.safetensors --json
//   mvq decompress d.mvq.safetensors -o d.safetensors
// Skipped (exit 77) when the shared model folder is absent.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/io/safetensors.hpp"

#ifndef MVQ_CLI_PATH
#  error "MVQ_CLI_PATH must name the mvq executable"
#endif

using namespace mvq;
namespace fs = std::filesystem;

TEST_CASE("ppocr_det: mvq 2:4 K=256 d=16 with calibration, then decompress", "[cli][format][models]") {
  auto models = mvq_test::models_dir();
  auto dir = mvq_test::scratch_dir("cli_format_models");
  auto in_path = models / "ppocr_det.safetensors", calib = models / "ppocr_det_calib.safetensors";
  auto packed = dir / "d.mvq.safetensors", dense = dir / "d.safetensors";
  std::string cmd = std::string(MVQ_CLI_PATH) + " compress '" + in_path.string() + "' -o '" + packed.string() +
                    "' --method mvq --k 256 --d 16 --nm 2:4 --calib '" + calib.string() + "' --json > '" +
                    (dir / "out.json").string() + "'";
  int st = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
  std::ifstream jf(dir / "out.json");
  std::stringstream ss;
  ss << jf.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  REQUIRE(j.is_object());

  auto in = io::safetensors_file::open(in_path).value();
  auto file = io::mvq_file::open(packed).value();
  REQUIRE(j["layers"].size() == file.layers().size());
  REQUIRE(file.layers().size() >= 10);
  std::size_t with_output = 0;
  for (auto const& l : j["layers"]) {
    const std::string name = l["name"];
    INFO(name);
    auto const* fl = file.find(name);
    REQUIRE(fl);
    // Never a grouped/depthwise conv or a ConvTranspose (the file's per-tensor metadata says which).
    auto md = nlohmann::json::parse(in.metadata().at(name), nullptr, false);
    CHECK(md["group"] == 1);
    CHECK(md["op"] == "Conv");
    CHECK(l["k"].get<std::uint32_t>() <= 256);
    CHECK(l["weight_sqnr_db"].is_number());
    with_output += l["output_snr_db"].is_number();
  }
  CHECK(with_output > 0);
  auto const& t = j["total"];
  INFO(t.dump());
  // 2:4 with 3-bit patterns is 0.75 bits/weight of masks plus 0.5 of indices plus codebooks.
  CHECK(t["bits_per_weight"].get<double>() > 1.25);
  CHECK(t["bits_per_weight"].get<double>() < 6.0);
  CHECK(t["model_bits_per_weight"].get<double>() > t["bits_per_weight"].get<double>());
  CHECK(t["weight_sqnr_db"].get<double>() > 0.0);
  CHECK(t["output_snr_db"].get<double>() > 0.0);

  st = std::system((std::string(MVQ_CLI_PATH) + " decompress '" + packed.string() + "' -o '" + dense.string() +
                    "' > /dev/null")
                       .c_str());
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
  auto out = io::safetensors_file::open(dense).value();
  REQUIRE(out.tensors().size() == in.tensors().size());
  for (auto const& ti : in.tensors()) {
    INFO(ti.name);
    auto const* to = out.find(ti.name);
    REQUIRE(to);
    CHECK(to->shape == ti.shape);
    if (auto const* fl = file.find(ti.name)) {
      auto got = out.read_f32(ti.name).value();
      auto expect = fl->decompress_dense();
      CHECK(std::memcmp(got.data(), expect.data(), got.size() * 4) == 0);
    } else {
      auto a = in.data(ti), b = out.data(*to);
      CHECK(std::vector<std::byte>(a.begin(), a.end()) == std::vector<std::byte>(b.begin(), b.end()));
    }
  }
  for (auto const& [k, v] : in.metadata()) CHECK(out.metadata().at(k) == v);
}
