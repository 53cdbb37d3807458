// Quality of plain k-means VQ against MVQ (N:M pruning + masked k-means) at matched bits per weight, on the
// shared pretrained models ppocr_det (with its calibration rows) and faceapi_resnet34.
//
// Every eligible layer is compressed with both methods: ungrouped conv / linear weights (depthwise, grouped and
// ConvTranspose weights stay dense) with at least 4096 weights whose reduction length is a multiple of 16, so
// every configuration below sees the same layers. Codebooks are int8 (MVQ quantizes its codebooks to 8 bits),
// one per layer. Reported, pooled over the layers of a model:
//   bits/weight   all stored bits (indices + masks + codebook + scale) / dense weights
//   weight SQNR   10·log10 Σ‖W‖² / Σ‖W − Ŵ‖²
//   output SNR    10·log10 Σ‖XWᵀ‖² / Σ‖X(W − Ŵ)ᵀ‖² over the calibration rows X (ppocr_det only)
//   top-25% SQNR  the weight SQNR restricted to each layer's 25 % largest-magnitude weights
// For ppocr_det the MVQ runs prune activation-aware (|w|·‖x_col‖₂), as `mvq compress --calib` does.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mvq/io/safetensors.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/nm_prune.hpp"
#include "mvq/quant/subvectors.hpp"

namespace {

using mvq::quant::compress_options;
using mvq::quant::method;

struct config {
  std::string label;
  compress_options opt;
};

struct layer {
  std::string name;
  std::size_t rows = 0, cols = 0;
  std::vector<float> w;
  std::vector<float> calib;  // n × cols, may be empty
  std::size_t calib_rows = 0;
};

struct totals {
  double bits = 0, weights = 0, w2 = 0, e2 = 0, y2 = 0, ye2 = 0, top_w2 = 0, top_e2 = 0, seconds = 0;
  int layers = 0, layers_won = 0;  // layers where this config has the higher weight SQNR than its partner
};

double db(double num, double den) { return den > 0 ? 10.0 * std::log10(num / den) : INFINITY; }

std::vector<layer> load_layers(std::filesystem::path const& file, std::filesystem::path const& calib_file) {
  std::vector<layer> out;
  auto f = mvq::io::safetensors_file::open(file);
  if (!f) {
    std::fprintf(stderr, "quality_study: %s\n", f.error().what().c_str());
    return out;
  }
  std::optional<mvq::io::safetensors_file> cf;
  if (!calib_file.empty()) {
    auto c = mvq::io::safetensors_file::open(calib_file);
    if (c) cf = std::move(*c);
  }
  for (auto const& t : f->tensors()) {
    std::optional<std::uint64_t> group;
    bool transpose = false;
    if (auto it = f->metadata().find(t.name); it != f->metadata().end()) {
      auto j = nlohmann::json::parse(it->second, nullptr, false);
      if (j.is_object()) {
        if (auto g = j.find("group"); g != j.end() && g->is_number_unsigned()) group = g->get<std::uint64_t>();
        if (auto op = j.find("op"); op != j.end() && op->is_string()) transpose = op->get<std::string>() == "ConvTranspose";
      }
    }
    auto li = mvq::quant::classify_layer(t.shape, group, transpose);
    if (!mvq::quant::compressed_by_default(li.kind) || li.cols % 16 != 0 || li.rows * li.cols < 4096) continue;
    auto w = f->read_f32(t.name);
    if (!w) continue;
    layer l{t.name, li.rows, li.cols, std::move(*w), {}, 0};
    if (cf && cf->find(t.name)) {
      auto x = cf->read_f32(t.name);
      if (x && x->size() % li.cols == 0) {
        l.calib_rows = x->size() / li.cols;
        l.calib = std::move(*x);
      }
    }
    out.push_back(std::move(l));
  }
  return out;
}

// Compresses every layer with `c`; per-layer weight SQNR goes to `sqnr` for the win count.
totals run(std::vector<layer> const& layers, config const& c, std::vector<double>& sqnr) {
  totals t;
  sqnr.clear();
  for (auto const& l : layers) {
    mvq::matrix_view<const float> wv(l.w.data(), l.rows, l.cols);
    mvq::matrix_view<const float> xv(l.calib.data(), l.calib_rows, l.cols);
    mvq::quant::layer_stats st;
    auto cm = mvq::quant::compress(wv, c.opt, xv, &st);
    if (!cm) {
      std::fprintf(stderr, "quality_study: %s: %s\n", l.name.c_str(), cm.error().what().c_str());
      continue;
    }
    auto what = mvq::decompress(cm->view());
    std::vector<float> mag(l.w.size());
    for (std::size_t i = 0; i < mag.size(); ++i) mag[i] = std::fabs(l.w[i]);
    auto sorted = mag;
    const std::size_t cut = sorted.size() - sorted.size() / 4;  // the top quarter starts here
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(cut), sorted.end());
    const float thr = sorted[cut];
    for (std::size_t i = 0; i < mag.size(); ++i)
      if (mag[i] >= thr) {
        const double e = static_cast<double>(l.w[i]) - what[i];
        t.top_w2 += static_cast<double>(l.w[i]) * l.w[i];
        t.top_e2 += e * e;
      }
    t.bits += static_cast<double>(cm->layout.stored_bits());
    t.weights += static_cast<double>(l.w.size());
    t.w2 += st.weight_norm2;
    t.e2 += st.weight_err2;
    if (st.output_norm2) {
      t.y2 += *st.output_norm2;
      t.ye2 += *st.output_err2;
    }
    t.seconds += st.seconds;
    ++t.layers;
    sqnr.push_back(db(st.weight_norm2, st.weight_err2));
  }
  return t;
}

