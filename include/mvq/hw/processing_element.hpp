#pragma once
/// @file
/// The emulator's processing element, over the kernels' traits (the CuTe rule: an `MMA_Atom` derives from its
/// `MMA_Traits`). `hw::processing_element<C>` derives from `kernel::kernel_traits<C>`, so its operand and
/// accumulator widths, its largest codebook and its kept values per sub-vector are the kernels' numbers, not a
/// copy of them; `pe_config(array_config)` is the kernel configuration an array's PEs implement.
///
/// The multiply-accumulate step:
///  - an operand is an `operand_bits`-wide two's-complement register: a value outside
///    [−2^(b−1), 2^(b−1) − 1] keeps only its low b bits (sign-extended), as a b-bit register would. The
///    emulator's entry points (`simulate_gemm_i8`, `simulate_conv_i8`) refuse such operands with an error before
///    the first cycle, so this truncation is never applied silently to caller data;
///  - the partial sum is an `accumulator_bits`-wide two's-complement register and every addition wraps modulo
///    2^accumulator_bits: a two's-complement adder discards the carry out of its top bit (Patterson & Hennessy,
///    "Computer Organization and Design", §3.2, "Addition and Subtraction"). Wrapping, unlike saturation, is
///    associative, so every dataflow (which sums the same products in different orders) gives the same result:
///    the exact dot product reduced modulo 2^accumulator_bits.
/// The compile-time `processing_element<C>` serves `systolic_array<C>` and the int8 × int32 default; arrays read
/// at run time with other widths use `dynamic_processing_element`, the same step with the widths as values.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/sentences.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::hw {

/// The kernel configuration the PEs of `c` implement: widths always; the N:M pattern of sparse_nm and vq_decode
/// PEs; the codebook shape (K, d) of vq_decode PEs. dense_mac PEs are `kernel_config` with no codebook and no
/// pattern. The codebook register file may hold more than K entries (`codebook_rf_entries`); the kernel
/// configuration names the codebook, K.
[[nodiscard]] constexpr kernel::kernel_config pe_config(array_config const& c) noexcept {
  kernel::kernel_config k{};
  k.operand_bits = c.operand_bits;
  k.accumulator_bits = c.accumulator_bits;
  if (c.pe != pe_kind::dense_mac) k.nm = c.nm;
  if (c.pe == pe_kind::vq_decode) k.vq = c.vq;
  return k;
}

/// The array whose PEs implement `k`, every other field taken from `base`: a codebook makes vq_decode PEs, a
/// pattern without one sparse_nm PEs, neither dense_mac PEs. `pe_config(array_for(k)) == k` for every `k` with a
/// fixed sub-vector dimension, and `array_for(pe_config(c), c) == c` for every valid array `c`.
[[nodiscard]] constexpr array_config array_for(kernel::kernel_config k, array_config base = {}) noexcept {
  base.operand_bits = k.operand_bits;
  base.accumulator_bits = k.accumulator_bits;
  if (k.vq.codebook_size != 0) {
    base.pe = pe_kind::vq_decode;
    base.vq = k.vq;
    base.nm = k.nm;
  } else if (!k.nm.dense()) {
    base.pe = pe_kind::sparse_nm;
    base.nm = k.nm;
  } else {
    base.pe = pe_kind::dense_mac;
    base.nm = {};
  }
  return base;
}

/// Bits of one codeword in the codebook register file: d values of `operand_bits` each. A masked codeword is
/// still d wide: in masked k-means one codeword is shared by sub-vectors with different masks (MVQ, ASPLOS
/// 2025), so all d values are stored.
[[nodiscard]] constexpr std::uint64_t codeword_bits(kernel::kernel_config const& k) noexcept {
  return std::uint64_t{k.vq.subvector_dim} * k.operand_bits;
}
/// Bits of a codebook: K codewords of `codeword_bits` (0 without a codebook). The one definition the analytic
/// model (weight storage and traffic), the area model (register file) and the energy model (codebook writes) use.
[[nodiscard]] constexpr std::uint64_t codebook_bits(kernel::kernel_config const& k) noexcept {
  return std::uint64_t{k.vq.codebook_size} * codeword_bits(k);
}
/// Codebook bits of an array's PEs (`codebook_bits(pe_config(c))`).
[[nodiscard]] constexpr std::uint64_t codebook_bits(array_config const& c) noexcept {
  return codebook_bits(pe_config(c));
}
/// Codeword bits of an array's PEs (`codeword_bits(pe_config(c))`).
[[nodiscard]] constexpr std::uint64_t codeword_bits(array_config const& c) noexcept {
  return codeword_bits(pe_config(c));
}

