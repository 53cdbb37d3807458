#pragma once
// The per-layer part of `mvq compress`: one weight matrix (already in its reduction order) and, when
// calibration is given, its input statistics H, compressed by one method at one configuration. Everything a
// method needs is here, so cmd_compress.cpp only plans layers, allocates a bit budget and writes the file.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mvq/core/calibration.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/scalar_matrix.hpp"
#include "mvq/quant/codebook_finetune.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/gptq.hpp"
#include "mvq/quant/gptvq.hpp"
#include "mvq/quant/linalg.hpp"
#include "mvq/quant/vq4dit.hpp"

namespace mvq_cli {

/// The methods `mvq compress --method` accepts.
enum class method { kmeans, mvq, gptq, gptvq, vq4dit };

[[nodiscard]] inline const char* to_string(method m) noexcept {
  switch (m) {
    case method::kmeans: return "kmeans";
    case method::mvq: return "mvq";
    case method::gptq: return "gptq";
    case method::gptvq: return "gptvq";
    case method::vq4dit: return "vq4dit";
  }
  return "?";
}

[[nodiscard]] inline std::optional<method> parse_method(std::string const& s) {
  for (auto m : {method::kmeans, method::mvq, method::gptq, method::gptvq, method::vq4dit})
    if (s == to_string(m)) return m;
  return std::nullopt;
}

/// True for the methods that minimise the layer-output error and therefore need H.
[[nodiscard]] constexpr bool output_aware(method m) noexcept {
  return m == method::gptq || m == method::gptvq || m == method::vq4dit;
}

/// One configuration of one method (what a bit-budget candidate varies: K or bits).
struct layer_config {
  method how = method::mvq;
  mvq::vq_config vq{256, 8};
  mvq::nm_pattern nm{};
  mvq::mask_encoding masks = mvq::mask_encoding::none;
  mvq::codebook_dtype codebook = mvq::codebook_dtype::f32;
  unsigned bits = 4;          // gptq
  std::uint32_t group = 0;    // gptq: 0 = per output channel
  bool symmetric = true;      // gptq
  bool act_order = false;     // gptq
  bool finetune = false;      // kmeans, mvq, gptvq: codebook fine-tuning on the layer output
  unsigned candidates = 2;    // vq4dit
  unsigned iters = 0;         // vq4dit (0 = its default)
  std::uint64_t seed = 0;
  bool dense = false;         // keep the layer as it is (a bit-budget candidate)
};

/// "gptq 4-bit g64", "gptvq K256 d4 2:4 +ft", "dense".
[[nodiscard]] inline std::string label(layer_config const& c) {
  if (c.dense) return "dense";
  std::string s = to_string(c.how);
  if (c.how == method::gptq) {
    s += " " + std::to_string(c.bits) + "-bit" + (c.group ? " g" + std::to_string(c.group) : "");
    if (!c.symmetric) s += " affine";
    return s;
  }
  s += " K" + std::to_string(c.vq.codebook_size) + " d" + std::to_string(c.vq.subvector_dim);
  if (!c.nm.dense()) s += " " + mvq::to_string(c.nm);
  if (c.finetune) s += " +ft";
  return s;
}

/// The damping of H under --finetune-codebook, as a fraction of its mean diagonal (GPTQ's default).
inline constexpr double finetune_damping = 0.01;

/// A compressed layer: VQ family (kmeans, mvq, gptvq, vq4dit) or scalar (gptq); monostate = kept dense.
struct layer_candidate {
  layer_config config;
  std::variant<std::monostate, mvq::compressed_matrix, mvq::scalar_matrix> matrix;
  std::uint64_t bits = 0;        // stored bits (dense: the input tensor's bits)
  double weight_norm2 = 0, weight_err2 = 0;
  std::optional<double> output_norm2, output_err2;  // from H, when the layer has statistics
  double seconds = 0;
  std::uint32_t k = 0;           // the K actually used (VQ family)

  [[nodiscard]] double relative_output_error() const {
    return output_norm2 && *output_norm2 > 0 ? *output_err2 / *output_norm2 : 0.0;
  }
};

/// The dense reconstruction of a candidate (rows × cols, in the layer's reduction order).
[[nodiscard]] inline std::vector<float> reconstruct(layer_candidate const& c, mvq::matrix_view<const float> w) {
  if (auto const* m = std::get_if<mvq::compressed_matrix>(&c.matrix)) return mvq::decompress(m->view());
  if (auto const* s = std::get_if<mvq::scalar_matrix>(&c.matrix)) return mvq::decompress(s->view());
  std::vector<float> out(w.rows() * w.cols());
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t j = 0; j < w.cols(); ++j) out[r * w.cols() + j] = w(r, j);
  return out;
}

