#pragma once
/// @file
/// Built-in network topologies for the emulator: ResNet-18, ResNet-50, VGG-16, MobileNet-V2 and AlexNet at a
/// 224×224 input (convolutions with their real padding, `conv_mode::padded`, so output sizes and MAC counts
/// are the standard ones; fully connected layers as GEMMs with M = 1), and one DiT-XL/2 transformer block as
/// GEMMs. Pooling, normalization and activation layers do no MACs and are not listed.
///
/// Sources of the shapes: He et al., "Deep residual learning for image recognition", CVPR 2016 (Table 1; the
/// ResNet-50 stride sits on the 3×3 convolution as in torchvision, 4.1 GMACs); Simonyan & Zisserman, "Very deep
/// convolutional networks", ICLR 2015 (configuration D); Sandler et al., "MobileNetV2", CVPR 2018 (Table 2,
/// width 1.0); Krizhevsky, "One weird trick for parallelizing CNNs", 2014 (the single-tower AlexNet of
/// torchvision: 64-192-384-256-256 filters); Peebles & Xie, "Scalable diffusion models with transformers",
/// ICCV 2023 (DiT-XL/2: hidden 1152, 16 heads, MLP ratio 4, patch 2, 256×256 images → 32×32 latents → 256
/// tokens; adaLN-Zero modulation of 6·hidden from the conditioning vector).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mvq/hw/layer.hpp"

