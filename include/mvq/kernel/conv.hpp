#pragma once
/// @file
/// conv2d on any packed kernel via im2col (activations NCHW; stride, padding, dilation, groups), and a dense
/// depthwise conv2d.
///
/// The weights of group g are one packed matrix of (O/groups) rows × (C/groups)·KH·KW columns, in the reduction
/// order they were packed in (`packed.order()`): `oihw` (channel, kernel row, kernel column: PyTorch's order) or
/// `ohwi` (kernel row, kernel column, channel). im2col lays each output pixel's inputs out in that same order, so
/// Y = X Ŵᵀ runs unchanged and a layer compressed in either order gives the same convolution; groups whose
/// weights disagree on the order are an error. Output size: OH = ⌊(H + 2·pad − dil·(KH − 1) − 1) / stride⌋ + 1 (PyTorch `Conv2d` docs).
/// Kernels without an fp32 path (dense_i8, the exact LUT) get the im2col rows quantized per row (one scale per
/// output pixel, the int8 conventions).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"

namespace mvq::inline v0::kernel {

/// Shape and hyper-parameters of a 2-D convolution.
struct conv2d_params {
  std::size_t batch = 1;          ///< N
  std::size_t in_channels = 0;    ///< C
  std::size_t height = 0;         ///< H
  std::size_t width = 0;          ///< W
  std::size_t out_channels = 0;   ///< O
  std::size_t kernel_h = 1;       ///< KH
  std::size_t kernel_w = 1;       ///< KW
  std::size_t stride_h = 1, stride_w = 1;      ///< strides
  std::size_t pad_h = 0, pad_w = 0;            ///< zero padding on each side
  std::size_t dilation_h = 1, dilation_w = 1;  ///< dilations
  std::size_t groups = 1;                      ///< channel groups (C and O multiples of it)

