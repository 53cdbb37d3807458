#pragma once
/// @file
/// Metadata of the kernels, separate from the kernels themselves (as CUTLASS separates an MMA instruction from its
/// `MMA_Traits`): the kernel family chosen by the index width, the configuration and the derived sizes. The
/// SIMD kernels and the systolic-array emulator both read these, so their int8 results can be required to agree
/// bit for bit.

#include <cstddef>
#include <cstdint>
#include <limits>

#include "mvq/core/config.hpp"
#include "mvq/core/int8.hpp"
#include "mvq/core/sentences.hpp"

namespace mvq::inline v0::kernel {

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

/// Compile-time kernel configuration, in the core vocabulary: the largest codebook the kernel accepts and its
/// sub-vector dimension (`vq`; codebook_size 0: dense weights, no codebook; subvector_dim 0 with a codebook:
/// any d, read at run time), the N:M pattern it exploits, and the operand and accumulator widths of its
/// multiply-accumulate. The SIMD kernels are int8 × int8 → int32 (`int8_conventions`); the emulator's processing
/// element takes any widths an `hw::array_config` allows.
struct kernel_config {
  vq_config vq{.codebook_size = 0, .subvector_dim = 0};            ///< largest K accepted and d
  nm_pattern nm{};                                                  ///< structured sparsity ({0, 0}: none)
  std::uint8_t operand_bits = int8_conventions::operand_bits;       ///< weight / activation width
  std::uint8_t accumulator_bits = int8_conventions::accumulator_bits;  ///< partial-sum width
  friend constexpr bool operator==(kernel_config, kernel_config) = default;
};

/// What is wrong with `c` (`config_error::none` when it is valid).
[[nodiscard]] constexpr config_error diagnose(kernel_config c) noexcept {
  if (c.operand_bits < 1 || c.operand_bits > 32) return config_error::kernel_operand_bits;
  if (c.accumulator_bits < 2 * c.operand_bits || c.accumulator_bits > 64) return config_error::kernel_accumulator_bits;
  if (c.vq.codebook_size == 0) return c.vq.subvector_dim != 0 ? config_error::kernel_dense_dim : diagnose(c.nm);
  if (c.vq.subvector_dim == 0) {  // any d: only K and the pattern are fixed
    if (auto e = diagnose(vq_config{c.vq.codebook_size, 1}); e != config_error::none) return e;
    return diagnose(c.nm);
  }
  return diagnose(c.vq, c.nm);
}

/// Empty when `c` is valid, else its sentence.
[[nodiscard]] constexpr const char* check(kernel_config c) noexcept { return sentence(diagnose(c)); }

/// Derived numbers of a kernel configuration, shared by the SIMD kernels' packed forms, the emulator's processing
/// element and the area/energy models. Consumers inherit or read these; none restates them.
/// @tparam C the configuration
template <kernel_config C>
struct kernel_traits : int8_conventions {
  static_assert(require_valid<diagnose(C)>);
  static constexpr kernel_config config = C;
  /// Index width class of the codebook.
  static constexpr index_family family = family_for(C.vq.codebook_size);
  /// Largest K the kernel accepts (0 for dense).
  static constexpr std::uint32_t max_k = C.vq.codebook_size;
  /// Codeword dimension (0: dense, or any d for the generic decode path).
  static constexpr std::size_t subvector_dim = C.vq.subvector_dim;
  /// Bits of a codeword index of the largest codebook.
  static constexpr unsigned index_bits = max_k ? mvq::index_bits(max_k) : 0u;
  /// Weights multiplied per sub-vector: N·d/M under N:M, else d (the emulator's Q PEs per sub-vector, MVQ paper).
  static constexpr std::size_t kept_per_subvector = mvq::kept_per_subvector(C.vq, C.nm);
  /// Operand and accumulator widths of the multiply-accumulate.
  static constexpr unsigned operand_bits = C.operand_bits;
  static constexpr unsigned accumulator_bits = C.accumulator_bits;
  /// Output rows a kernel produces together (the packed interleave): 32 for nibble codes (one pshufb covers 32
  /// rows), 8 for byte indices (one 64-bit load fetches the 8 rows' indices of a sub-vector), 1 otherwise.
  static constexpr std::size_t interleave_rows =
      family == index_family::nibble ? 32 : family == index_family::byte ? 8 : 1;
};

/// `config_error::none` when traits `T` describe the SIMD kernels' int8 × int8 → int32 multiply-accumulate.
template <class T>
inline constexpr config_error simd_int8 =
    T::operand_bits == int8_conventions::operand_bits && T::accumulator_bits == int8_conventions::accumulator_bits
        ? config_error::none
        : config_error::kernel_simd_int8;

}  // namespace mvq::inline v0::kernel
