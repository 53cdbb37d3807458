#pragma once
/// @file
/// Metadata of the kernels, separate from the kernels themselves (as CUTLASS separates an MMA instruction from its
/// `MMA_Traits`): the int8 conventions, the kernel family chosen by the index width, and the derived sizes. The
/// SIMD kernels and the systolic-array emulator both read these, so their int8 results can be required to agree
/// bit for bit.

#include <cstddef>
#include <cstdint>
#include <limits>

#include "mvq/core/config.hpp"

namespace mvq::inline v0::kernel {

/// The int8 conventions every integer path follows.
///  - Symmetric range [−127, 127] for weights and activations; −128 never occurs, so |a| fits in a uint8 and the
///    `maddubs` sign trick (|x| · sign(w, x)) never saturates: a pair sum is at most 2 · 127 · 127 = 32258 < 32767.
///  - Activations X are [B, in] row-major with one fp32 scale per batch row (x ≈ q · scale); a per-tensor scale is
///    the special case of equal row scales.
///  - Weights have one fp32 scale per matrix (the int8 codebook's scale).
///  - Products are accumulated in int32; "bit-exact" means equal int32 accumulators.
///  - Quantization: scale = max|x| / 127 over the row, q = clamp(round(x / scale), −127, 127) with `std::round`
///    (halves away from zero, independent of the floating-point rounding mode); an all-zero row has scale 1.
struct int8_conventions {
  using weight_type = std::int8_t;          ///< stored weight / codebook entry
  using activation_type = std::int8_t;      ///< quantized activation
  using accumulator_type = std::int32_t;    ///< dot-product accumulator
  static constexpr int qmax = 127;          ///< largest magnitude of a quantized value
  static constexpr int qmin = -127;         ///< smallest quantized value (never −128)
  /// Longest reduction an int32 accumulator holds without overflow: cols · 127² ≤ 2³¹ − 1.
  static constexpr std::size_t max_reduction =
      static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()) / (127u * 127u);
};

/// Kernel family, selected by the codebook index width (the exact K inside a family is a runtime value).
enum class index_family : std::uint8_t {
  dense,   ///< no codebook: dense weights
  nibble,  ///< K ≤ 16: 4-bit codes, in-register lookup tables
  byte,    ///< K ≤ 256: byte indices, decode through an L1-resident codebook
  wide,    ///< K > 256: generic decode path
};

/// The family that serves codebook size `k` (0 means dense).
[[nodiscard]] constexpr index_family family_for(std::uint32_t k) noexcept {
  return k == 0 ? index_family::dense : k <= 16 ? index_family::nibble : k <= 256 ? index_family::byte
                                                                                   : index_family::wide;
}

/// "dense", "nibble", "byte" or "wide".
[[nodiscard]] constexpr const char* to_string(index_family f) noexcept {
  switch (f) {
    case index_family::dense: return "dense";
    case index_family::nibble: return "nibble";
    case index_family::byte: return "byte";
    case index_family::wide: return "wide";
  }
  return "?";
}

/// Compile-time kernel configuration: family, sub-vector dimension d (0 for dense) and N:M pattern.
struct kernel_config {
  index_family family = index_family::dense;  ///< index width class
  std::uint8_t d = 0;                         ///< codeword dimension (0: dense)
  nm_pattern nm{};                            ///< structured sparsity ({0, 0}: none)
  friend constexpr bool operator==(kernel_config, kernel_config) = default;
};

/// Derived numbers of a kernel configuration, shared by the SIMD kernels and the emulator's processing element.
/// @tparam C the configuration
template <kernel_config C>
struct kernel_traits : int8_conventions {
  static_assert(C.family == index_family::dense ? C.d == 0 : (C.d >= 1 && C.d <= max_subvector_dim),
                "kernel_config: d must be 0 for dense kernels and between 1 and 64 for codebook kernels.");
  static_assert(C.nm.dense() || (C.nm.m >= 1 && C.nm.m <= max_nm_group && C.nm.n >= 1 && C.nm.n <= C.nm.m),
                "kernel_config: the N:M pattern must have 1 ≤ N ≤ M ≤ 16.");
  static_assert(C.nm.dense() || C.d == 0 || C.d % C.nm.m == 0,
                "kernel_config: d must be a multiple of M, so each sub-vector holds whole N:M groups.");
  static constexpr kernel_config config = C;
  /// Largest K of the family (0 for dense).
  static constexpr std::uint32_t max_k = C.family == index_family::nibble ? 16u
                                         : C.family == index_family::byte ? 256u
                                         : C.family == index_family::wide ? 65536u
                                                                          : 0u;
  /// Weights multiplied per sub-vector: N·d/M under N:M, else d (the emulator's Q PEs per sub-vector, MVQ paper).
  static constexpr std::size_t kept_per_subvector =
      C.nm.dense() ? C.d : static_cast<std::size_t>(C.d) * C.nm.n / C.nm.m;
  /// Output rows a kernel produces together (the packed interleave): 32 for nibble codes (one pshufb covers 32
  /// rows), 8 for byte indices (one 64-bit load fetches the 8 rows' indices of a sub-vector), 1 otherwise.
  static constexpr std::size_t interleave_rows =
      C.family == index_family::nibble ? 32 : C.family == index_family::byte ? 8 : 1;
};

}  // namespace mvq::inline v0::kernel
