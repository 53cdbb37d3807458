#pragma once
/// @file
/// VQ kernels for codebooks of at most 256 entries (byte indices), d ∈ {4, 8, 16}, no mask.
///
/// Packing (`pack_for<vq_byte<D>>`, once at load time): indices are interleaved by blocks of 8 output rows, so
/// one 64-bit load fetches the 8 rows' indices of a sub-vector; the codebook is kept twice, as int8 (K·D bytes,
/// at most 4 KiB: L1-resident) and as fp32.
///  - int8 path (decode-to-int8, after llama.cpp's i-quant kernels): each codeword is fetched as one 32/64/128-bit
///    load, 8 rows are assembled into 256-bit registers and multiplied against the broadcast activation sub-vector
///    with `maddubs(|x|, sign(w, x))` + `madd` (exact in int32 under the [−127, 127] convention). With a batch of
///    4 or more rows, each 8-row block is decoded to int8 once and run through the dense int8 micro-kernel.
///  - fp32 path: decode + FMA, 8 rows interleaved, codewords loaded straight from the fp32 codebook.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

/// Kernel policy: VQ with K ≤ 256 (byte indices) and sub-vector dimension D ∈ {4, 8, 16}.
template <std::uint8_t D>
struct vq_byte {
  static_assert(require_valid<(D == 4 || D == 8 || D == 16) ? config_error::none : config_error::policy_vq_byte_dim>);
  /// The kernel's configuration and derived numbers (shared with the emulator's processing element).
  using traits = kernel_traits<kernel_config{.vq = {.codebook_size = 256, .subvector_dim = D}}>;
  /// True when the kernel can run a matrix of layout `l`.
  [[nodiscard]] static bool accepts(compressed_layout const& l) { return check_fits<traits>(l, "vq_byte").has_value(); }
};