  /// Output height (0 when the dilated kernel does not fit).
  [[nodiscard]] constexpr std::size_t out_h() const noexcept {
    const std::size_t span = dilation_h * (kernel_h - 1) + 1;
    return height + 2 * pad_h < span ? 0 : (height + 2 * pad_h - span) / stride_h + 1;
  }
  /// Output width (0 when the dilated kernel does not fit).
  [[nodiscard]] constexpr std::size_t out_w() const noexcept {
    const std::size_t span = dilation_w * (kernel_w - 1) + 1;
    return width + 2 * pad_w < span ? 0 : (width + 2 * pad_w - span) / stride_w + 1;
  }
  /// GEMM reduction length of one group: (C / groups) · KH · KW.
  [[nodiscard]] constexpr std::size_t reduction() const noexcept {
    return groups ? in_channels / groups * kernel_h * kernel_w : 0;
  }
  [[nodiscard]] constexpr std::size_t input_size() const noexcept { return batch * in_channels * height * width; }
  [[nodiscard]] constexpr std::size_t output_size() const noexcept { return batch * out_channels * out_h() * out_w(); }
};

/// Checks the parameters (positive kernel, stride, dilation, groups dividing both channel counts, sizes that do
/// not overflow).
[[nodiscard]] inline result<void> validate(conv2d_params const& p) {
  if (p.kernel_h == 0 || p.kernel_w == 0 || p.stride_h == 0 || p.stride_w == 0 || p.dilation_h == 0 ||
      p.dilation_w == 0 || p.groups == 0)
    return fail(errc::invalid_argument, "conv2d: kernel size, stride, dilation and groups must be at least 1");
  if (p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0)
    return fail(errc::invalid_argument, "conv2d: groups = " + std::to_string(p.groups) + " must divide C = " +
                                            std::to_string(p.in_channels) + " and O = " + std::to_string(p.out_channels));
  constexpr std::size_t lim = std::size_t{1} << 40;
  if (p.batch > lim || p.in_channels > lim || p.height > lim || p.width > lim || p.out_channels > lim ||
      p.kernel_h > lim || p.kernel_w > lim || p.pad_h > lim || p.pad_w > lim || p.dilation_h > lim || p.dilation_w > lim ||
      (p.height * p.width > lim) || p.in_channels * p.height * p.width > lim || p.input_size() > lim ||
      p.out_channels * p.out_h() * p.out_w() > lim || p.output_size() > lim || p.reduction() > lim)
    return fail(errc::too_large, "conv2d: tensor sizes exceed 2^40 elements");
  return {};
}

namespace detail {
/// Checks of a grouped conv2d on W weights (a packed matrix or `any_packed`): one matrix per group, each
/// (O/groups) × reduction(), all in one reduction order.
template <class W>
[[nodiscard]] result<void> check_conv2d(std::span<const W> weights, conv2d_params const& p, std::size_t input_size,
                                        std::size_t output_size) {
  if (auto r = validate(p); !r) return r;
  if (weights.size() != p.groups)
    return fail(errc::shape_mismatch, "conv2d: " + std::to_string(weights.size()) + " packed weight matrices for " +
                                          std::to_string(p.groups) + " groups");
  for (std::size_t g = 1; g < weights.size(); ++g)
    if (weights[g].order() != weights[0].order())
      return fail(errc::invalid_argument, "conv2d: the weights of group " + std::to_string(g) + " are in " +
                                              std::string(to_string(weights[g].order())) + " order, group 0's in " +
                                              std::string(to_string(weights[0].order())));
  for (std::size_t g = 0; g < weights.size(); ++g)
    if (weights[g].rows() != p.out_channels / p.groups || weights[g].cols() != p.reduction())
      return fail(errc::shape_mismatch, "conv2d: weights of group " + std::to_string(g) + " are " +
                                            std::to_string(weights[g].rows()) + " × " + std::to_string(weights[g].cols()) +
                                            ", expected " + std::to_string(p.out_channels / p.groups) + " × " +
                                            std::to_string(p.reduction()));
  if (input_size != p.input_size())
    return fail(errc::shape_mismatch, "conv2d: input has " + std::to_string(input_size) + " values, N·C·H·W = " +
                                          std::to_string(p.input_size()));
  if (output_size != p.output_size())
    return fail(errc::shape_mismatch, "conv2d: output has " + std::to_string(output_size) + " values, N·O·OH·OW = " +
                                          std::to_string(p.output_size()));
  return {};
}
}  // namespace detail

/// Validates a grouped conv2d on packed weights: one packed matrix per group, each (O/groups) × reduction().
template <PackedMatrix P>
[[nodiscard]] result<void> can_run_conv2d(std::span<const P> weights, conv2d_params const& p, std::size_t input_size,
                                          std::size_t output_size) {
  return detail::check_conv2d(weights, p, input_size, output_size);
}

/// im2col of one image and one group: row (oy·OW + ox) holds the (C/groups)·KH·KW inputs under that output
/// pixel in reduction order `order` (oihw: column (c·KH + ky)·KW + kx; ohwi: column (ky·KW + kx)·(C/groups) + c),
/// zero where the kernel reads padding.
inline void im2col(conv2d_params const& p, reduction_order order, const float* image, std::size_t group,
                   matrix_view<float> cols) noexcept {
  const std::size_t cg = p.in_channels / p.groups, oh = p.out_h(), ow = p.out_w(), plane = p.height * p.width;
  const float* img = image + group * cg * plane;
  for (std::size_t oy = 0; oy < oh; ++oy)
    for (std::size_t ox = 0; ox < ow; ++ox) {
      float* row = cols.row(oy * ow + ox).data();
      for (std::size_t ky = 0; ky < p.kernel_h; ++ky) {
        const std::size_t iy = oy * p.stride_h + ky * p.dilation_h;  // + pad_h offset
        const bool row_inside = iy >= p.pad_h && iy - p.pad_h < p.height;
        for (std::size_t kx = 0; kx < p.kernel_w; ++kx) {
          const std::size_t ix = ox * p.stride_w + kx * p.dilation_w;
          const bool inside = row_inside && ix >= p.pad_w && ix - p.pad_w < p.width;
          const std::size_t at = inside ? (iy - p.pad_h) * p.width + (ix - p.pad_w) : 0;
          if (order == reduction_order::ohwi) {
            float* dst = row + (ky * p.kernel_w + kx) * cg;
            for (std::size_t c = 0; c < cg; ++c) dst[c] = inside ? img[c * plane + at] : 0.0f;
          } else {
            float* dst = row + ky * p.kernel_w + kx;
            const std::size_t taps = p.kernel_h * p.kernel_w;
            for (std::size_t c = 0; c < cg; ++c) dst[c * taps] = inside ? img[c * plane + at] : 0.0f;
          }
        }
      }
    }
}

namespace detail {
/// The body every conv2d shares (checked arguments): per image and group, im2col into `cols` (pixels × reduction)
/// in the weights' order, `run_group(g, cols, y)` computes y (pixels × O/groups) = cols Ŵ_gᵀ, then y is scattered
/// into `out`'s NCHW layout.
template <class W, class RunGroup>
[[nodiscard]] result<void> conv2d_im2col(std::span<const W> weights, conv2d_params const& p, std::span<const float> in,
                                         std::span<float> out, float* cols, float* y, RunGroup&& run_group) {
  const std::size_t pixels = p.out_h() * p.out_w(), og = p.out_channels / p.groups, red = p.reduction();
  for (std::size_t n = 0; n < p.batch; ++n)
    for (std::size_t g = 0; g < p.groups; ++g) {
      matrix_view<float> cv(cols, pixels, red);
      im2col(p, weights[0].order(), in.data() + n * p.in_channels * p.height * p.width, g, cv);
      matrix_view<float> yv(y, pixels, og);
      if (auto r = run_group(g, matrix_view<const float>(cv), yv); !r) return r;
      for (std::size_t o = 0; o < og; ++o)
        for (std::size_t px = 0; px < pixels; ++px)
          out[((n * p.out_channels) + g * og + o) * pixels + px] = yv(px, o);
    }
  return {};
}
}  // namespace detail

/// Scratch bytes of `conv2d` on `weights` with parameters `p` and an executor of `concurrency` threads: the
/// im2col rows and the GEMM output of one image and group (reused for all of them) plus the largest group GEMM's
/// own scratch (for kernels without an fp32 path: the int8 im2col rows, their scales and the int8 GEMM's).
template <PackedMatrix P>
[[nodiscard]] std::size_t conv2d_workspace_bytes(std::span<const P> weights, conv2d_params const& p,
                                                 std::size_t concurrency = 1) noexcept {
  if (!validate(p)) return 0;  // conv2d refuses the call anyway
  const std::size_t pixels = p.out_h() * p.out_w(), og = p.groups ? p.out_channels / p.groups : 0, red = p.reduction();
  std::size_t n = workspace::bytes_for<float>(pixels * red) + workspace::bytes_for<float>(pixels * og), g = 0;
  for (auto const& w : weights) {
    if constexpr (P::supports_f32)
      g = std::max(g, gemm_workspace_bytes(w, pixels, concurrency));
    else
      g = std::max(g, gemm_i8_workspace_bytes(w, pixels, concurrency));
  }
  if constexpr (!P::supports_f32) n += workspace::bytes_for<std::int8_t>(pixels * red) + workspace::bytes_for<float>(pixels);
  return n + g;
}

/// conv2d: out (N × O × OH × OW) = weights ⊛ in (N × C × H × W), one packed matrix per group; scratch from `ws`
/// (at least `conv2d_workspace_bytes(weights, p, ex.concurrency())` bytes); never allocates.
template <class A = default_arch, PackedMatrix P, class E = serial_executor>
[[nodiscard]] result<void> conv2d(std::span<const P> weights, conv2d_params const& p, std::span<const float> in,
                                  std::span<float> out, workspace ws, E&& ex = {}) {
  if (auto r = can_run_conv2d(weights, p, in.size(), out.size()); !r) return r;
  const std::size_t pixels = p.out_h() * p.out_w(), og = p.out_channels / p.groups, red = p.reduction();
  if (pixels == 0 || og == 0) return {};
  if (const std::size_t need = conv2d_workspace_bytes(weights, p, ex.concurrency()); ws.size() < need) [[unlikely]]
    return detail::workspace_error("conv2d", ws.size(), need);
  float* cols = ws.take<float>(pixels * red).data();
  float* y = ws.take<float>(pixels * og).data();
  [[maybe_unused]] std::span<std::int8_t> q;
  [[maybe_unused]] std::span<float> scale;
  if constexpr (!P::supports_f32) {
    q = ws.take<std::int8_t>(pixels * red);
    scale = ws.take<float>(pixels);
  }
  return detail::conv2d_im2col(weights, p, in, out, cols, y,
                               [&](std::size_t g, matrix_view<const float> cv, matrix_view<float> yv) -> result<void> {
                                 if constexpr (P::supports_f32) {
                                   return gemm<A>(weights[g], cv, yv, ws, ex);
                                 } else {
                                   matrix_view<std::int8_t> qv(q.data(), pixels, red);
                                   if (auto r = quantize_activations(cv, qv, scale); !r) return r;
                                   const activations_i8_view xq{qv, scale};
                                   return gemm<A>(weights[g], xq, yv, ws, ex);
                                 }
                               });
}

/// conv2d (convenience: allocates the workspace of this call).
template <class A = default_arch, PackedMatrix P, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> conv2d(std::span<const P> weights, conv2d_params const& p, std::span<const float> in,
                                  std::span<float> out, E&& ex = {}) {
  workspace_buffer buf(conv2d_workspace_bytes(weights, p, ex.concurrency()));
  return conv2d<A>(weights, p, in, out, buf.view(), ex);
}

/// Dense depthwise conv2d (groups = C = O): `weights` is C × KH × KW. Direct loops; each output row is a sum of
/// KH·KW shifted, scaled input rows, which the compiler vectorizes for stride 1.
[[nodiscard]] inline result<void> depthwise_conv2d(std::span<const float> weights, conv2d_params const& p,
                                                   std::span<const float> in, std::span<float> out) {
  if (auto r = validate(p); !r) return r;
  if (p.groups != p.in_channels || p.out_channels != p.in_channels)
    return fail(errc::invalid_argument, "depthwise_conv2d: needs groups = C = O, got groups = " +
                                            std::to_string(p.groups) + ", C = " + std::to_string(p.in_channels) +
                                            ", O = " + std::to_string(p.out_channels));
  if (weights.size() != p.in_channels * p.kernel_h * p.kernel_w)
    return fail(errc::shape_mismatch, "depthwise_conv2d: " + std::to_string(weights.size()) +
                                          " weights, C·KH·KW = " + std::to_string(p.in_channels * p.kernel_h * p.kernel_w));
  if (in.size() != p.input_size() || out.size() != p.output_size())
    return fail(errc::shape_mismatch, "depthwise_conv2d: input or output size does not match the parameters");
  const std::size_t oh = p.out_h(), ow = p.out_w();
  for (std::size_t n = 0; n < p.batch; ++n)
    for (std::size_t c = 0; c < p.in_channels; ++c) {
      const float* img = in.data() + (n * p.in_channels + c) * p.height * p.width;
      float* o = out.data() + (n * p.in_channels + c) * oh * ow;
      std::fill(o, o + oh * ow, 0.0f);
      for (std::size_t ky = 0; ky < p.kernel_h; ++ky)
        for (std::size_t kx = 0; kx < p.kernel_w; ++kx) {
          const float w = weights[(c * p.kernel_h + ky) * p.kernel_w + kx];
          for (std::size_t oy = 0; oy < oh; ++oy) {
            const std::size_t iy = oy * p.stride_h + ky * p.dilation_h;
            if (iy < p.pad_h || iy - p.pad_h >= p.height) continue;
            const float* irow = img + (iy - p.pad_h) * p.width;
            float* orow = o + oy * ow;
            for (std::size_t ox = 0; ox < ow; ++ox) {
              const std::size_t ix = ox * p.stride_w + kx * p.dilation_w;
              if (ix >= p.pad_w && ix - p.pad_w < p.width) orow[ox] += w * irow[ix - p.pad_w];
            }
          }
        }
    }
  return {};
}

}  // namespace mvq::inline v0::kernel
