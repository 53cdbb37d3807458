#pragma once
// The built-in demo network of `mvq demo`: the weights of a small convolutional classifier (3×32×32 input,
// two conv layers, a depthwise conv, a linear head) in several dtypes, generated from a seed with a portable
// generator so the same seed gives the same bytes on every platform.

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mvq/core/error.hpp"
#include "mvq/core/float_formats.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/version.hpp"

namespace mvq_cli {

/// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): fixed
/// output on every platform, unlike the std distributions.
class splitmix64 {
public:
  explicit splitmix64(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1], 53-bit resolution.
  double uniform() { return (static_cast<double>(next() >> 11) + 1.0) * 0x1p-53; }
  /// Standard normal by Box–Muller (one of the pair is used; portability matters more than speed here).
  double normal() {
    constexpr double two_pi = 6.283185307179586;
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(two_pi * uniform());
  }

private:
  std::uint64_t s_;
};

/// One tensor of the demo network.
struct demo_tensor {
  std::string name;
  mvq::io::dtype type;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;  // little-endian raw elements
  std::string description;      // JSON stored under the tensor's name in __metadata__
};

namespace detail {

inline std::uint64_t count(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

template <class U>
void put(std::vector<std::byte>& out, U bits) {
  for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<std::byte>((bits >> (8 * i)) & 0xffu));
}

/// He-initialised weights (He et al., ICCV 2015: std = sqrt(2 / fan_in)) stored as `type`.
inline std::vector<std::byte> he_weights(splitmix64& rng, mvq::io::dtype type, std::uint64_t n, std::uint64_t fan_in) {
  using mvq::io::dtype;
  const double sd = std::sqrt(2.0 / static_cast<double>(fan_in));
  std::vector<std::byte> out;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto v = static_cast<float>(rng.normal() * sd);
    switch (type) {
      case dtype::f64: put(out, std::bit_cast<std::uint64_t>(static_cast<double>(v))); break;
      case dtype::f32: put(out, std::bit_cast<std::uint32_t>(v)); break;
      case dtype::f16: put(out, mvq::to_f16(v)); break;
      case dtype::bf16: put(out, mvq::to_bf16(v)); break;
      case dtype::f8_e4m3: put(out, mvq::to_f8_e4m3(v * 16.0f)); break;  // ×16 keeps small weights normal
      default: put(out, std::bit_cast<std::uint32_t>(v)); break;
    }
  }
  return out;
}

}  // namespace detail

/// The demo network's tensors for `seed`.
inline std::vector<demo_tensor> demo_network(std::uint64_t seed) {
  using mvq::io::dtype;
  splitmix64 rng(seed);
  std::vector<demo_tensor> t;
  auto conv = [&](std::string name, dtype type, std::uint64_t o, std::uint64_t i, std::uint64_t k, std::uint64_t group,
                  std::uint64_t in_hw) {
    std::vector<std::uint64_t> shape{o, i, k, k};
    t.push_back({std::move(name), type, shape, detail::he_weights(rng, type, detail::count(shape), i * k * k),
                 R"({"op": "Conv", "group": )" + std::to_string(group) + R"(, "strides": [1, 1], "pads": [1, 1, 1, 1], )"
                 R"("input_shape": [1, )" + std::to_string(i * group) + ", " + std::to_string(in_hw) + ", " +
                     std::to_string(in_hw) + "]}"});
  };
  conv("conv1.weight", dtype::f32, 16, 3, 3, 1, 32);
  t.push_back({"conv1.bias", dtype::f32, {16}, detail::he_weights(rng, dtype::f32, 16, 16), R"({"op": "Bias"})"});
  conv("conv2.weight", dtype::f16, 32, 16, 3, 1, 16);
  t.push_back({"conv2.bias", dtype::bf16, {32}, detail::he_weights(rng, dtype::bf16, 32, 32), R"({"op": "Bias"})"});
  conv("dw3.weight", dtype::bf16, 32, 1, 3, 32, 8);
  t.push_back({"bn3.running_var", dtype::f64, {32}, detail::he_weights(rng, dtype::f64, 32, 2), R"({"op": "BatchNorm"})"});
  t.push_back({"fc.weight_fp8", dtype::f8_e4m3, {10, 32}, detail::he_weights(rng, dtype::f8_e4m3, 320, 32),
               R"({"op": "MatMul", "scale": 0.0625})"});
  // An int8 copy of fc with a per-row scale, as integer inference engines store it.
  {
    std::vector<std::byte> q, scale;
    for (int r = 0; r < 10; ++r) {
      detail::put(scale, std::bit_cast<std::uint32_t>(0.01f * static_cast<float>(r + 1)));
      // Two's-complement int8 in [-127, 127], stored as its byte.
      for (int c = 0; c < 32; ++c) q.push_back(static_cast<std::byte>((rng.next() % 255 + 129) & 0xffu));
    }
    t.push_back({"fc.weight_i8", dtype::i8, {10, 32}, std::move(q), R"({"op": "MatMul", "quantized": "per-row"})"});
    t.push_back({"fc.weight_scale", dtype::f32, {10}, std::move(scale), R"({"op": "Scale"})"});
  }
  // A 2:4 keep-mask of conv2 (N:M sparsity, Mishra et al. 2021, "Accelerating sparse deep neural networks").
  {
    std::vector<std::byte> m;
    for (std::uint64_t g = 0; g < 32 * 16 * 9 / 4; ++g) {
      const auto first = rng.next() % 4, second = (first + 1 + rng.next() % 3) % 4;
      for (std::uint64_t j = 0; j < 4; ++j) m.push_back(static_cast<std::byte>(j == first || j == second ? 1 : 0));
    }
    t.push_back({"conv2.mask_2of4", dtype::boolean, {32, 16, 3, 3}, std::move(m), R"({"op": "Mask", "nm": [2, 4]})"});
  }
  t.push_back({"labels.u16", dtype::u16, {10}, {}, R"({"op": "Labels"})"});
  for (std::uint16_t i = 0; i < 10; ++i) detail::put(t.back().data, static_cast<std::uint16_t>(1000 + i));
  t.push_back({"step", dtype::i64, {}, {}, R"({"op": "Counter"})"});
  detail::put(t.back().data, static_cast<std::uint64_t>(seed));
  return t;
}

/// A writer holding the demo network and its metadata.
inline mvq::result<mvq::io::safetensors_writer> demo_writer(const std::vector<demo_tensor>& net, std::uint64_t seed) {
  mvq::io::safetensors_writer w;
  w.set_metadata("generator", "mvq demo " MVQ_VERSION_STRING);
  w.set_metadata("seed", std::to_string(seed));
  w.set_metadata("layout", "conv weights OIHW, linear weights [out, in]");
  for (const auto& t : net) {
    if (auto r = w.add(t.name, t.type, t.shape, t.data); !r) return tl::unexpected(r.error());
    w.set_metadata(t.name, t.description);
  }
  return w;
}

}  // namespace mvq_cli