namespace detail {
/// Number of batch rows from which a VQ GEMM decodes each row block to dense once (llama.cpp's batched path).
inline constexpr std::size_t vq_decode_batch = 4;

template <std::uint8_t D, class A>
inline void vq_byte_block_i8(const std::uint8_t* idx, const std::int8_t* cb, const std::int8_t* x, std::size_t subvecs,
                             std::int32_t* out, requires_arch<xsimd::generic>) noexcept {
  constexpr std::size_t B = vq_byte<D>::traits::interleave_rows;  // rows whose indices are interleaved
  std::int32_t acc[B] = {};
  for (std::size_t s = 0; s < subvecs; ++s) {
    const std::uint8_t* ix = idx + s * B;
    const std::int8_t* xs = x + s * D;
    for (std::size_t r = 0; r < B; ++r) {
      const std::int8_t* w = cb + std::size_t{ix[r]} * D;
      std::int32_t t = 0;
      for (std::size_t j = 0; j < D; ++j) t += std::int32_t{w[j]} * std::int32_t{xs[j]};
      acc[r] += t;
    }
  }
  std::copy(acc, acc + B, out);
}

#if XSIMD_WITH_AVX2
inline std::int64_t load_i64(const void* p) noexcept {
  std::int64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::int32_t load_i32(const void* p) noexcept {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// 8 interleaved rows × all sub-vectors, AVX2: codewords assembled from scalar loads (vpgatherdd is slower than
/// scalar loads on this machine class, see ANCHORS), maddubs sign trick.
template <std::uint8_t D, class A>
inline void vq_byte_block_i8(const std::uint8_t* idx, const std::int8_t* cb, const std::int8_t* x, std::size_t subvecs,
                             std::int32_t* out, requires_arch<xsimd::avx2>) noexcept {
  constexpr std::size_t B = vq_byte<D>::traits::interleave_rows;
  static_assert(B == 8, "vq_byte AVX2: the codewords of 8 rows fill one (d = 4), two (d = 8) or four (d = 16) registers");
  if constexpr (D == 4) {
    __m256i acc = _mm256_setzero_si256();
    for (std::size_t s = 0; s < subvecs; ++s) {
      const std::uint8_t* ix = idx + s * B;
      const __m256i xv = _mm256_set1_epi32(load_i32(x + s * D));
      const __m256i w = _mm256_setr_epi32(load_i32(cb + D * ix[0]), load_i32(cb + D * ix[1]), load_i32(cb + D * ix[2]),
                                          load_i32(cb + D * ix[3]), load_i32(cb + D * ix[4]), load_i32(cb + D * ix[5]),
                                          load_i32(cb + D * ix[6]), load_i32(cb + D * ix[7]));
      acc = _mm256_add_epi32(acc, dot_epi8<A>(w, _mm256_abs_epi8(xv), xv));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), acc);  // lane r = row r
  } else if constexpr (D == 8) {
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    for (std::size_t s = 0; s < subvecs; ++s) {
      const std::uint8_t* ix = idx + s * B;
      const __m256i xv = _mm256_set1_epi64x(load_i64(x + s * D));
      const __m256i xa = _mm256_abs_epi8(xv);
      const __m256i w0 = _mm256_setr_epi64x(load_i64(cb + D * ix[0]), load_i64(cb + D * ix[1]),
                                            load_i64(cb + D * ix[2]), load_i64(cb + D * ix[3]));
      const __m256i w1 = _mm256_setr_epi64x(load_i64(cb + D * ix[4]), load_i64(cb + D * ix[5]),
                                            load_i64(cb + D * ix[6]), load_i64(cb + D * ix[7]));
      a0 = _mm256_add_epi32(a0, dot_epi8<A>(w0, xa, xv));
      a1 = _mm256_add_epi32(a1, dot_epi8<A>(w1, xa, xv));
    }
    // a0 lanes (r0 r0 r1 r1 | r2 r2 r3 r3), a1 likewise for rows 4..7; hadd → (r0 r1 r4 r5 | r2 r3 r6 r7)
    const __m256i h = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a0, a1), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), h);
  } else {
    __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (std::size_t s = 0; s < subvecs; ++s) {
      const std::uint8_t* ix = idx + s * B;
      const __m256i xv = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + s * D)));
      const __m256i xa = _mm256_abs_epi8(xv);
      for (int j = 0; j < 4; ++j) {
        const __m256i w = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(cb + D * ix[2 * j + 1]),
                                              reinterpret_cast<const __m128i*>(cb + D * ix[2 * j]));
        a[j] = _mm256_add_epi32(a[j], dot_epi8<A>(w, xa, xv));
      }
    }
    // a[j] lanes 0..3 belong to row 2j, lanes 4..7 to row 2j+1
    const __m256i h01 = _mm256_hadd_epi32(a[0], a[1]);  // (r0 r0 r2 r2 | r1 r1 r3 r3)
    const __m256i h23 = _mm256_hadd_epi32(a[2], a[3]);  // (r4 r4 r6 r6 | r5 r5 r7 r7)
    const __m256i h = _mm256_hadd_epi32(h01, h23);      // (r0 r2 r4 r6 | r1 r3 r5 r7)
    alignas(32) std::int32_t t[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), h);
    for (int j = 0; j < 4; ++j) {
      out[2 * j] = t[j];
      out[2 * j + 1] = t[4 + j];
    }
  }
}
#endif

/// A float batch no wider than D: the arch itself, or SSE2 when its batch is wider (d = 4 on AVX2).
template <class A, std::size_t D>
using vq_float_arch = std::conditional_t<(xsimd::batch<float, A>::size <= D), A, xsimd::sse2>;

/// fp32 decode + FMA over 8 interleaved rows.
template <std::uint8_t D, class A>
inline void vq_byte_block_f32(const std::uint8_t* idx, const float* cb, const float* x, std::size_t subvecs,
                              float* out) noexcept {
  using batch = xsimd::batch<float, vq_float_arch<A, D>>;
  constexpr std::size_t W = batch::size;
  constexpr std::size_t B = vq_byte<D>::traits::interleave_rows;
  batch acc[B];
  for (auto& a : acc) a = batch(0.0f);
  for (std::size_t s = 0; s < subvecs; ++s) {
    const std::uint8_t* ix = idx + s * B;
    for (std::size_t j = 0; j < D; j += W) {
      const batch xv = batch::load_unaligned(x + s * D + j);
      for (std::size_t r = 0; r < B; ++r)
        acc[r] = xsimd::fma(batch::load_unaligned(cb + std::size_t{ix[r]} * D + j), xv, acc[r]);
    }
  }
  for (std::size_t r = 0; r < B; ++r) out[r] = xsimd::hadd(acc[r]);
}
}  // namespace detail

