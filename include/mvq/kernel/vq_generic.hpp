#pragma once
/// @file
/// The generic decode path: any compressed layout (any K up to 65536, any d, any N:M mask), used for K > 256 and
/// for configurations without a specialised kernel. Each row is decoded once per call (fp32 or int8) into a small
/// buffer and multiplied with every batch row by the dense SIMD dot product.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/simd.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// Kernel policy: decode rows on the fly from any compressed layout.
struct vq_generic {
  /// Any K up to the core limit, any d (0), any N:M mask (the pattern is read at run time).
  using traits = kernel_traits<kernel_config{.vq = {.codebook_size = max_codebook_size, .subvector_dim = 0}}>;
  /// True for every valid layout.
  [[nodiscard]] static bool accepts(compressed_layout const& l) { return validate(l).has_value(); }
};

/// Packed form of `vq_generic`: the compressed matrix as stored (the format's bit-packed indices and masks are
/// decoded on the fly, so nothing is repacked), either an owning copy or, with `pack_options::borrow`, the
/// caller's view itself (e.g. into a memory-mapped `.mvq.safetensors` file: no copy), plus its int8 codebook.
template <>
struct packed<vq_generic> : detail::packed_base {
  static constexpr bool supports_f32 = true;  ///< fp32 codebook
  static constexpr bool supports_i8 = true;   ///< int8 codebook (`weight_codebook_i8`)
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() { return "vq_generic"; }

private:
  compressed_matrix m_;          ///< the owning copy (empty when borrowed)
  compressed_matrix_view b_;     ///< the borrowed view
  bool borrowed_ = false;
  codebook_i8 cb_;

  [[nodiscard]] compressed_matrix_view view() const noexcept { return borrowed_ ? b_ : m_.view(); }

public:
  [[nodiscard]] std::size_t rows() const noexcept { return view().layout.rows; }  ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return view().layout.cols; }  ///< reduction length
  [[nodiscard]] float weight_scale() const noexcept { return cb_.scale; }         ///< int8 codebook scale
  /// True when the packed matrix points into the caller's arrays (`borrow`).
  [[nodiscard]] bool borrowed() const noexcept { return borrowed_; }

  /// Copies and validates a compressed matrix (indices, masks and the int8 codebook are checked).
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    if (auto r = validate(c); !r) return tl::unexpected(r.error());
    packed p;
    p.order_ = c.layout.order;
    p.m_.layout = c.layout;
    p.m_.codebook.assign(c.codebook.begin(), c.codebook.end());
    p.m_.codebook_i8.assign(c.codebook_i8.begin(), c.codebook_i8.end());
    p.m_.codebook_scale = c.codebook_scale;
    p.m_.indices.assign(c.indices.begin(), c.indices.end());
    p.m_.masks.assign(c.masks.begin(), c.masks.end());
    p.cb_ = weight_codebook_i8(c);
    return p;
  }
  /// Validates `c` and keeps pointing into its arrays (no copy; the caller keeps them alive as long as the packed
  /// matrix, e.g. the `io::mvq_file` they were mapped from). Only the int8 codebook (K·d bytes) is made.
  [[nodiscard]] static result<packed> borrow(compressed_matrix_view const& c) {
    if (auto r = validate(c); !r) return tl::unexpected(r.error());
    packed p;
    p.order_ = c.layout.order;
    p.m_.layout = c.layout;
    p.b_ = c;
    p.borrowed_ = true;
    p.cb_ = weight_codebook_i8(c);
    return p;
  }

  /// Scratch of the fp32 path: one decoded row (cols floats) per task.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t, std::size_t concurrency) const noexcept {
    return detail::row_tasks(rows(), task_rows, concurrency) * workspace::bytes_for<float>(cols());
  }
  /// Scratch of the int8 path: one decoded row (cols int8) per task.
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t, std::size_t concurrency) const noexcept {
    return detail::row_tasks(rows(), task_rows, concurrency) * workspace::bytes_for<std::int8_t>(cols());
  }

  /// Y = X Ŵᵀ; trusts its arguments (see `can_run`), scratch from `ws` (`workspace_bytes`).
  template <class A, class E>
  void run_f32(matrix_view<const float> x, matrix_view<float> y, E& ex, workspace ws) const {
    run<A, float>(ex, ws, [&](std::size_t r, const float* w) {
      for (std::size_t b = 0; b < x.rows(); ++b) {
        const float* rp[1] = {w};
        detail::dot_rows_f32<1, A>(rp, x.row(b).data(), cols(), &y(b, r));
      }
    });
  }
  /// int32 accumulators on the int8 codebook; trusts its arguments (see `can_run`), scratch from `ws`
  /// (`workspace_bytes_i8`).
  template <class A, class E>
  void run_i8(matrix_view<const std::int8_t> x, matrix_view<std::int32_t> acc, E& ex, workspace ws) const {
    run<A, std::int8_t>(ex, ws, [&](std::size_t r, const std::int8_t* w) {
      for (std::size_t b = 0; b < x.rows(); ++b) {
        const std::int8_t* rp[1] = {w};
        detail::dot_rows_i8<1, A>(rp, x.row(b).data(), cols(), &acc(b, r), A{});
      }
    });
  }

private:
  static constexpr std::size_t task_rows = 8;  ///< rows per task block

  template <class A, class T, class E, class F>
  void run(E& ex, workspace ws, F&& use) const {
    const auto v = view();
    auto const& l = v.layout;
    const std::size_t slot = workspace::bytes_for<T>(l.cols);
    detail::for_row_tasks(ex, l.rows, task_rows, [&](std::size_t task, std::size_t r0, std::size_t r1) {
      workspace mine = ws;
      (void)mine.take<std::byte>(task * slot);
      T* row = mine.take<T>(l.cols).data();
      for (std::size_t r = r0; r < r1; ++r) {
        for (std::size_t s = 0; s < l.subvectors_per_row(); ++s) {
          const std::size_t j = v.index(r, s);
          for (std::size_t t = 0; t < l.d(); ++t) {
            if constexpr (std::is_same_v<T, float>)
              row[s * l.d() + t] = v.codebook[j * l.d() + t];
            else
              row[s * l.d() + t] = cb_.values[j * l.d() + t];
          }
        }
        for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
          const std::uint32_t bm = v.group_bitmap(r, g);
          for (std::size_t t = 0; t < l.nm.m; ++t)
            if (!((bm >> t) & 1u)) row[g * l.nm.m + t] = T{};
        }
        use(r, row);
      }
    });
  }
};

}  // namespace mvq::inline v0::kernel