namespace detail {

/// `v` reduced to a `bits`-bit two's-complement value and sign-extended back: v modulo 2^bits, in
/// [−2^(bits−1), 2^(bits−1) − 1]. C++20 makes the conversions modular and `>>` of a negative value arithmetic.
[[nodiscard]] constexpr std::int64_t wrap_to_bits(std::int64_t v, unsigned bits) noexcept {
  if (bits >= 64) return v;
  const unsigned sh = 64 - bits;
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(v) << sh) >> sh;
}

/// True when `v` is representable in `bits`-bit two's complement.
[[nodiscard]] constexpr bool fits_in_bits(std::int64_t v, unsigned bits) noexcept { return wrap_to_bits(v, bits) == v; }

/// Sum modulo 2^64 (no signed overflow), the adder the narrower widths reduce from.
[[nodiscard]] constexpr std::int64_t add_mod64(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

}  // namespace detail

/// A processing element whose multiply-accumulate has the widths of kernel configuration `C`.
/// @tparam C the kernel configuration (`pe_config(array)` for an array); an invalid one is a compile error
template <kernel::kernel_config C>
struct processing_element : kernel::kernel_traits<C> {
  /// The traits this PE is made of.
  using traits = kernel::kernel_traits<C>;
  /// The partial-sum register: int32 when the accumulator fits it, int64 above.
  using accumulator_type = std::conditional_t<(traits::accumulator_bits <= std::numeric_limits<std::uint32_t>::digits),
                                              std::int32_t, std::int64_t>;
  /// Bits of the codebook register file the traits describe (`codebook_bits(C)`).
  static constexpr std::uint64_t codebook_bits = hw::codebook_bits(C);

  /// True when `v` fits the operand register.
  [[nodiscard]] static constexpr bool fits(std::int64_t v) noexcept {
    return detail::fits_in_bits(v, traits::operand_bits);
  }
  /// What the operand register holds for `v`: its low operand_bits bits, sign-extended.
  [[nodiscard]] static constexpr std::int64_t operand(std::int64_t v) noexcept {
    if constexpr (traits::operand_bits >= std::numeric_limits<std::uint32_t>::digits) return v;
    else return detail::wrap_to_bits(v, traits::operand_bits);
  }
  /// `acc + v` in the accumulator's width (wraps modulo 2^accumulator_bits).
  [[nodiscard]] static constexpr accumulator_type add(std::int64_t acc, std::int64_t v) noexcept {
    const std::int64_t s = detail::add_mod64(acc, v);
    if constexpr (traits::accumulator_bits == std::numeric_limits<std::uint32_t>::digits)
      return static_cast<std::int32_t>(s);  // modular conversion
    else return static_cast<accumulator_type>(detail::wrap_to_bits(s, traits::accumulator_bits));
  }
  /// One multiply-accumulate: `acc + a · w` with both operands in their registers and the sum in the accumulator.
  [[nodiscard]] static constexpr accumulator_type mac(std::int64_t acc, std::int32_t a, std::int32_t w) noexcept {
    return add(acc, operand(a) * operand(w));
  }
};

/// The processing element of an array read at run time whose widths are not a compiled instantiation: the same
/// MAC step as `processing_element`, with `operand_bits` and `accumulator_bits` taken from `pe_config(array)`.
struct dynamic_processing_element {
  /// The partial-sum register (wide enough for any width `kernel_config` allows).
  using accumulator_type = std::int64_t;
  unsigned operand_bits = int8_conventions::operand_bits;          ///< operand register width
  unsigned accumulator_bits = int8_conventions::accumulator_bits;  ///< partial-sum register width

