#pragma once
/// @file
/// `hw::layer`: one network layer as the emulator sees it (convolution, GEMM or depthwise convolution), plus
/// `named_layer`, the entry of a topology. A layer is a literal type, so `hw::cycles<cfg>(layer)` is a
/// constant expression for a `constexpr` layer.

#include <cstdint>
#include <string>
#include <string_view>

#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"

namespace mvq::inline v0::hw {

/// What a layer computes.
enum class layer_kind : std::uint8_t {
  conv,       ///< dense convolution: every filter sees every channel
  gemm,       ///< matrix product M×K · K×N (SCALE-Sim's `Layer, M, N, K,` form)
  depthwise,  ///< depthwise convolution: each channel has its own `filters` filters (SCALE-Sim: split per channel)
};

/// How output sizes of a convolution are computed.
enum class conv_mode : std::uint8_t {
  scalesim,  ///< SCALE-Sim: no padding, E = ⌈(H − R + stride) / stride⌉ (partial windows at the border count)
  padded,    ///< real networks: E = ⌊(H + 2·pad − R) / stride⌋ + 1 (PyTorch's Conv2d)
};

/// One layer. Convolutions use the SCALE-Sim topology fields; GEMMs are stored the way SCALE-Sim stores them
/// (ifmap M×K, filter 1×K, one channel, N filters, stride 1), so every layer maps through one formula.
struct layer {
  layer_kind kind = layer_kind::conv;   ///< conv, gemm or depthwise
  conv_mode mode = conv_mode::scalesim;  ///< output-size convention (conv and depthwise only)
  std::uint32_t ifmap_h = 1;             ///< IFMAP Height
  std::uint32_t ifmap_w = 1;             ///< IFMAP Width
  std::uint32_t filter_h = 1;            ///< Filter Height (R)
  std::uint32_t filter_w = 1;            ///< Filter Width (S)
  std::uint32_t channels = 1;            ///< Channels (C)
  std::uint32_t filters = 1;             ///< Num Filter (N); filters per channel for depthwise layers
  std::uint32_t stride_h = 1;            ///< vertical stride
  std::uint32_t stride_w = 1;            ///< horizontal stride
  std::uint32_t pad_h = 0;               ///< zero padding on top and bottom (padded mode only)
  std::uint32_t pad_w = 0;               ///< zero padding left and right (padded mode only)
  nm_pattern sparsity{};                 ///< per-layer N:M pattern of the weights (SCALE-Sim v3 `Sparsity` column)

  friend constexpr bool operator==(layer const&, layer const&) = default;

  /// A GEMM: out (M×N) = in (M×K) · W (K×N).
  [[nodiscard]] static constexpr layer gemm(std::uint32_t m, std::uint32_t n, std::uint32_t k,
                                            nm_pattern sparsity = {}) noexcept {
    return layer{.kind = layer_kind::gemm, .ifmap_h = m, .ifmap_w = k, .filter_h = 1, .filter_w = k,
                 .channels = 1, .filters = n, .sparsity = sparsity};
  }
  /// A convolution in SCALE-Sim's convention (no padding).
  [[nodiscard]] static constexpr layer conv(std::uint32_t h, std::uint32_t w, std::uint32_t r, std::uint32_t s,
                                            std::uint32_t c, std::uint32_t n, std::uint32_t stride = 1) noexcept {
    return layer{.ifmap_h = h, .ifmap_w = w, .filter_h = r, .filter_w = s, .channels = c, .filters = n,
                 .stride_h = stride, .stride_w = stride};
  }
  /// A convolution with zero padding `pad` on every side (PyTorch's output size).
  [[nodiscard]] static constexpr layer conv_padded(std::uint32_t h, std::uint32_t w, std::uint32_t r,
                                                   std::uint32_t s, std::uint32_t c, std::uint32_t n,
                                                   std::uint32_t stride, std::uint32_t pad) noexcept {
    return layer{.mode = conv_mode::padded, .ifmap_h = h, .ifmap_w = w, .filter_h = r, .filter_w = s,
                 .channels = c, .filters = n, .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad};
  }
  /// A depthwise convolution: `c` channels, each convolved with its own `multiplier` filters.
  [[nodiscard]] static constexpr layer depthwise_conv(std::uint32_t h, std::uint32_t w, std::uint32_t r,
                                                      std::uint32_t s, std::uint32_t c, std::uint32_t stride = 1,
                                                      std::uint32_t pad = 0, std::uint32_t multiplier = 1) noexcept {
    return layer{.kind = layer_kind::depthwise, .mode = pad ? conv_mode::padded : conv_mode::scalesim,
                 .ifmap_h = h, .ifmap_w = w, .filter_h = r, .filter_w = s, .channels = c, .filters = multiplier,
                 .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad};
  }

