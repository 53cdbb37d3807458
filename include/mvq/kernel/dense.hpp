#pragma once
/// @file
/// Dense fp32 and int8 GEMV/GEMM: the baselines the compressed kernels are measured against, and the fallback.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/simd.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// Kernel policy: dense fp32 weights, fp32 activations, xsimd FMA.
struct dense_f32 {
  using traits = kernel_traits<kernel_config{}>;  ///< no codebook, no pattern
};
/// Kernel policy: dense int8 weights (one scale per matrix), int8 activations, `maddubs` on AVX2.
struct dense_i8 {
  using traits = kernel_traits<kernel_config{}>;  ///< no codebook, no pattern
};

namespace detail {
/// Row-blocked GEMM driver over dense rows: `dot<R>(row pointers, x row, out)` computes R dot products.
template <std::size_t Block, class T, class Acc, class E, class Dot>
void dense_rows_gemm(const T* w, std::size_t rows, std::size_t cols, matrix_view<const T> x, matrix_view<Acc> y,
                     E& ex, Dot&& dot) {
  for_row_blocks(ex, rows, Block, [&](std::size_t r0, std::size_t r1) {
    std::size_t r = r0;
    for (; r + Block <= r1; r += Block) {
      const T* rp[Block];
      for (std::size_t i = 0; i < Block; ++i) rp[i] = w + (r + i) * cols;
      for (std::size_t b = 0; b < x.rows(); ++b) {
        Acc out[Block];
        dot(std::integral_constant<std::size_t, Block>{}, rp, x.row(b).data(), out);
        for (std::size_t i = 0; i < Block; ++i) y(b, r + i) = out[i];
      }
    }
    for (; r < r1; ++r) {
      const T* rp[1] = {w + r * cols};
      for (std::size_t b = 0; b < x.rows(); ++b) {
        Acc out[1];
        dot(std::integral_constant<std::size_t, 1>{}, rp, x.row(b).data(), out);
        y(b, r) = out[0];
      }
    }
  });
}
}  // namespace detail

/// Dense fp32 weights, rows × cols, 64-byte aligned.
template <>
struct packed<dense_f32> : detail::packed_base {
  static constexpr bool supports_f32 = true;   ///< fp32 activations
  static constexpr bool supports_i8 = false;   ///< no int8 path (use dense_i8)
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() { return "dense_f32"; }

private:
  std::size_t rows_ = 0, cols_ = 0;
  detail::aligned_buffer<float> w_;

public:
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }   ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }   ///< reduction length

  /// Copies dense weights.
  [[nodiscard]] static result<packed> from(matrix_view<const float> w) {
    packed p;
    p.rows_ = w.rows();
    p.cols_ = w.cols();
    p.w_ = detail::aligned_buffer<float>(w.rows() * w.cols());
    for (std::size_t r = 0; r < w.rows(); ++r) std::copy(w.row(r).begin(), w.row(r).end(), p.w_.data() + r * w.cols());
    return p;
  }
  /// Decompresses a compressed matrix (the dense fallback for any configuration).
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    if (auto r = validate(c.layout); !r) return tl::unexpected(r.error());
    auto d = decompress(c);
    auto p = from(matrix_view<const float>(d.data(), c.layout.rows, c.layout.cols));
    if (p) p->order_ = c.layout.order;
    return p;
  }

  /// No scratch: the dot products read the packed rows directly.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t, std::size_t) const noexcept { return 0; }
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t, std::size_t) const noexcept { return 0; }

  /// Runs Y = X Wᵀ; trusts its arguments (see `can_run`).
  template <class A, class E>
  void run_f32(matrix_view<const float> x, matrix_view<float> y, E& ex, workspace) const {
    detail::dense_rows_gemm<4>(w_.data(), rows_, cols_, x, y, ex, [&](auto R, const float* const* w, const float* xr, float* out) {
      detail::dot_rows_f32<decltype(R)::value, A>(w, xr, cols_, out);
    });
  }
};

/// Dense int8 weights (symmetric, one scale), rows × cols.
template <>
struct packed<dense_i8> : detail::packed_base {
  static constexpr bool supports_f32 = false;  ///< int8 activations only
  static constexpr bool supports_i8 = true;    ///< int8 activations, int32 accumulators
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() { return "dense_i8"; }

private:
  std::size_t rows_ = 0, cols_ = 0;
  detail::aligned_buffer<std::int8_t> w_;
  float scale_ = 1.0f;

public:
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }   ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }   ///< reduction length
  [[nodiscard]] float weight_scale() const noexcept { return scale_; }  ///< w ≈ q · scale
  /// The int8 weights as a view (the reference GEMM's input).
  [[nodiscard]] matrix_view<const std::int8_t> weights() const noexcept { return {w_.data(), rows_, cols_}; }

  /// Copies int8 weights; values must lie in [−127, 127].
  [[nodiscard]] static result<packed> from(weights_i8 const& w) {
    if (std::find(w.values.begin(), w.values.end(), std::int8_t{-128}) != w.values.end())
      return fail(errc::invalid_argument, "dense_i8: weight value −128 is outside the symmetric int8 range");
    if (w.values.size() != w.rows * w.cols)
      return fail(errc::shape_mismatch, "dense_i8: weights_i8 holds " + std::to_string(w.values.size()) +
                                            " values for a " + std::to_string(w.rows) + " × " + std::to_string(w.cols) + " shape");
    packed p;
    p.rows_ = w.rows;
    p.cols_ = w.cols;
    p.scale_ = w.scale;
    p.w_ = detail::aligned_buffer<std::int8_t>(w.values.size());
    std::copy(w.values.begin(), w.values.end(), p.w_.data());
    return p;
  }
  /// Quantizes dense fp32 weights with one symmetric scale.
  [[nodiscard]] static result<packed> from(matrix_view<const float> w) { return from(quantize_weights(w)); }
  /// int8-decodes a compressed matrix (`decode_i8`).
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    if (auto r = validate(c.layout); !r) return tl::unexpected(r.error());
    auto p = from(decode_i8(c));
    if (p) p->order_ = c.layout.order;
    return p;
  }

  /// No scratch: the dot products read the packed rows directly.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t, std::size_t) const noexcept { return 0; }
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t, std::size_t) const noexcept { return 0; }

  /// Runs ACC = X Wᵀ in int32; trusts its arguments (see `can_run`).
  template <class A, class E>
  void run_i8(matrix_view<const std::int8_t> x, matrix_view<std::int32_t> acc, E& ex, workspace) const {
    detail::dense_rows_gemm<8>(w_.data(), rows_, cols_, x, acc, ex,
                               [&](auto R, const std::int8_t* const* w, const std::int8_t* xr, std::int32_t* out) {
                                 detail::dot_rows_i8<decltype(R)::value, A>(w, xr, cols_, out, A{});
                               });
  }
};

}  // namespace mvq::inline v0::kernel
