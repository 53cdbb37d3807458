// Every eligible layer of two real networks, compressed in both reduction orders, written to a .mvq.safetensors
// file and reopened, then run through kernel::pack + gemv / gemm (batch 5) and, for convolutions, kernel::conv2d,
// against the dense product of the decompressed weights (conv: a direct convolution on the oihw weights).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_test_support.hpp"
#include "models.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/kernel/any_layer.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/subvectors.hpp"

using namespace mvq;
using namespace mvq::kernel;

namespace {
struct config {
  quant::method method;
  vq_config vq;
  nm_pattern nm;
};

// The conv `group` recorded in the file's metadata for tensor `name` (absent: unknown).
std::optional<std::uint64_t> group_of(io::safetensors_file const& f, std::string const& name) {
  auto it = f.metadata().find(name);
  if (it == f.metadata().end()) return std::nullopt;
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.contains("group") || !j["group"].is_number_unsigned()) return std::nullopt;
  return j["group"].get<std::uint64_t>();
}

// The u8 LUT's documented bound for one activation row x (in the layer's column order): S·Δ/2, with Δ the
// largest table span over the sub-vectors divided by 255 (vq_nibble.hpp).
double lut_bound(compressed_matrix_view const& v, float const* x) {
  const std::size_t d = v.layout.d(), s = v.layout.subvectors_per_row();
  double span = 0;
  for (std::size_t i = 0; i < s; ++i) {
    double lo = 1e300, hi = -1e300;
    for (std::uint32_t j = 0; j < v.layout.k(); ++j) {
      double t = 0;
      for (std::size_t u = 0; u < d; ++u) t += double(v.codebook[j * d + u]) * x[i * d + u];
      lo = std::min(lo, t);
      hi = std::max(hi, t);
    }
    span = std::max(span, hi - lo);
  }
  return double(s) * span / 255.0 / 2.0 * 1.01 + 1e-6;
}

// |got − want| ≤ 1e-5·Σ|w·x| (the kernel tests' tolerance), plus the LUT bound for the nibble kernel.
void check_rows(any_packed const& w, compressed_matrix_view const& v, std::vector<float> const& dense,
                std::vector<float> const& x, std::vector<float> const& got, std::size_t batch) {
  const std::size_t rows = v.layout.rows, cols = v.layout.cols;
  const bool lut = w.name().starts_with("vq_nibble");
  for (std::size_t b = 0; b < batch; ++b) {
    const double extra = lut ? lut_bound(v, x.data() + b * cols) : 0.0;
    for (std::size_t r = 0; r < rows; ++r) {
      double want = 0, mag = 0;
      for (std::size_t c = 0; c < cols; ++c) {
        want += double(dense[r * cols + c]) * x[b * cols + c];
        mag += std::fabs(double(dense[r * cols + c]) * x[b * cols + c]);
      }
      if (std::fabs(double(got[b * rows + r]) - want) > 1e-5 * (mag + 1e-6) + extra) {
        INFO(w.name() << ": batch row " << b << ", output row " << r);
        REQUIRE(std::fabs(double(got[b * rows + r]) - want) <= 1e-5 * (mag + 1e-6) + extra);
      }
    }
  }
}