/// Packed VQ weights for `vq_byte<D>`.
template <std::uint8_t D>
struct packed<vq_byte<D>> : detail::packed_base {
  static constexpr bool supports_f32 = true;  ///< fp32 decode + FMA
  static constexpr bool supports_i8 = true;   ///< decode-to-int8, bit-exact
  using traits = typename vq_byte<D>::traits;                 ///< configuration and derived numbers
  static_assert(require_valid<simd_int8<traits>>);
  static constexpr std::size_t block = traits::interleave_rows;  ///< interleaved output rows
  /// Name used in messages and benchmark labels.
  [[nodiscard]] static std::string name() { return "vq_byte_d" + std::to_string(D); }

private:
  std::size_t rows_ = 0, cols_ = 0;
  std::uint32_t k_ = 0;
  detail::aligned_buffer<std::uint8_t> idx_;  ///< [row block][sub-vector][8 rows]
  detail::aligned_buffer<std::int8_t> cb_i8_;  ///< max_k·D (entries ≥ k are zero)
  detail::aligned_buffer<float> cb_f32_;       ///< max_k·D
  float scale_ = 1.0f;

public:
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }   ///< output channels
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }   ///< reduction length
  [[nodiscard]] float weight_scale() const noexcept { return scale_; }  ///< int8 codebook scale
  /// Bytes a GEMV streams: the indices (the codebooks, at most 16 KiB, stay in L1).
  [[nodiscard]] std::size_t bytes() const noexcept { return idx_.size(); }

  /// Packs a compressed matrix with K ≤ 256, d = D and no mask. The int8 path uses the stored int8 codebook, or
  /// a symmetric per-matrix quantization of the fp32 one (`weight_codebook_i8`).
  [[nodiscard]] static result<packed> from(compressed_matrix_view const& c) {
    auto const& l = c.layout;
    if (auto r = check_fits<traits>(l, name()); !r) return tl::unexpected(r.error());
    if (auto r = check_sizes(c, name()); !r) return tl::unexpected(r.error());
    packed p;
    p.order_ = l.order;
    p.rows_ = l.rows;
    p.cols_ = l.cols;
    p.k_ = l.k();
    const std::size_t subvecs = l.subvectors_per_row();
    const std::size_t blocks = (l.rows + block - 1) / block;
    p.idx_ = detail::aligned_buffer<std::uint8_t>(blocks * subvecs * block);
    for (std::size_t r = 0; r < l.rows; ++r)
      for (std::size_t s = 0; s < subvecs; ++s)
        p.idx_[(r / block) * subvecs * block + s * block + r % block] = static_cast<std::uint8_t>(c.index(r, s));
    const codebook_i8 q = weight_codebook_i8(c);
    p.scale_ = q.scale;
    p.cb_i8_ = detail::aligned_buffer<std::int8_t>(traits::max_k * D);
    p.cb_f32_ = detail::aligned_buffer<float>(traits::max_k * D);
    std::copy(q.values.begin(), q.values.end(), p.cb_i8_.data());
    std::copy(c.codebook.begin(), c.codebook.end(), p.cb_f32_.data());
    return p;
  }

  /// Scratch of the fp32 path: with a batch of `detail::vq_decode_batch` rows or more, one decoded row block
  /// (block × cols floats) per task.
  [[nodiscard]] std::size_t workspace_bytes(std::size_t batch, std::size_t concurrency) const noexcept {
    return batch >= detail::vq_decode_batch
               ? detail::row_tasks(rows_, block, concurrency) * workspace::bytes_for<float>(block * cols_)
               : 0;
  }
  /// Scratch of the int8 path: the same, in int8.
  [[nodiscard]] std::size_t workspace_bytes_i8(std::size_t batch, std::size_t concurrency) const noexcept {
    return batch >= detail::vq_decode_batch
               ? detail::row_tasks(rows_, block, concurrency) * workspace::bytes_for<std::int8_t>(block * cols_)
               : 0;
  }

  /// int32 accumulators of X Ŵᵀ on the int8 codebook; trusts its arguments (see `can_run`), scratch from `ws`
  /// (`workspace_bytes_i8`).
  template <class A, class E>
  void run_i8(matrix_view<const std::int8_t> x, matrix_view<std::int32_t> acc, E& ex, workspace ws) const {
    const std::size_t subvecs = cols_ / D;
    const bool decode = x.rows() >= detail::vq_decode_batch;
    const std::size_t slot = workspace::bytes_for<std::int8_t>(block * cols_);
    detail::for_row_tasks(ex, rows_, block, [&](std::size_t t, std::size_t r0, std::size_t r1) {
      std::span<std::int8_t> dec;
      if (decode) {
        workspace mine = ws;
        (void)mine.take<std::byte>(t * slot);
        dec = mine.take<std::int8_t>(block * cols_);
      }
      for (std::size_t r = r0; r < r1; r += block) {
        const std::uint8_t* ib = idx_.data() + (r / block) * subvecs * block;
        const std::size_t n = std::min(block, r1 - r);
        if (dec.empty()) {
          for (std::size_t b = 0; b < x.rows(); ++b) {
            std::int32_t out[block];
            detail::vq_byte_block_i8<D, A>(ib, cb_i8_.data(), x.row(b).data(), subvecs, out, A{});
            for (std::size_t i = 0; i < n; ++i) acc(b, r + i) = out[i];
          }
        } else {
          for (std::size_t i = 0; i < block; ++i)
            for (std::size_t s = 0; s < subvecs; ++s)
              std::memcpy(dec.data() + i * cols_ + s * D, cb_i8_.data() + std::size_t{ib[s * block + i]} * D, D);
          // 4 rows × 2 batch rows per micro-kernel call: each weight load serves two products
          for (std::size_t h = 0; h < block; h += 4) {
            const std::int8_t* rp[4];
            for (std::size_t i = 0; i < 4; ++i) rp[i] = dec.data() + (h + i) * cols_;
            std::size_t b = 0;
            for (; b + 2 <= x.rows(); b += 2) {
              std::int32_t o0[4], o1[4];
              detail::dot_rows2_i8<4, A>(rp, x.row(b).data(), x.row(b + 1).data(), cols_, o0, o1, A{});
              for (std::size_t i = 0; h + i < n && i < 4; ++i) {
                acc(b, r + h + i) = o0[i];
                acc(b + 1, r + h + i) = o1[i];
              }
            }
            for (; b < x.rows(); ++b) {
              std::int32_t o0[4];
              detail::dot_rows_i8<4, A>(rp, x.row(b).data(), cols_, o0, A{});
              for (std::size_t i = 0; h + i < n && i < 4; ++i) acc(b, r + h + i) = o0[i];
            }
          }
        }
      }
    });
  }

  /// Y = X Ŵᵀ with the fp32 codebook; trusts its arguments (see `can_run`), scratch from `ws`
  /// (`workspace_bytes`).
  template <class A, class E>
  void run_f32(matrix_view<const float> x, matrix_view<float> y, E& ex, workspace ws) const {
    const std::size_t subvecs = cols_ / D;
    const bool decode = x.rows() >= detail::vq_decode_batch;
    const std::size_t slot = workspace::bytes_for<float>(block * cols_);
    detail::for_row_tasks(ex, rows_, block, [&](std::size_t t, std::size_t r0, std::size_t r1) {
      std::span<float> dec;
      if (decode) {
        workspace mine = ws;
        (void)mine.take<std::byte>(t * slot);
        dec = mine.take<float>(block * cols_);
      }
      for (std::size_t r = r0; r < r1; r += block) {
        const std::uint8_t* ib = idx_.data() + (r / block) * subvecs * block;
        const std::size_t n = std::min(block, r1 - r);
        if (dec.empty()) {
          for (std::size_t b = 0; b < x.rows(); ++b) {
            float out[block];
            detail::vq_byte_block_f32<D, A>(ib, cb_f32_.data(), x.row(b).data(), subvecs, out);
            for (std::size_t i = 0; i < n; ++i) y(b, r + i) = out[i];
          }
        } else {
          for (std::size_t i = 0; i < block; ++i)
            for (std::size_t s = 0; s < subvecs; ++s)
              std::memcpy(dec.data() + i * cols_ + s * D, cb_f32_.data() + std::size_t{ib[s * block + i]} * D,
                          D * sizeof(float));
          const float* rp[block];
          for (std::size_t i = 0; i < block; ++i) rp[i] = dec.data() + i * cols_;
          for (std::size_t b = 0; b < x.rows(); ++b) {
            float out[block];
            detail::dot_rows_f32<block, A>(rp, x.row(b).data(), cols_, out);
            for (std::size_t i = 0; i < n; ++i) y(b, r + i) = out[i];
          }
        }
      }
    });
  }
};

}  // namespace mvq::inline v0::kernel