  /// Output rows E_h. SCALE-Sim: ⌈(H − R + s)/s⌉ (topology_utils.py); padded: ⌊(H + 2p − R)/s⌋ + 1.
  [[nodiscard]] constexpr std::uint32_t ofmap_h() const noexcept { return out_size(ifmap_h, filter_h, stride_h, pad_h); }
  /// Output columns E_w.
  [[nodiscard]] constexpr std::uint32_t ofmap_w() const noexcept { return out_size(ifmap_w, filter_w, stride_w, pad_w); }
  /// Output pixels per filter, E_h·E_w.
  [[nodiscard]] constexpr std::uint64_t ofmap_pixels() const noexcept { return std::uint64_t{ofmap_h()} * ofmap_w(); }
  /// MACs of the layer (SCALE-Sim's `num_mac`; depthwise layers count every channel once).
  [[nodiscard]] constexpr std::uint64_t macs() const noexcept {
    const std::uint64_t window = std::uint64_t{filter_h} * filter_w * (kind == layer_kind::depthwise ? 1u : channels);
    const std::uint64_t outs = std::uint64_t{filters} * (kind == layer_kind::depthwise ? channels : 1u);
    return ofmap_pixels() * window * outs;
  }

 private:
  [[nodiscard]] constexpr std::uint32_t out_size(std::uint32_t in, std::uint32_t f, std::uint32_t s,
                                                 std::uint32_t p) const noexcept {
    if (mode == conv_mode::padded) {
      const std::uint64_t span = std::uint64_t{in} + 2ull * p;
      return span < f ? 0u : static_cast<std::uint32_t>((span - f) / s + 1);
    }
    return in < f ? 0u : static_cast<std::uint32_t>((std::uint64_t{in} - f + s + s - 1) / s);
  }
};

/// Operand-matrix sides must stay below this (keeps every product of two sides below 2^62).
inline constexpr std::uint64_t max_layer_extent = std::uint64_t{1} << 31;

/// Empty when `l` is a valid layer, else a sentence saying what is wrong.
[[nodiscard]] constexpr const char* check(layer const& l) noexcept {
  if (l.ifmap_h < 1 || l.ifmap_w < 1) return "layer: the ifmap must be at least 1×1.";
  if (l.filter_h < 1 || l.filter_w < 1) return "layer: the filter must be at least 1×1.";
  if (l.channels < 1) return "layer: channels must be at least 1.";
  if (l.filters < 1) return "layer: the number of filters must be at least 1.";
  if (l.stride_h < 1 || l.stride_w < 1) return "layer: strides must be at least 1.";
  if (l.mode == conv_mode::scalesim && (l.pad_h != 0 || l.pad_w != 0))
    return "layer: padding needs conv_mode::padded; the SCALE-Sim convention has no padding.";
  if (l.mode == conv_mode::scalesim && (l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w))
    return "layer: the filter must not be larger than the ifmap (SCALE-Sim convention, no padding).";
  if (l.mode == conv_mode::padded && (std::uint64_t{l.filter_h} > std::uint64_t{l.ifmap_h} + 2ull * l.pad_h ||
                                      std::uint64_t{l.filter_w} > std::uint64_t{l.ifmap_w} + 2ull * l.pad_w))
    return "layer: the filter must not be larger than the padded ifmap.";
  if (const char* e = mvq::check(l.sparsity); *e) return e;
  const std::uint64_t window = std::uint64_t{l.filter_h} * l.filter_w * l.channels;
  if (l.ofmap_pixels() >= max_layer_extent || window >= max_layer_extent)
    return "layer: the output pixels and the window size must each stay below 2^31.";
  if (l.filters >= max_layer_extent) return "layer: the number of filters must stay below 2^31.";
  // Every product of the models (M·N·K, times folds and groups) stays below 2^63.
  const std::uint64_t mn = l.ofmap_pixels() * l.filters;
  if (window != 0 && mn > (std::uint64_t{1} << 52) / window)
    return "layer: the layer's MAC count must stay below 2^52.";
  return "";
}

/// Runtime form of `check`: the error names the layer.
[[nodiscard]] inline result<void> validate(layer const& l, std::string_view name = "layer") {
  if (const char* e = check(l); *e) return fail(errc::invalid_argument, std::string(name) + ": " + e);
  return {};
}

/// A layer with its name: one row of a topology.
struct named_layer {
  std::string name;  ///< layer name as written in the topology
  layer shape;       ///< the layer
};

/// "conv", "gemm", "depthwise".
[[nodiscard]] constexpr std::string_view to_string(layer_kind k) noexcept {
  switch (k) {
    case layer_kind::conv: return "conv";
    case layer_kind::gemm: return "gemm";
    case layer_kind::depthwise: return "depthwise";
  }
  return "?";
}

}  // namespace mvq::inline v0::hw