std::string fmt(double v, int prec = 2) {
  if (!std::isfinite(v)) return "–";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path models = "../shared/models";
  if (const char* e = std::getenv("MVQ_MODELS_DIR"); e && *e) models = e;
  std::string out_path;
  unsigned threads = 2;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--models") && i + 1 < argc) models = argv[++i];
    else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = static_cast<unsigned>(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: quality_study [--models DIR] [--out FILE.md] [--threads T]\n");
      return 2;
    }
  }
  auto base = [&](method m, std::uint32_t k, std::uint32_t d, mvq::nm_pattern nm) {
    compress_options o;
    o.method = m;
    o.vq = {k, static_cast<std::uint8_t>(d)};
    o.nm = nm;
    o.codebook = mvq::codebook_dtype::i8;
    o.seed = 1;
    o.threads = threads;
    return o;
  };
  const mvq::nm_pattern s24{2, 4};
  // (kmeans, mvq) pairs matched within ±5 % in measured bits/weight on both models (index + mask + codebook
  // bits; for the first pair the codebooks hold the same number of entries, K·d = 8192). The last pair is the
  // one suggested in the issue; there MVQ stores 8–15 % fewer bits, so it is not a matched comparison.
  std::vector<std::pair<config, config>> pairs = {
      {{"kmeans K=1024 d=8", base(method::kmeans, 1024, 8, {})}, {"mvq 2:4 K=512 d=16", base(method::mvq, 512, 16, s24)}},
      {{"kmeans K=16 d=4", base(method::kmeans, 16, 4, {})}, {"mvq 2:4 K=16 d=16", base(method::mvq, 16, 16, s24)}},
      {{"kmeans K=16 d=2", base(method::kmeans, 16, 2, {})}, {"mvq 2:4 K=32 d=4", base(method::mvq, 32, 4, s24)}},
      {{"kmeans K=1024 d=8", base(method::kmeans, 1024, 8, {})},
       {"mvq 2:4 K=256 d=16 (unmatched)", base(method::mvq, 256, 16, s24)}},
  };
  struct model {
    std::string name, file, calib;
  };
  std::vector<model> list = {{"ppocr_det", "ppocr_det.safetensors", "ppocr_det_calib.safetensors"},
                             {"faceapi_resnet34", "faceapi_resnet34.safetensors", ""}};
  std::ostringstream md;
  md << "| model | layers | method | bits/weight | weight SQNR (dB) | output SNR (dB) | top-25% SQNR (dB) | "
        "layers won | seconds |\n|---|---|---|---|---|---|---|---|---|\n";
  for (auto const& m : list) {
    auto layers = load_layers(models / m.file, m.calib.empty() ? std::filesystem::path{} : models / m.calib);
    if (layers.empty()) {
      std::fprintf(stderr, "quality_study: no layers from %s (is the models folder at %s?)\n", m.file.c_str(),
                   models.string().c_str());
      return 1;
    }
    double weights = 0;
    for (auto const& l : layers) weights += static_cast<double>(l.w.size());
    {  // reference: 2:4 pruning alone (kept weights exact), the ceiling of MVQ before any clustering error
      totals t;
      for (auto const& l : layers) {
        mvq::matrix_view<const float> wv(l.w.data(), l.rows, l.cols), xv(l.calib.data(), l.calib_rows, l.cols);
        auto mask = mvq::quant::nm_prune(wv, s24, xv).value();
        std::vector<float> mag(l.w.size());
        for (std::size_t i = 0; i < mag.size(); ++i) mag[i] = std::fabs(l.w[i]);
        auto sorted = mag;
        const std::size_t cut = sorted.size() - sorted.size() / 4;
        std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(cut), sorted.end());
        for (std::size_t r = 0; r < l.rows; ++r)
          for (std::size_t c = 0; c < l.cols; ++c) {
            const double w = l.w[r * l.cols + c], e = mask.kept(r, c) ? 0.0 : w;
            t.w2 += w * w;
            t.e2 += e * e;
            if (mag[r * l.cols + c] >= sorted[cut]) {
              t.top_w2 += w * w;
              t.top_e2 += e * e;
            }
          }
        if (l.calib_rows > 0) {
          std::vector<float> pruned(l.w);
          for (std::size_t i = 0; i < pruned.size(); ++i)
            if (!mask.kept(i / l.cols, i % l.cols)) pruned[i] = 0.0f;
          double y2 = 0, e2 = 0;
          mvq::thread_pool pool(std::max(1u, threads));
          mvq::quant::detail::output_energy<mvq::default_simd_arch>(xv, wv, pruned, pool, y2, e2);
          t.y2 += y2;
          t.ye2 += e2;
        }
      }
      md << "| " << m.name << " | " << layers.size() << " (" << fmt(weights / 1e6, 2)
         << " M weights) | 2:4 pruning alone (reference) | 16.75 | " << fmt(db(t.w2, t.e2)) << " | "
         << (t.y2 > 0 ? fmt(db(t.y2, t.ye2)) : std::string("–")) << " | " << fmt(db(t.top_w2, t.top_e2))
         << " | – | – |\n";
    }
    for (auto const& [a, b] : pairs) {
      std::vector<double> sa, sb;
      totals ta = run(layers, a, sa), tb = run(layers, b, sb);
      for (std::size_t i = 0; i < sa.size() && i < sb.size(); ++i) {
        ta.layers_won += sa[i] > sb[i];
        tb.layers_won += sb[i] > sa[i];
      }
      for (auto const* p : {&a, &b}) {
        totals const& t = p == &a ? ta : tb;
        md << "| " << m.name << " | " << t.layers << " (" << fmt(weights / 1e6, 2) << " M weights) | " << p->label
           << " | " << fmt(t.bits / t.weights, 3) << " | " << fmt(db(t.w2, t.e2)) << " | "
           << (t.y2 > 0 ? fmt(db(t.y2, t.ye2)) : std::string("–")) << " | " << fmt(db(t.top_w2, t.top_e2)) << " | "
           << t.layers_won << "/" << t.layers << " | " << fmt(t.seconds, 1) << " |\n";
      }
      std::fprintf(stderr, "%s: %s vs %s done\n", m.name.c_str(), a.label.c_str(), b.label.c_str());
    }
  }
  std::cout << md.str();
  if (!out_path.empty()) {
    std::ofstream f(out_path);
    f << md.str();
    if (!f) {
      std::fprintf(stderr, "quality_study: cannot write %s\n", out_path.c_str());
      return 1;
    }
  }
  return 0;
}