void run_model(std::string const& file) {
  auto f = io::safetensors_file::open(mvq_test::models_dir() / file).value();
  const std::vector<config> configs = {{quant::method::kmeans, {256, 8}, dense},
                                       {quant::method::mvq, {256, 8}, sparse_2_4},
                                       {quant::method::kmeans, {16, 4}, dense}};
  std::mt19937 rng(2025);
  const auto dir = mvq_test::scratch_dir("kernel_models");
  for (auto const& cfg : configs)
    for (auto const order : {reduction_order::oihw, reduction_order::ohwi}) {
      INFO(file << ": " << quant::to_string(cfg.method) << " K = " << cfg.vq.codebook_size << ", d = "
                << unsigned(cfg.vq.subvector_dim) << ", " << to_string(order));
      io::mvq_writer out;
      std::size_t eligible = 0;
      for (auto const& t : f.tensors()) {
        const auto li = quant::classify_layer(t.shape, group_of(f, t.name));
        if (li.kind != quant::layer_kind::linear && li.kind != quant::layer_kind::conv) continue;
        if (li.cols % cfg.vq.subvector_dim != 0) continue;
        auto w = f.read_f32(t.name).value();
        auto wr = io::to_reduction_order(w, t.shape, order);
        quant::compress_options o{.method = cfg.method, .vq = cfg.vq, .nm = cfg.nm, .order = order, .threads = 2,
                                  .max_iter = 2};
        auto cm = quant::compress(matrix_view<const float>(wr.data(), li.rows, li.cols), o).value();
        REQUIRE(out.add_layer({.name = t.name, .method = cfg.method == quant::method::mvq ? "mvq" : "kmeans",
                               .shape = t.shape},
                              cm.view()));
        ++eligible;
      }
      REQUIRE(eligible > 0);
      const auto path = dir / (std::string(to_string(order)) + ".mvq.safetensors");
      REQUIRE(out.write(path));
      auto mf = io::mvq_file::open(path).value();
      REQUIRE(mf.layers().size() == eligible);
      for (auto const& layer : mf.layers()) {
        INFO("layer " << layer.info.name << " " << layer.layout.rows << " × " << layer.layout.cols);
        const auto v = layer.view();
        REQUIRE(v.layout.order == order);
        // the order is checked: a caller computing in the other order is refused, by name
        const auto other = order == reduction_order::oihw ? reduction_order::ohwi : reduction_order::oihw;
        auto bad = pack(v, {.order = other, .name = layer.info.name});
        REQUIRE_FALSE(bad);
        CHECK(bad.error().message.find("tensor '" + layer.info.name + "'") != std::string::npos);
        auto w = pack(v, {.order = order, .name = layer.info.name});
        REQUIRE(w);
        const std::size_t rows = v.layout.rows, cols = v.layout.cols;
        const auto dense = decompress(v);  // columns in the layer's order, like the activations below
        for (std::size_t batch : {std::size_t{1}, std::size_t{5}}) {
          auto x = kt::random_vector(rng, batch * cols);
          std::vector<float> y(batch * rows);
          if (batch == 1)
            REQUIRE(gemv(*w, x, y));
          else
            REQUIRE(gemm(*w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)));
          check_rows(*w, v, dense, x, y, batch);
        }
        if (layer.info.shape.size() != 4) continue;
        // conv2d on a small image (stride 1, "same" padding), against a direct convolution on the oihw weights
        const std::size_t C = layer.info.shape[1], KH = layer.info.shape[2], KW = layer.info.shape[3];
        const conv2d_params p{.batch = 1, .in_channels = C, .height = 5, .width = 4, .out_channels = rows,
                              .kernel_h = KH, .kernel_w = KW, .pad_h = KH / 2, .pad_w = KW / 2};
        const auto w_oihw = io::from_reduction_order(dense, layer.info.shape, order);
        auto img = kt::random_vector(rng, p.input_size());
        std::vector<float> got(p.output_size());
        REQUIRE(conv2d(std::span<const any_packed>(&*w, 1), p, img, got));
        const bool lut = w->name().starts_with("vq_nibble");
        std::vector<float> patch(cols), patch_layer(cols);
        for (std::size_t oy = 0; oy < p.out_h(); ++oy)
          for (std::size_t ox = 0; ox < p.out_w(); ++ox) {
            std::size_t k = 0;
            for (std::size_t c = 0; c < C; ++c)
              for (std::size_t ky = 0; ky < KH; ++ky)
                for (std::size_t kx = 0; kx < KW; ++kx, ++k) {
                  const long iy = long(oy + ky) - long(p.pad_h), ix = long(ox + kx) - long(p.pad_w);
                  patch[k] = iy >= 0 && iy < long(p.height) && ix >= 0 && ix < long(p.width)
                                 ? img[(c * p.height + std::size_t(iy)) * p.width + std::size_t(ix)]
                                 : 0.0f;
                }
            REQUIRE(reorder_columns(matrix_view<const float>(patch.data(), 1, cols), C, reduction_order::oihw, order,
                                    matrix_view<float>(patch_layer.data(), 1, cols)));
            const double extra = lut ? lut_bound(v, patch_layer.data()) : 0.0;
            for (std::size_t o = 0; o < rows; ++o) {
              double want = 0, mag = 0;
              for (std::size_t c = 0; c < cols; ++c) {
                want += double(w_oihw[o * cols + c]) * patch[c];
                mag += std::fabs(double(w_oihw[o * cols + c]) * patch[c]);
              }
              const float g = got[(o * p.out_h() + oy) * p.out_w() + ox];
              if (std::fabs(g - want) > 1e-5 * (mag + 1e-6) + extra) {
                INFO("conv2d output channel " << o << " at (" << oy << ", " << ox << ")");
                REQUIRE(std::fabs(g - want) <= 1e-5 * (mag + 1e-6) + extra);
              }
            }
          }
      }
    }
  std::filesystem::remove_all(dir);
}
}  // namespace

TEST_CASE("ppocr_cls: every eligible layer, both orders, through the file, pack, gemv/gemm and conv2d",
          "[kernel][models]") {
  run_model("ppocr_cls.safetensors");
}

TEST_CASE("ppocr_det: every eligible layer, both orders, through the file, pack, gemv/gemm and conv2d",
          "[kernel][models]") {
  run_model("ppocr_det.safetensors");
}
