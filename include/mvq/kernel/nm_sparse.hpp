#pragma once
/// @file
/// N:M structured-sparse GEMV/GEMM (1:4, 2:4, 2:8, …): compressed values plus per-group metadata.
///
/// Packing (`pack_for<nm_sparse<P>>`, once at load time): every group of M consecutive columns becomes exactly N
/// slots (value, offset within the group), offsets stored as a per-row LSB-first bit stream of log2 M bits per
/// slot (2:4: 4 bits per group, the layout of NVIDIA's sparse tensor cores' metadata). A group that keeps fewer
/// than N positions (bitmap masks allow it, down to an all-pruned group) is padded with zero-valued slots, so
/// the kernel never branches on the mask. Values are kept as fp32 and as int8 (one symmetric per-matrix scale).
/// AVX2 fast path for 2:4 fp32: per 16 columns, 8 values and 16 bits of offsets; the offsets become `vpermps`
/// lane indices (vpsrlvd + and), the two 8-wide activation registers are permuted and blended, one FMA.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/simd.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// Kernel policy: N:M structured sparsity without a codebook.
template <nm_pattern P>
struct nm_sparse {
  static_assert(require_valid<(!P.dense() && std::has_single_bit(unsigned{P.m}) && P.m <= max_nm_group)
                                  ? diagnose(P)
                                  : config_error::policy_nm_power>);
  /// The kernel's configuration and derived numbers (shared with the emulator's processing element).
  using traits = kernel_traits<kernel_config{.nm = P}>;
  /// True when the kernel can run a matrix of layout `l` (any codebook: the weights are decoded at packing).
  [[nodiscard]] static bool accepts(compressed_layout const& l) { return validate(l).has_value() && l.nm == P; }
  /// Bits of one slot offset.
  static constexpr unsigned offset_bits = static_cast<unsigned>(std::countr_zero(unsigned{P.m}));
};

namespace detail {
#if XSIMD_WITH_AVX2
/// 2:4 fp32 dot products of R rows over the first `cols16` (multiple of 16) columns, AVX2. The R rows share the
/// activation loads and keep 2·R independent memory streams (values, offsets) in flight.
template <std::size_t R, class A>
inline void sparse24_rows_f32(const float* const* v, const std::uint8_t* const* off, const float* x,
                              std::size_t cols16, float* out) noexcept {
  const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i base = _mm256_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4);
  const __m256i three = _mm256_set1_epi32(3);
  __m256 acc[R];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (std::size_t c = 0; c < cols16; c += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
    for (std::size_t i = 0; i < R; ++i) {
      std::uint16_t o;
      std::memcpy(&o, off[i] + c / 8, 2);  // 16 bits of offsets per 16 columns
      const __m256i idx = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(o), shifts), three), base);
      // kept values 0..3 come from columns 0..7 (x0), 4..7 from columns 8..15 (x1)
      const __m256 xs = _mm256_blend_ps(_mm256_permutevar8x32_ps(x0, idx), _mm256_permutevar8x32_ps(x1, idx), 0xf0);
      acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(v[i] + c / 2), xs, acc[i]);
    }
  }
  for (std::size_t i = 0; i < R; ++i) out[i] = xsimd::hadd(xsimd::batch<float, A>(acc[i]));
}
#endif
}  // namespace detail