namespace mvq::inline v0::hw {

/// One entry of a built-in topology (a `named_layer` that is a literal type).
struct topology_row {
  std::string_view name;  ///< layer name
  layer shape;            ///< the layer
  std::uint32_t repeat = 1;  ///< how many identical copies the network runs (e.g. attention heads)
  bool has_weights = true;   ///< false for activation × activation products (attention), which hold no weights
};

namespace detail::topo {

[[nodiscard]] constexpr layer conv(std::uint32_t hw, std::uint32_t k, std::uint32_t c, std::uint32_t n,
                                   std::uint32_t stride, std::uint32_t pad) noexcept {
  return layer::conv_padded(hw, hw, k, k, c, n, stride, pad);
}
[[nodiscard]] constexpr layer dw(std::uint32_t hw, std::uint32_t c, std::uint32_t stride) noexcept {
  return layer::depthwise_conv(hw, hw, 3, 3, c, stride, 1);
}
[[nodiscard]] constexpr layer fc(std::uint32_t in, std::uint32_t out) noexcept { return layer::gemm(1, out, in); }

// ResNet-18 (He et al. 2016, Table 1): 7×7/2 stem, 3×3 max pool, four stages of two basic blocks.
inline constexpr std::array resnet18{
    topology_row{"conv1", conv(224, 7, 3, 64, 2, 3)},
    topology_row{"layer1.0.conv1", conv(56, 3, 64, 64, 1, 1)},
    topology_row{"layer1.0.conv2", conv(56, 3, 64, 64, 1, 1)},
    topology_row{"layer1.1.conv1", conv(56, 3, 64, 64, 1, 1)},
    topology_row{"layer1.1.conv2", conv(56, 3, 64, 64, 1, 1)},
    topology_row{"layer2.0.conv1", conv(56, 3, 64, 128, 2, 1)},
    topology_row{"layer2.0.conv2", conv(28, 3, 128, 128, 1, 1)},
    topology_row{"layer2.0.downsample", conv(56, 1, 64, 128, 2, 0)},
    topology_row{"layer2.1.conv1", conv(28, 3, 128, 128, 1, 1)},
    topology_row{"layer2.1.conv2", conv(28, 3, 128, 128, 1, 1)},
    topology_row{"layer3.0.conv1", conv(28, 3, 128, 256, 2, 1)},
    topology_row{"layer3.0.conv2", conv(14, 3, 256, 256, 1, 1)},
    topology_row{"layer3.0.downsample", conv(28, 1, 128, 256, 2, 0)},
    topology_row{"layer3.1.conv1", conv(14, 3, 256, 256, 1, 1)},
    topology_row{"layer3.1.conv2", conv(14, 3, 256, 256, 1, 1)},
    topology_row{"layer4.0.conv1", conv(14, 3, 256, 512, 2, 1)},
    topology_row{"layer4.0.conv2", conv(7, 3, 512, 512, 1, 1)},
    topology_row{"layer4.0.downsample", conv(14, 1, 256, 512, 2, 0)},
    topology_row{"layer4.1.conv1", conv(7, 3, 512, 512, 1, 1)},
    topology_row{"layer4.1.conv2", conv(7, 3, 512, 512, 1, 1)},
    topology_row{"fc", fc(512, 1000)},
};

// One ResNet-50 bottleneck block: 1×1 reduce, 3×3 (carries the stride), 1×1 expand, optional projection.
struct bottleneck {
  std::uint32_t in_hw, in_c, width, stride;
  bool project;
};
inline constexpr std::array<bottleneck, 16> resnet50_blocks{{
    {56, 64, 64, 1, true}, {56, 256, 64, 1, false}, {56, 256, 64, 1, false},
    {56, 256, 128, 2, true}, {28, 512, 128, 1, false}, {28, 512, 128, 1, false}, {28, 512, 128, 1, false},
    {28, 512, 256, 2, true}, {14, 1024, 256, 1, false}, {14, 1024, 256, 1, false},
    {14, 1024, 256, 1, false}, {14, 1024, 256, 1, false}, {14, 1024, 256, 1, false},
    {14, 1024, 512, 2, true}, {7, 2048, 512, 1, false}, {7, 2048, 512, 1, false},
}};
inline constexpr std::array<std::string_view, 16 * 4> resnet50_names{
    "layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3", "layer1.0.downsample",
    "layer1.1.conv1", "layer1.1.conv2", "layer1.1.conv3", "",
    "layer1.2.conv1", "layer1.2.conv2", "layer1.2.conv3", "",
    "layer2.0.conv1", "layer2.0.conv2", "layer2.0.conv3", "layer2.0.downsample",
    "layer2.1.conv1", "layer2.1.conv2", "layer2.1.conv3", "",
    "layer2.2.conv1", "layer2.2.conv2", "layer2.2.conv3", "",
    "layer2.3.conv1", "layer2.3.conv2", "layer2.3.conv3", "",
    "layer3.0.conv1", "layer3.0.conv2", "layer3.0.conv3", "layer3.0.downsample",
    "layer3.1.conv1", "layer3.1.conv2", "layer3.1.conv3", "",
    "layer3.2.conv1", "layer3.2.conv2", "layer3.2.conv3", "",
    "layer3.3.conv1", "layer3.3.conv2", "layer3.3.conv3", "",
    "layer3.4.conv1", "layer3.4.conv2", "layer3.4.conv3", "",
    "layer3.5.conv1", "layer3.5.conv2", "layer3.5.conv3", "",
    "layer4.0.conv1", "layer4.0.conv2", "layer4.0.conv3", "layer4.0.downsample",
    "layer4.1.conv1", "layer4.1.conv2", "layer4.1.conv3", "",
    "layer4.2.conv1", "layer4.2.conv2", "layer4.2.conv3", "",
};
inline constexpr std::size_t resnet50_size = 1 + 16 * 3 + 4 + 1;
[[nodiscard]] consteval std::array<topology_row, resnet50_size> make_resnet50() {
  std::array<topology_row, resnet50_size> out{};
  std::size_t i = 0;
  out[i++] = {"conv1", conv(224, 7, 3, 64, 2, 3)};
  for (std::size_t b = 0; b < resnet50_blocks.size(); ++b) {
    auto const& k = resnet50_blocks[b];
    const std::uint32_t out_hw = k.in_hw / k.stride, out_c = 4 * k.width;
    out[i++] = {resnet50_names[4 * b + 0], conv(k.in_hw, 1, k.in_c, k.width, 1, 0)};
    out[i++] = {resnet50_names[4 * b + 1], conv(k.in_hw, 3, k.width, k.width, k.stride, 1)};
    out[i++] = {resnet50_names[4 * b + 2], conv(out_hw, 1, k.width, out_c, 1, 0)};
    if (k.project) out[i++] = {resnet50_names[4 * b + 3], conv(k.in_hw, 1, k.in_c, out_c, k.stride, 0)};
  }
  out[i++] = {"fc", fc(2048, 1000)};
  return out;
}
inline constexpr auto resnet50 = make_resnet50();

// VGG-16 (Simonyan & Zisserman 2015, configuration D): 13 3×3 convolutions with padding 1, 2×2 max pools.
inline constexpr std::array vgg16{
    topology_row{"conv1_1", conv(224, 3, 3, 64, 1, 1)},    topology_row{"conv1_2", conv(224, 3, 64, 64, 1, 1)},
    topology_row{"conv2_1", conv(112, 3, 64, 128, 1, 1)},  topology_row{"conv2_2", conv(112, 3, 128, 128, 1, 1)},
    topology_row{"conv3_1", conv(56, 3, 128, 256, 1, 1)},  topology_row{"conv3_2", conv(56, 3, 256, 256, 1, 1)},
    topology_row{"conv3_3", conv(56, 3, 256, 256, 1, 1)},  topology_row{"conv4_1", conv(28, 3, 256, 512, 1, 1)},
    topology_row{"conv4_2", conv(28, 3, 512, 512, 1, 1)},  topology_row{"conv4_3", conv(28, 3, 512, 512, 1, 1)},
    topology_row{"conv5_1", conv(14, 3, 512, 512, 1, 1)},  topology_row{"conv5_2", conv(14, 3, 512, 512, 1, 1)},
    topology_row{"conv5_3", conv(14, 3, 512, 512, 1, 1)},  topology_row{"fc6", fc(7 * 7 * 512, 4096)},
    topology_row{"fc7", fc(4096, 4096)},                   topology_row{"fc8", fc(4096, 1000)},
};

// MobileNet-V2 (Sandler et al. 2018, Table 2): rows (t, c, n, s) of inverted residual blocks.
struct ir_stage {
  std::uint32_t t, c, n, s;
};
inline constexpr std::array<ir_stage, 7> mobilenet_v2_stages{{
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
}};
// Layer names "features.<block>.<expand|dw|project>" as in torchvision; 17 blocks.
inline constexpr std::array<std::string_view, 17 * 3> mobilenet_v2_names{
    "features.1.expand",  "features.1.dw",  "features.1.project",
    "features.2.expand",  "features.2.dw",  "features.2.project",
    "features.3.expand",  "features.3.dw",  "features.3.project",
    "features.4.expand",  "features.4.dw",  "features.4.project",
    "features.5.expand",  "features.5.dw",  "features.5.project",
    "features.6.expand",  "features.6.dw",  "features.6.project",
    "features.7.expand",  "features.7.dw",  "features.7.project",
    "features.8.expand",  "features.8.dw",  "features.8.project",
    "features.9.expand",  "features.9.dw",  "features.9.project",
    "features.10.expand", "features.10.dw", "features.10.project",
    "features.11.expand", "features.11.dw", "features.11.project",
    "features.12.expand", "features.12.dw", "features.12.project",
    "features.13.expand", "features.13.dw", "features.13.project",
    "features.14.expand", "features.14.dw", "features.14.project",
    "features.15.expand", "features.15.dw", "features.15.project",
    "features.16.expand", "features.16.dw", "features.16.project",
    "features.17.expand", "features.17.dw", "features.17.project",
};
// stem + (block 1 has no expansion: 2 layers) + 16 blocks × 3 + final 1×1 + classifier
inline constexpr std::size_t mobilenet_v2_size = 1 + 2 + 16 * 3 + 1 + 1;
[[nodiscard]] consteval std::array<topology_row, mobilenet_v2_size> make_mobilenet_v2() {
  std::array<topology_row, mobilenet_v2_size> out{};
  std::size_t i = 0, block = 0;
  std::uint32_t hw = 112, c = 32;
  out[i++] = {"features.0", conv(224, 3, 3, 32, 2, 1)};
  for (auto const& st : mobilenet_v2_stages) {
    for (std::uint32_t r = 0; r < st.n; ++r, ++block) {
      const std::uint32_t s = r == 0 ? st.s : 1, hidden = c * st.t;
      if (st.t != 1) out[i++] = {mobilenet_v2_names[3 * block + 0], conv(hw, 1, c, hidden, 1, 0)};
      out[i++] = {mobilenet_v2_names[3 * block + 1], dw(hw, hidden, s)};
      hw = (hw + 2 - 3) / s + 1;
      out[i++] = {mobilenet_v2_names[3 * block + 2], conv(hw, 1, hidden, st.c, 1, 0)};
      c = st.c;
    }
  }
  out[i++] = {"features.18", conv(7, 1, 320, 1280, 1, 0)};
  out[i++] = {"classifier", fc(1280, 1000)};
  return out;
}
inline constexpr auto mobilenet_v2 = make_mobilenet_v2();

// AlexNet, single tower (Krizhevsky 2014; torchvision's alexnet): 3×3/2 max pools after conv1, conv2, conv5.
inline constexpr std::array alexnet{
    topology_row{"conv1", conv(224, 11, 3, 64, 4, 2)},  topology_row{"conv2", conv(27, 5, 64, 192, 1, 2)},
    topology_row{"conv3", conv(13, 3, 192, 384, 1, 1)}, topology_row{"conv4", conv(13, 3, 384, 256, 1, 1)},
    topology_row{"conv5", conv(13, 3, 256, 256, 1, 1)}, topology_row{"fc6", fc(256 * 6 * 6, 4096)},
    topology_row{"fc7", fc(4096, 4096)},                topology_row{"fc8", fc(4096, 1000)},
};

// One DiT-XL/2 block (Peebles & Xie 2023): T = 256 tokens, hidden 1152, 16 heads of 72, MLP 4608.
// out = in (M×K) · W (K×N). The attention products have no weights; they run once per head (repeat 16).
inline constexpr std::uint32_t dit_tokens = 256, dit_hidden = 1152, dit_heads = 16, dit_head_dim = 72;
inline constexpr std::array dit_xl2_block{
    topology_row{"adaLN_modulation", layer::gemm(1, 6 * dit_hidden, dit_hidden)},
    topology_row{"attn.qkv", layer::gemm(dit_tokens, 3 * dit_hidden, dit_hidden)},
    topology_row{"attn.q_kT", layer::gemm(dit_tokens, dit_tokens, dit_head_dim), dit_heads, false},
    topology_row{"attn.p_v", layer::gemm(dit_tokens, dit_head_dim, dit_tokens), dit_heads, false},
    topology_row{"attn.proj", layer::gemm(dit_tokens, dit_hidden, dit_hidden)},
    topology_row{"mlp.fc1", layer::gemm(dit_tokens, 4 * dit_hidden, dit_hidden)},
    topology_row{"mlp.fc2", layer::gemm(dit_tokens, dit_hidden, 4 * dit_hidden)},
};

}  // namespace detail::topo

/// A built-in topology: its name and rows.
struct builtin_topology {
  std::string_view name;             ///< "resnet18", "resnet50", "vgg16", "mobilenet_v2", "alexnet", "dit_xl2_block"
  std::span<const topology_row> rows;  ///< layers in execution order
  std::string_view description;      ///< one line: network, input, source
};

/// All built-in topologies.
inline constexpr std::array<builtin_topology, 6> builtin_topologies{{
    {"resnet18", detail::topo::resnet18, "ResNet-18, 224x224 (He et al., CVPR 2016)"},
    {"resnet50", detail::topo::resnet50, "ResNet-50 v1.5, 224x224 (He et al., CVPR 2016; torchvision)"},
    {"vgg16", detail::topo::vgg16, "VGG-16, 224x224 (Simonyan & Zisserman, ICLR 2015)"},
    {"mobilenet_v2", detail::topo::mobilenet_v2, "MobileNet-V2 1.0, 224x224 (Sandler et al., CVPR 2018)"},
    {"alexnet", detail::topo::alexnet, "AlexNet single tower, 224x224 (Krizhevsky 2014; torchvision)"},
    {"dit_xl2_block", detail::topo::dit_xl2_block,
     "one DiT-XL/2 block as GEMMs, 256 tokens (Peebles & Xie, ICCV 2023)"},
}};

/// The built-in topology called `name`, or nullptr.
[[nodiscard]] constexpr const builtin_topology* find_builtin_topology(std::string_view name) noexcept {
  for (auto const& t : builtin_topologies)
    if (t.name == name) return &t;
  return nullptr;
}

/// MACs of a topology (repeats included).
[[nodiscard]] constexpr std::uint64_t total_macs(std::span<const topology_row> rows) noexcept {
  std::uint64_t s = 0;
  for (auto const& r : rows) s += r.shape.macs() * r.repeat;
  return s;
}

/// A built-in topology as `named_layer`s, repeats expanded ("attn.q_kT.h3" for head 3).
[[nodiscard]] inline std::vector<named_layer> to_named_layers(std::span<const topology_row> rows) {
  std::vector<named_layer> out;
  for (auto const& r : rows) {
    if (r.repeat == 1) {
      out.push_back({std::string(r.name), r.shape});
    } else {
      for (std::uint32_t i = 0; i < r.repeat; ++i)
        out.push_back({std::string(r.name) + ".h" + std::to_string(i), r.shape});
    }
  }
  return out;
}

/// A built-in topology as a SCALE-Sim topology CSV, so SCALE-Sim itself can run the same network (the files in
/// hw/topologies/ are this text). Repeats are expanded. Networks made only of GEMMs use the GEMM form
/// `Layer, M, N, K,`; the others use the conv form, where a GEMM becomes a 1×1 convolution over an M × 1 ifmap
/// with K channels and N filters (SCALE-Sim's way of writing fully connected layers). SCALE-Sim has no padding,
/// so a padded convolution is written with the ifmap size H' = (E − 1)·stride + R that gives the same output size
/// E under SCALE-Sim's E = ⌈(H' − R + stride)/stride⌉ (the MACs and GEMM shapes are unchanged; the ifmap then
/// includes the zero border). Depthwise layers get a "_DP" suffix, SCALE-Sim's marker for depthwise rows.
[[nodiscard]] inline std::string to_scalesim_csv(std::span<const topology_row> rows) {
  bool all_gemm = true;
  for (auto const& r : rows) all_gemm = all_gemm && r.shape.kind == layer_kind::gemm;
  std::string out = all_gemm ? "Layer, M, N, K,\n"
                             : "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                               "Num Filter, Strides,\n";
  auto u = [](std::uint64_t v) { return std::to_string(v); };
  for (auto const& r : rows) {
    for (std::uint32_t i = 0; i < r.repeat; ++i) {
      std::string name(r.name);
      if (r.repeat > 1) name += ".h" + std::to_string(i);
      layer const& l = r.shape;
      if (all_gemm) {
        out += name + ", " + u(l.ifmap_h) + ", " + u(l.filters) + ", " + u(l.ifmap_w) + ",\n";
        continue;
      }
      if (l.kind == layer_kind::gemm) {
        out += name + ", " + u(l.ifmap_h) + ", 1, 1, 1, " + u(l.ifmap_w) + ", " + u(l.filters) + ", 1,\n";
        continue;
      }
      if (l.kind == layer_kind::depthwise && name.find("DP") == std::string::npos) name += "_DP";
      const std::uint64_t h = (std::uint64_t{l.ofmap_h()} - 1) * l.stride_h + l.filter_h;
      const std::uint64_t w = (std::uint64_t{l.ofmap_w()} - 1) * l.stride_w + l.filter_w;
      out += name + ", " + u(h) + ", " + u(w) + ", " + u(l.filter_h) + ", " + u(l.filter_w) + ", " + u(l.channels) +
             ", " + u(l.filters) + ", " + u(l.stride_h);
      if (l.stride_w != l.stride_h) out += ", " + u(l.stride_w);
      out += ",\n";
    }
  }
  return out;
}

}  // namespace mvq::inline v0::hw