  /// The PE of kernel configuration `k` (its widths).
  [[nodiscard]] static constexpr dynamic_processing_element of(kernel::kernel_config const& k) noexcept {
    return {k.operand_bits, k.accumulator_bits};
  }
  /// True when `v` fits the operand register.
  [[nodiscard]] constexpr bool fits(std::int64_t v) const noexcept { return detail::fits_in_bits(v, operand_bits); }
  /// What the operand register holds for `v`.
  [[nodiscard]] constexpr std::int64_t operand(std::int64_t v) const noexcept {
    return detail::wrap_to_bits(v, operand_bits);
  }
  /// `acc + v` in the accumulator's width.
  [[nodiscard]] constexpr accumulator_type add(std::int64_t acc, std::int64_t v) const noexcept {
    return detail::wrap_to_bits(detail::add_mod64(acc, v), accumulator_bits);
  }
  /// One multiply-accumulate.
  [[nodiscard]] constexpr accumulator_type mac(std::int64_t acc, std::int32_t a, std::int32_t w) const noexcept {
    return add(acc, operand(a) * operand(w));
  }
};

/// The MAC the SIMD kernels perform (int8 × int8 → int32): the PE instantiated for every array with the default
/// widths, whatever its codebook or pattern (the MAC step reads only the widths).
using int8_processing_element = processing_element<kernel::kernel_config{}>;

/// Whether weights of codebook shape `v` and pattern `p` run on the PEs of `c` (`config_error::none` when they
/// do). dense_mac PEs take any weights (decoded to int8 before loading); sparse_nm PEs need `p` to be the array's
/// pattern; vq_decode PEs also need K within the codebook register file and the array's d.
[[nodiscard]] constexpr config_error diagnose_fit(array_config const& c, vq_config v, nm_pattern p) noexcept {
  if (c.pe == pe_kind::dense_mac) return config_error::none;
  if (p != c.nm) return config_error::array_fit_nm;
  if (c.pe == pe_kind::vq_decode) {
    if (v.codebook_size > c.codebook_entries()) return config_error::array_fit_codebook;
    if (v.subvector_dim != c.vq.subvector_dim) return config_error::array_fit_dim;
  }
  return config_error::none;
}

namespace detail {
/// "vq_decode PEs (K ≤ 256, d = 8, N:M 2:4, 8-bit operands, 32-bit accumulators)".
[[nodiscard]] inline std::string describe_pes(array_config const& c) {
  std::string s(to_string(c.pe));
  s += " PEs (";
  if (c.pe == pe_kind::vq_decode)
    s += "K ≤ " + std::to_string(c.codebook_entries()) + ", d = " + std::to_string(c.vq.subvector_dim) + ", ";
  s += "N:M " + to_string(c.pe_pattern()) + ", " + std::to_string(c.operand_bits) + "-bit operands, " +
       std::to_string(c.accumulator_bits) + "-bit accumulators)";
  return s;
}
}  // namespace detail

/// Runtime form of `diagnose_fit` for a compressed matrix: the error names the array's PEs, the matrix's K, d
/// and N:M, and the sentence of what does not fit. `who` prefixes the message ("simulate", ...).
[[nodiscard]] inline result<void> check_fits(array_config const& c, compressed_layout const& l,
                                             std::string_view who = "simulate") {
  const config_error e = diagnose_fit(c, l.vq, l.nm);
  if (e == config_error::none) return {};
  return fail(errc::unsupported, std::string(who) + ": the array's " + detail::describe_pes(c) +
                                     " cannot run a compressed matrix with K = " + std::to_string(l.k()) +
                                     ", d = " + std::to_string(l.d()) + ", N:M " + to_string(l.nm) + ": " +
                                     sentence(e));
}

}  // namespace mvq::inline v0::hw