/// Compresses `w` with `cfg`. `h` (cols × cols) is the layer's input Gram matrix or empty; `rows` are raw
/// calibration rows (kmeans/mvq use them for activation-aware pruning) or empty. Output-aware methods need `h`.
template <class E>
[[nodiscard]] mvq::result<layer_candidate> compress_layer(mvq::matrix_view<const float> w, layer_config const& cfg,
                                                          std::span<const double> h,
                                                          mvq::matrix_view<const float> rows,
                                                          mvq::reduction_order order, std::uint64_t dense_bits,
                                                          E& ex) {
  namespace quant = mvq::quant;
  const auto t0 = std::chrono::steady_clock::now();
  layer_candidate out;
  out.config = cfg;
  if (cfg.dense) {
    out.bits = dense_bits;
  } else if (cfg.how == method::gptq) {
    quant::gptq_options o{.bits = cfg.bits, .group = cfg.group, .symmetric = cfg.symmetric, .act_order = cfg.act_order,
                          .order = order};
    auto m = quant::gptq(w, h, o, ex);
    if (!m) return tl::unexpected(m.error());
    out.bits = m->layout.stored_bits();
    out.matrix = std::move(*m);
  } else {
    mvq::compressed_matrix cm;
    if (cfg.how == method::gptvq) {
      quant::gptvq_options o{.vq = cfg.vq, .nm = cfg.nm, .masks = cfg.masks, .codebook = cfg.codebook,
                             .seed = cfg.seed, .order = order};
      auto m = quant::gptvq(w, h, o, ex);
      if (!m) return tl::unexpected(m.error());
      cm = std::move(*m);
    } else {
      quant::compress_options o{.method = cfg.how == method::mvq ? quant::method::mvq : quant::method::kmeans,
                                .vq = cfg.vq,
                                .nm = cfg.how == method::mvq ? cfg.nm : mvq::nm_pattern{},
                                .order = order,
                                .masks = cfg.how == method::mvq ? cfg.masks : mvq::mask_encoding::none,
                                .codebook = cfg.codebook,
                                .seed = cfg.seed};
      if (cfg.how == method::vq4dit) {
        quant::vq4dit_options vo;
        vo.candidates = cfg.candidates;
        if (cfg.iters) vo.iters = cfg.iters;
        auto m = quant::vq4dit(w, h, o, vo, ex);
        if (!m) return tl::unexpected(m.error());
        cm = std::move(*m);
      } else {
        auto m = quant::compress(w, o, rows, nullptr, ex);
        if (!m) return tl::unexpected(m.error());
        cm = std::move(*m);
      }
    }
    if (cfg.finetune) {
      // On H + λI with GPTQ's 1 % damping: with fewer calibration rows than columns H is singular, and the
      // undamped least-squares codebook fits those rows at the expense of every other input.
      std::vector<double> hd(h.begin(), h.end());
      const std::size_t n = w.cols();
      double mean_diag = 0;
      for (std::size_t j = 0; j < n; ++j) mean_diag += hd[j * n + j];
      for (std::size_t j = 0; j < n; ++j) hd[j * n + j] += finetune_damping * mean_diag / static_cast<double>(n);
      if (auto r = quant::finetune_codebook(cm, w, hd, quant::finetune_options{}, ex); !r)
        return tl::unexpected(r.error());
    }
    out.k = cm.layout.k();
    out.bits = cm.layout.stored_bits();
    out.matrix = std::move(cm);
  }
  // Statistics from the stored result itself, in double.
  const auto what = reconstruct(out, w);
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t j = 0; j < w.cols(); ++j) {
      const double a = w(r, j), e = a - static_cast<double>(what[r * w.cols() + j]);
      out.weight_norm2 += a * a;
      out.weight_err2 += e * e;
    }
  if (!h.empty()) {
    out.output_norm2 = quant::output_energy(w, h, ex);
    out.output_err2 = quant::output_error(w, what, h, ex);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace mvq_cli