/// Packed N:M-sparse weights.
template <nm_pattern P>
struct packed<nm_sparse<P>> : detail::packed_base {
  static constexpr bool supports_f32 = true;   ///< fp32 values × fp32 activations
  static constexpr bool supports_i8 = true;    ///< int8 values × int8 activations
  static constexpr unsigned ob = nm_sparse<P>::offset_bits;  ///< bits per slot offset
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() { return "nm_sparse_" + std::to_string(P.n) + "_" + std::to_string(P.m); }

private:
  std::size_t rows_ = 0, cols_ = 0, slots_ = 0, off_bytes_ = 0;
  detail::aligned_buffer<float> v_;          ///< rows × slots
  detail::aligned_buffer<std::int8_t> v8_;   ///< rows × slots
  detail::aligned_buffer<std::uint8_t> off_;  ///< rows × off_bytes
  float scale_ = 1.0f;

public:
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }   ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }   ///< reduction length
  [[nodiscard]] float weight_scale() const noexcept { return scale_; }  ///< int8 value scale
  /// Bytes the fp32 path streams (values + offsets).
  [[nodiscard]] std::size_t bytes() const noexcept { return 4 * v_.size() + off_.size(); }
  /// Bytes the int8 path streams (int8 values + offsets).
  [[nodiscard]] std::size_t bytes_i8() const noexcept { return v8_.size() + off_.size(); }

  /// Packs a dense matrix that is N:M sparse: the nonzeros of each group are its kept positions; a group with
  /// more than N nonzeros is an error naming the row and group.
  [[nodiscard]] static result<packed> from(matrix_view<const float> w) {
    return build(w, [&](std::size_t r, std::size_t g) {
      std::uint32_t bm = 0;
      for (std::size_t t = 0; t < P.m; ++t)
        if (w(r, g * P.m + t) != 0.0f) bm |= 1u << t;
      return bm;
    });
  }
  /// Packs the N:M mask and decoded values of a compressed matrix with the same pattern.
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    if (auto r = validate(c.layout); !r) return tl::unexpected(r.error());
    if (c.layout.nm != P)
      return fail(errc::unsupported, name() + ": the compressed matrix has pattern " + to_string(c.layout.nm));
    auto d = decompress(c);
    matrix_view<const float> w(d.data(), c.layout.rows, c.layout.cols);
    auto p = build(w, [&](std::size_t r, std::size_t g) { return c.group_bitmap(r, g); });
    if (p) p->order_ = c.layout.order;
    return p;
  }

  /// No scratch: values and offsets are read in place.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t, std::size_t) const noexcept { return 0; }
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t, std::size_t) const noexcept { return 0; }

  /// Y = X Ŵᵀ; trusts its arguments (see `can_run`).
  template <class A, class E>
  void run_f32(matrix_view<const float> x, matrix_view<float> y, E& ex, workspace) const {
    detail::for_row_blocks(ex, rows_, 4, [&](std::size_t r0, std::size_t r1) {
      std::size_t r = r0;
#if XSIMD_WITH_AVX2
      if constexpr (has_avx2<A> && P == nm_pattern{2, 4}) {
        const std::size_t c16 = cols_ / 16 * 16;
        for (; r + 4 <= r1; r += 4) {
          const float* v[4];
          const std::uint8_t* o[4];
          for (std::size_t i = 0; i < 4; ++i) {
            v[i] = v_.data() + (r + i) * slots_;
            o[i] = off_.data() + (r + i) * off_bytes_;
          }
          for (std::size_t b = 0; b < x.rows(); ++b) {
            float out[4];
            detail::sparse24_rows_f32<4, A>(v, o, x.row(b).data(), c16, out);
            for (std::size_t i = 0; i < 4; ++i) y(b, r + i) = out[i] + row_tail(r + i, x.row(b).data(), c16);
          }
        }
        for (; r < r1; ++r) {
          const float* v[1] = {v_.data() + r * slots_};
          const std::uint8_t* o[1] = {off_.data() + r * off_bytes_};
          for (std::size_t b = 0; b < x.rows(); ++b) {
            float out[1];
            detail::sparse24_rows_f32<1, A>(v, o, x.row(b).data(), c16, out);
            y(b, r) = out[0] + row_tail(r, x.row(b).data(), c16);
          }
        }
      }
#endif
      for (; r < r1; ++r)
        for (std::size_t b = 0; b < x.rows(); ++b) y(b, r) = row_tail(r, x.row(b).data(), 0);
    });
  }
  /// int32 accumulators on the int8 values; trusts its arguments (see `can_run`).
  template <class A, class E>
  void run_i8(matrix_view<const std::int8_t> x, matrix_view<std::int32_t> acc, E& ex, workspace) const {
    detail::for_row_blocks(ex, rows_, 4, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        const std::int8_t* v = v8_.data() + r * slots_;
        std::span<const std::uint8_t> off(off_.data() + r * off_bytes_, off_bytes_);
        for (std::size_t b = 0; b < x.rows(); ++b) {
          const std::int8_t* xr = x.row(b).data();
          std::int32_t s = 0;
          for (std::size_t i = 0; i < slots_; ++i)
            s += std::int32_t{v[i]} * std::int32_t{xr[(i / P.n) * P.m + read_bits(off, i, ob)]};
          acc(b, r) = s;
        }
      }
    });
  }

