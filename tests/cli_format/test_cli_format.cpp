// `mvq compress` / `mvq decompress` end to end: the file written through the CLI decompresses to exactly the
// in-memory reconstruction of `quant::compress`, the --json report matches numbers recomputed here, and every
// bad input fails with a message naming the tensor, a non-zero exit and no output file.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/gptq.hpp"

#ifndef MVQ_CLI_PATH
#  error "MVQ_CLI_PATH must name the mvq executable"
#endif

using namespace mvq;
namespace fs = std::filesystem;

namespace {

struct run_result {
  int status;
  std::string out, err;
};

std::string slurp(fs::path const& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string quote(std::string const& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

run_result mvq_run(fs::path const& dir, std::vector<std::string> const& args) {
  std::string cmd = quote(MVQ_CLI_PATH);
  for (auto const& a : args) cmd += " " + quote(a);
  cmd += " > " + quote((dir / "stdout.txt").string()) + " 2> " + quote((dir / "stderr.txt").string());
  int st = std::system(cmd.c_str());
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return {code, slurp(dir / "stdout.txt"), slurp(dir / "stderr.txt")};
}

std::vector<float> randn(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

// A small model: a conv with per-tensor metadata, a linear layer, a depthwise conv (by metadata), a
// ConvTranspose, a bias, and a layer whose 64 sub-vectors take only 4 distinct values (so VQ is exact).
struct model {
  fs::path path, calib;
  std::vector<float> conv = randn(32 * 16 * 3 * 3, 1), lin = randn(48 * 64, 2), dw = randn(16 * 1 * 3 * 3, 3),
                     convt = randn(16 * 8 * 2 * 2, 4), bias = randn(16, 5), few;
  std::vector<float> x_conv = randn(40 * 144, 6), x_lin = randn(25 * 64, 7);
};

model make_model(fs::path const& dir) {
  model m;
  m.few.resize(64 * 8);
  for (std::size_t r = 0; r < 64; ++r)
    for (std::size_t t = 0; t < 8; ++t) m.few[r * 8 + t] = static_cast<float>((r % 4) * 10 + t) * 0.125f;
  io::safetensors_writer w;
  w.set_metadata("source", "cli test");
  w.set_metadata("conv", R"({"op": "Conv", "group": 1})");
  w.set_metadata("dw", R"({"op": "Conv", "group": 16})");
  w.set_metadata("up", R"({"op": "ConvTranspose", "group": 1})");
  REQUIRE(w.add_f32("conv", {32, 16, 3, 3}, m.conv));
  REQUIRE(w.add_f32("lin", {48, 64}, m.lin));
  REQUIRE(w.add_f32("dw", {16, 1, 3, 3}, m.dw));
  REQUIRE(w.add_f32("up", {16, 8, 2, 2}, m.convt));
  REQUIRE(w.add_f32("bias", {16}, m.bias));
  REQUIRE(w.add_f32("few", {64, 8}, m.few));
  m.path = dir / "model.safetensors";
  REQUIRE(w.write(m.path));
  io::safetensors_writer c;
  REQUIRE(c.add_f32("conv", {40, 144}, m.x_conv));
  REQUIRE(c.add_f32("lin", {25, 64}, m.x_lin));
  m.calib = dir / "calib.safetensors";
  REQUIRE(c.write(m.calib));
  return m;
}

bool same_bits(std::vector<float> const& a, std::vector<float> const& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("decompress(compress(W)) through the CLI equals the in-memory reconstruction bit for bit", "[cli][format]") {
  auto dir = mvq_test::scratch_dir("cli_format_exact");
  auto m = make_model(dir);
  struct cfg {
    const char* method;
    const char* nm;
    const char* codebook;
    const char* layout;
  };
  for (auto c : {cfg{"mvq", "2:4", "f32", "ohwi"}, cfg{"mvq", "1:4", "i8", "oihw"}, cfg{"kmeans", "", "f16", "ohwi"}}) {
    INFO(c.method << " " << c.nm << " " << c.codebook << " " << c.layout);
    auto packed = dir / "m.mvq.safetensors", dense = dir / "m.dense.safetensors";
    std::vector<std::string> args{"compress", m.path.string(), "-o", packed.string(), "--method", c.method,
                                  "--k", "32", "--d", "8", "--min-size", "256", "--codebook", c.codebook,
                                  "--layout", c.layout, "--seed", "11", "--threads", "2",
                                  "--calib", m.calib.string()};
    if (*c.nm) args.insert(args.end(), {"--nm", c.nm, "--mask-encoding", "bitmap"});
    auto r = mvq_run(dir, args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    auto d = mvq_run(dir, {"decompress", packed.string(), "-o", dense.string()});
    INFO(d.err);
    REQUIRE(d.status == 0);
    auto file = io::mvq_file::open(packed).value();
    auto out = io::safetensors_file::open(dense).value();
    REQUIRE(file.layers().size() == 3);  // conv, lin, few
    // The same compression in memory (the output does not depend on the thread count).
    quant::compress_options o;
    o.method = std::string(c.method) == "mvq" ? quant::method::mvq : quant::method::kmeans;
    o.vq = {32, 8};
    o.nm = std::string(c.nm) == "2:4" ? nm_pattern{2, 4} : std::string(c.nm) == "1:4" ? nm_pattern{1, 4} : nm_pattern{};
    o.masks = o.nm.dense() ? mask_encoding::none : mask_encoding::bitmap;
    o.codebook = *io::parse_codebook_dtype(c.codebook);
    o.seed = 11;
    o.threads = 1;
    const auto order = *mvq::parse_reduction_order(c.layout);
    struct layer {
      const char* name;
      std::vector<std::uint64_t> shape;
      std::vector<float> const* w;
      std::vector<float> const* x;
      std::size_t x_rows;
    };
    for (auto const& L : {layer{"conv", {32, 16, 3, 3}, &m.conv, &m.x_conv, 40}, layer{"lin", {48, 64}, &m.lin, &m.x_lin, 25},
                          layer{"few", {64, 8}, &m.few, nullptr, 0}}) {
      INFO(L.name);
      auto rc = io::matrix_shape(L.shape, L.name).value();
      auto wr = io::to_reduction_order(*L.w, L.shape, order);
      std::vector<float> xr;
      if (L.x) {
        auto xs = L.shape;
        xs[0] = L.x_rows;
        xr = io::to_reduction_order(*L.x, xs, order);
      }
      // the CLI records ohwi only for kernels with more than one tap (elsewhere both orders are the identity)
      auto lo = o;
      lo.order = L.shape.size() >= 3 && L.shape[2] * L.shape[3] > 1 ? order : reduction_order::oihw;
      auto cm = quant::compress(matrix_view<const float>(wr.data(), rc.first, rc.second), lo,
                                matrix_view<const float>(xr.data(), L.x_rows, L.x ? rc.second : 0))
                    .value();
      const io::mvq_layer* fl = file.find(L.name);
      REQUIRE(fl);
      CHECK(fl->layout == cm.layout);
      CHECK(fl->layout.order == lo.order);
      CHECK(std::vector<std::uint8_t>(fl->indices.begin(), fl->indices.end()) == cm.indices);
      CHECK(std::vector<std::uint8_t>(fl->masks.begin(), fl->masks.end()) == cm.masks);
      auto expect = io::from_reduction_order(decompress(cm.view()), L.shape, order);
      auto got = out.read_f32(L.name).value();
      CHECK(out.find(L.name)->type == io::dtype::f32);
      CHECK(out.find(L.name)->shape == L.shape);
      CHECK(same_bits(got, expect));
      CHECK(same_bits(fl->decompress_dense(), expect));
    }
    // Everything else is copied byte for byte, metadata included (without the format's keys).
    for (const char* name : {"dw", "up", "bias"}) {
      auto in = io::safetensors_file::open(m.path).value();
      auto a = in.data(*in.find(name));
      auto b = out.data(*out.find(name));
      CHECK(std::vector<std::byte>(a.begin(), a.end()) == std::vector<std::byte>(b.begin(), b.end()));
    }
    CHECK(out.metadata().at("source") == "cli test");
    CHECK(out.metadata().at("dw") == R"({"op": "Conv", "group": 16})");
    CHECK_FALSE(out.metadata().contains("mvq_format"));
    CHECK_FALSE(out.metadata().contains("mvq:conv"));
    CHECK(file.file().metadata().at("source") == "cli test");
  }
}

TEST_CASE("--json reports the issue's fields with numbers recomputed from the files", "[cli][format]") {
  auto dir = mvq_test::scratch_dir("cli_format_json");
  auto m = make_model(dir);
  auto packed = dir / "m.mvq.safetensors";
  auto r = mvq_run(dir, {"compress", m.path.string(), "-o", packed.string(), "--method", "mvq", "--nm", "2:4", "--k",
                         "64", "--d", "8", "--min-size", "256", "--calib", m.calib.string(), "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j.size() == 2);
  REQUIRE(j["layers"].is_array());
  REQUIRE(j["layers"].size() == 3);
  std::vector<std::string> layer_keys{"name", "method", "k", "d", "n", "m", "n_weights", "bits", "bits_per_weight",
                                      "weight_sqnr_db", "output_snr_db", "seconds", "exact"};
  std::vector<std::string> total_keys{"n_weights", "bits", "bits_per_weight", "compression_ratio",
                                      "model_bits_per_weight", "weight_sqnr_db", "output_snr_db", "seconds"};
  auto file = io::mvq_file::open(packed).value();
  auto in = io::safetensors_file::open(m.path).value();
  double w2 = 0, e2 = 0, o2 = 0, oe2 = 0;
  std::uint64_t bits = 0, n = 0;
  for (auto const& l : j["layers"]) {
    std::vector<std::string> keys;
    for (auto it = l.begin(); it != l.end(); ++it) keys.push_back(it.key());
    std::sort(keys.begin(), keys.end());
    auto want = layer_keys;
    std::sort(want.begin(), want.end());
    CHECK(keys == want);
    const std::string name = l["name"];
    INFO(name);
    auto const* fl = file.find(name);
    REQUIRE(fl);
    CHECK(l["k"] == fl->layout.k());
    CHECK(l["d"] == 8);
    CHECK(l["n"] == 2);
    CHECK(l["m"] == 4);
    CHECK(l["method"] == "mvq");
    CHECK(l["bits"] == fl->layout.stored_bits());
    CHECK(l["n_weights"] == fl->layout.rows * fl->layout.cols);
    CHECK(l["bits_per_weight"].get<double>() == Approx(fl->layout.bits_per_weight()).epsilon(1e-12));
    auto w = in.read_f32(name).value();
    auto what = fl->decompress_dense();
    double lw2 = 0, le2 = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      lw2 += double{w[i]} * w[i];
      le2 += (double{w[i]} - what[i]) * (double{w[i]} - what[i]);
    }
    w2 += lw2;
    e2 += le2;
    bits += fl->layout.stored_bits();
    n += w.size();
    CHECK(l["exact"] == false);
    CHECK(l["weight_sqnr_db"].get<double>() == Approx(10 * std::log10(lw2 / le2)).epsilon(1e-6));
    if (name == "few") {
      CHECK(l["output_snr_db"].is_null());  // no calibration rows
      continue;
    }
    // Output SNR over the calibration rows, in the tensor's own (oihw) column order.
    auto x = name == "conv" ? m.x_conv : m.x_lin;
    const std::size_t cols = fl->layout.cols, rows = fl->layout.rows, xr = x.size() / cols;
    double lo2 = 0, loe2 = 0;
    for (std::size_t i = 0; i < xr; ++i)
      for (std::size_t o = 0; o < rows; ++o) {
        double y = 0, ye = 0;
        for (std::size_t c = 0; c < cols; ++c) {
          y += double{x[i * cols + c]} * w[o * cols + c];
          ye += double{x[i * cols + c]} * (double{w[o * cols + c]} - what[o * cols + c]);
        }
        lo2 += y * y;
        loe2 += ye * ye;
      }
    o2 += lo2;
    oe2 += loe2;
    CHECK(l["output_snr_db"].get<double>() == Approx(10 * std::log10(lo2 / loe2)).epsilon(1e-6));
  }
  auto const& t = j["total"];
  std::vector<std::string> keys;
  for (auto it = t.begin(); it != t.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  std::sort(total_keys.begin(), total_keys.end());
  CHECK(keys == total_keys);
  CHECK(t["n_weights"] == n);
  CHECK(t["bits"] == bits);
  CHECK(t["bits_per_weight"].get<double>() == Approx(double(bits) / double(n)).epsilon(1e-12));
  CHECK(t["compression_ratio"].get<double>() == Approx(32.0 * double(n) / double(bits)).epsilon(1e-12));
  std::uint64_t all = 0, dense_bits = 0;
  for (auto const& ti : in.tensors()) {
    all += ti.elements();
    if (!file.find(ti.name)) dense_bits += ti.elements() * 32;
  }
  CHECK(t["model_bits_per_weight"].get<double>() == Approx(double(bits + dense_bits) / double(all)).epsilon(1e-12));
  CHECK(t["weight_sqnr_db"].get<double>() == Approx(10 * std::log10(w2 / e2)).epsilon(1e-6));
  CHECK(t["output_snr_db"].get<double>() == Approx(10 * std::log10(o2 / oe2)).epsilon(1e-6));
}

TEST_CASE("--json: an exactly reproduced layer has null SQNR and exact = true", "[cli][format]") {
  auto dir = mvq_test::scratch_dir("cli_format_exactflag");
  auto m = make_model(dir);
  auto packed = dir / "m.mvq.safetensors";
  auto r = mvq_run(dir, {"compress", m.path.string(), "-o", packed.string(), "--method", "kmeans", "--k", "16",
                         "--d", "8", "--only", "^few$", "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j["layers"].size() == 1);
  auto file = io::mvq_file::open(packed).value();
  REQUIRE(same_bits(file.find("few")->decompress_dense(), m.few));  // 4 distinct sub-vectors, K = 16: exact
  CHECK(j["layers"][0]["exact"] == true);
  CHECK(j["layers"][0]["weight_sqnr_db"].is_null());
  CHECK(j["layers"][0]["output_snr_db"].is_null());
  CHECK(j["total"]["weight_sqnr_db"].is_null());
}

TEST_CASE("the human table lists compressed and kept tensors with the reason", "[cli][format]") {
  auto dir = mvq_test::scratch_dir("cli_format_table");
  auto m = make_model(dir);
  auto r = mvq_run(dir, {"compress", m.path.string(), "-o", (dir / "t.mvq.safetensors").string(), "--method", "mvq",
                         "--d", "8", "--min-size", "256"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("depthwise_conv (group = 16) is kept dense") != std::string::npos);
  CHECK(r.out.find("ConvTranspose") != std::string::npos);
  CHECK(r.out.find("fewer than 2 dims") != std::string::npos);
  CHECK(r.out.find("3 of 6 tensors compressed") != std::string::npos);
  CHECK(r.err.empty());  // no progress output when stderr is not a terminal
}

TEST_CASE("bad input: clear message naming the tensor, non-zero exit, no output file", "[cli][format]") {
  auto dir = mvq_test::scratch_dir("cli_format_bad");
  auto m = make_model(dir);
  io::safetensors_writer c;
  REQUIRE(c.add_f32("conv", {10, 143}, std::vector<float>(1430, 1.0f)));
  auto bad_calib = dir / "bad_calib.safetensors";
  REQUIRE(c.write(bad_calib));
  auto packed = dir / "good.mvq.safetensors";
  REQUIRE(mvq_run(dir, {"compress", m.path.string(), "-o", packed.string(), "--d", "8", "--min-size", "256"}).status == 0);

  struct bad_case {
    const char* what;
    std::vector<std::string> args;  // after `compress IN -o OUT`
    std::string expect;
    std::string input = "";
  };
  const std::vector<bad_case> cases{
      {"missing input file", {}, "does_not_exist.safetensors", (dir / "does_not_exist.safetensors").string()},
      {"depthwise selected", {"--only", "^dw$"}, "tensor 'dw'"},
      {"1-D selected", {"--only", "^bias$"}, "tensor 'bias'"},
      {"ConvTranspose selected", {"--only", "^up$"}, "tensor 'up'"},
      {"d not dividing the row", {"--d", "12", "--only", "^lin$"}, "tensor 'lin'"},
      {"d not dividing any row", {"--method", "kmeans", "--d", "7"}, "no tensor can be compressed"},
      {"unsupported d", {"--d", "32"}, "d = 32"},
      {"d not a multiple of M", {"--d", "6", "--nm", "2:4"}, "multiple of M"},
      {"unsupported N:M", {"--nm", "2:32"}, "--nm: N:M pattern '2:32': nm_pattern: M must be at most 16."},
      {"N > M", {"--nm", "5:4"}, "--nm: N:M pattern '5:4': nm_pattern: N must not exceed M."},
      {"malformed N:M", {"--nm", "2-4"}, "--nm: N:M pattern '2-4': expected N:M"},
      {"kmeans with N:M", {"--method", "kmeans", "--nm", "2:4"}, "--nm needs --method mvq"},
      {"K not a power of two", {"--k", "100"}, "--k 100"},
      {"calibration shape mismatch", {"--calib", bad_calib.string()}, "calibration tensor 'conv'"},
      {"bad regex", {"--keep", "("}, "invalid regular expression"},
      {"input already compressed", {}, "already compressed", packed.string()},
  };
  auto out = dir / "out.mvq.safetensors";
  for (auto const& bc : cases) {
    INFO(bc.what);
    std::vector<std::string> args{"compress", bc.input.empty() ? m.path.string() : bc.input, "-o", out.string(),
                                  "--min-size", "256"};
    args.insert(args.end(), bc.args.begin(), bc.args.end());
    auto r = mvq_run(dir, args);
    INFO(r.err);
    CHECK(r.status != 0);
    CHECK(r.err.find(bc.expect) != std::string::npos);
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(out));
    for (auto const& e : fs::directory_iterator(dir))  // no temporary file left behind either
      CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
  // A failing run leaves an existing output file as it was.
  {
    std::ofstream(out) << "previous";
    auto r = mvq_run(dir, {"compress", m.path.string(), "-o", out.string(), "--d", "32"});
    CHECK(r.status != 0);
    CHECK(slurp(out) == "previous");
    fs::remove(out);
  }
  // decompress: a file that is not .mvq.safetensors, and a corrupt one.
  {
    auto r = mvq_run(dir, {"decompress", m.path.string(), "-o", out.string()});
    CHECK(r.status != 0);
    CHECK(r.err.find("not a .mvq.safetensors file") != std::string::npos);
    CHECK_FALSE(fs::exists(out));
    auto src = io::safetensors_file::open(packed).value();
    io::safetensors_writer w;
    for (auto const& [k, v] : src.metadata()) w.set_metadata(k, v);
    for (auto const& t : src.tensors()) {
      auto bytes = src.data(t);
      std::vector<std::byte> b(bytes.begin(), bytes.end());
      if (t.name == "lin.mask") b[3] = std::byte{0xff};  // pattern ranks 7 ≥ C(4,2) = 6
      REQUIRE(w.add(t.name, t.type, t.shape, b));
    }
    auto corrupt = dir / "corrupt.mvq.safetensors";
    REQUIRE(w.write(corrupt));
    r = mvq_run(dir, {"decompress", corrupt.string(), "-o", out.string()});
    CHECK(r.status != 0);
    CHECK(r.err.find("layer 'lin'") != std::string::npos);
    CHECK(r.err.find("not a valid pattern index") != std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("decompress writes scalar (GPTQ, RTN) layers back dense in their original shape and element order", "[cli][format]") {
  auto dir = mvq_test::scratch_dir("cli_scalar");
  const std::vector<std::uint64_t> conv_shape{8, 4, 3, 3};
  auto conv = randn(8 * 36, 11), lin = randn(6 * 32, 12), bias = randn(8, 13);
  // The conv is quantized in ohwi order (input channel innermost); decompress must undo that.
  auto conv_ohwi = io::to_reduction_order(conv, conv_shape, reduction_order::ohwi);
  std::vector<double> h(36 * 36, 0.0);
  auto x = randn(64 * 36, 14);
  for (std::size_t r = 0; r < 64; ++r)
    for (std::size_t i = 0; i < 36; ++i)
      for (std::size_t j = 0; j < 36; ++j) h[i * 36 + j] += double{x[r * 36 + i]} * x[r * 36 + j];
  auto qc = quant::gptq(matrix_view<const float>(conv_ohwi.data(), 8, 36), h,
                        quant::gptq_options{.bits = 3, .group = 12, .symmetric = false, .order = reduction_order::ohwi})
                .value();
  auto ql = quant::round_to_nearest(matrix_view<const float>(lin.data(), 6, 32), quant::gptq_options{.bits = 4}).value();
  io::mvq_writer w;
  REQUIRE(w.set_metadata("source", "scalar cli test"));
  REQUIRE(w.add_scalar_layer({"conv", "gptq", conv_shape}, qc.view()));
  REQUIRE(w.add_tensor("bias", io::dtype::f32, {8},
                       std::as_bytes(std::span<const float>(bias.data(), bias.size()))));
  REQUIRE(w.add_scalar_layer({"lin", "rtn", {6, 32}}, ql.view()));
  auto packed = dir / "scalar.mvq.safetensors", dense = dir / "scalar.safetensors";
  REQUIRE(w.write(packed));
  auto r = mvq_run(dir, {"decompress", packed.string(), "-o", dense.string()});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto f = io::safetensors_file::open(dense).value();
  REQUIRE(f.tensors().size() == 3);
  REQUIRE(f.find("conv"));
  CHECK(f.find("conv")->shape == conv_shape);
  REQUIRE(f.find("lin"));
  CHECK(f.find("lin")->shape == std::vector<std::uint64_t>{6, 32});
  CHECK(same_bits(f.read_f32("conv").value(), io::from_reduction_order(decompress(qc.view()), conv_shape,
                                                                       reduction_order::ohwi)));
  CHECK(same_bits(f.read_f32("lin").value(), decompress(ql.view())));
  CHECK(same_bits(f.read_f32("bias").value(), bias));
  CHECK(f.metadata().count("mvq:conv") == 0);
  CHECK(f.metadata().at("source") == "scalar cli test");
  // The decoded conv is close to the original weights (3-bit affine, groups of 12): a sanity bound, not a tuning.
  auto back = f.read_f32("conv").value();
  double e = 0, s = 0;
  for (std::size_t i = 0; i < conv.size(); ++i) {
    e += (back[i] - conv[i]) * (back[i] - conv[i]);
    s += conv[i] * conv[i];
  }
  CHECK(e < 0.1 * s);

  auto ins = mvq_run(dir, {"inspect", packed.string(), "--json"});
  REQUIRE(ins.status == 0);
  auto j = nlohmann::json::parse(ins.out);
  REQUIRE(j["scalar_layers"].size() == 2);
  CHECK(j["scalar_layers"][0]["name"] == "conv");
  CHECK(j["scalar_layers"][0]["bits"] == 3);
  CHECK(j["scalar_layers"][0]["group"] == 12);
  CHECK(j["scalar_layers"][0]["symmetric"] == false);
  CHECK(j["scalar_layers"][0]["order"] == "ohwi");
  CHECK(j["scalar_layers"][1]["method"] == "rtn");
  CHECK_FALSE(j.contains("layers"));
  auto table = mvq_run(dir, {"inspect", packed.string()});
  REQUIRE(table.status == 0);
  CHECK(table.out.find("scalar-quantized layers (2)") != std::string::npos);
}