private:
  // Σ over the slots of columns [c0, cols) of row r, scalar.
  [[nodiscard]] float row_tail(std::size_t r, const float* x, std::size_t c0) const noexcept {
    const float* v = v_.data() + r * slots_;
    std::span<const std::uint8_t> off(off_.data() + r * off_bytes_, off_bytes_);
    float s = 0.0f;
    for (std::size_t i = c0 / P.m * P.n; i < slots_; ++i) s += v[i] * x[(i / P.n) * P.m + read_bits(off, i, ob)];
    return s;
  }

  template <class Bitmap>
  [[nodiscard]] static result<packed> build(matrix_view<const float> w, Bitmap&& bitmap) {
    if (w.cols() % P.m != 0)
      return fail(errc::shape_mismatch, name() + ": the row length " + std::to_string(w.cols()) +
                                            " is not a multiple of M = " + std::to_string(P.m));
    packed p;
    p.rows_ = w.rows();
    p.cols_ = w.cols();
    p.slots_ = w.cols() / P.m * P.n;
    p.off_bytes_ = packed_bytes(p.slots_, ob);
    p.v_ = detail::aligned_buffer<float>(p.rows_ * p.slots_);
    p.v8_ = detail::aligned_buffer<std::int8_t>(p.rows_ * p.slots_);
    p.off_ = detail::aligned_buffer<std::uint8_t>(p.rows_ * p.off_bytes_ + 4);  // + 4: whole-word reads stay inside
    float amax = 0.0f;
    for (std::size_t r = 0; r < w.rows(); ++r) {
      std::span<std::uint8_t> off(p.off_.data() + r * p.off_bytes_, p.off_bytes_);
      for (std::size_t g = 0; g < w.cols() / P.m; ++g) {
        const std::uint32_t bm = bitmap(r, g);
        if (std::popcount(bm & ((1u << P.m) - 1)) > P.n)
          return fail(errc::invalid_argument, name() + ": row " + std::to_string(r) + ", group " + std::to_string(g) +
                                                  " keeps more than N = " + std::to_string(P.n) + " positions");
        std::size_t slot = g * P.n;
        for (unsigned t = 0; t < P.m; ++t)
          if ((bm >> t) & 1u) {
            const float v = w(r, g * P.m + t);
            if (!std::isfinite(v))
              return fail(errc::invalid_argument, name() + ": row " + std::to_string(r) + " holds a non-finite weight");
            p.v_[r * p.slots_ + slot] = v;
            amax = std::max(amax, std::fabs(v));
            write_bits(off, slot, ob, t);
            ++slot;
          }
        // padding slots keep value 0 and offset 0
      }
    }
    p.scale_ = amax > 0.0f ? amax / float(int8_conventions::qmax) : 1.0f;
    for (std::size_t i = 0; i < p.v_.size(); ++i) p.v8_[i] = quantize_i8(p.v_[i], p.scale_);
    return p;
  }
};

}  // namespace mvq::inline v0::kernel
