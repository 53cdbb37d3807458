#pragma once
/// @file
/// The one table of configuration sentences. Every invalid compile-time configuration (`vq_config`,
/// `nm_pattern`, `kernel_config`, a kernel policy, `hw::array_config`) is named by a `config_error`; its sentence
/// is written here once and read by
///  - the runtime checks (`check(...)` returns `sentence(code)`; `validate(...)` wraps it in an `error`), and
///  - the compile-time checks: `static_assert(require_valid<diagnose(C)>)` instantiates a specialization whose
///    own `static_assert` carries the sentence, so the compiler prints exactly the text `check` returns.
/// A `static_assert` message must be a string literal in C++20, so the table is an X-macro (the only way to
/// spell a literal once and use it in three places); the macro is undefined at the end of this header.

#include <cstdint>

#include "mvq/version.hpp"

// X(code, sentence)
#define MVQ_CONFIG_SENTENCES(X)                                                                                 \
  X(nm_m_zero, "nm_pattern: M must be at least 1 unless the pattern is {0, 0} (dense).")                        \
  X(nm_m_too_large, "nm_pattern: M must be at most 16.")                                                        \
  X(nm_n_zero, "nm_pattern: N must be at least 1; {0, 0} is the only spelling of dense.")                       \
  X(nm_n_above_m, "nm_pattern: N must not exceed M.")                                                           \
  X(vq_codebook_range, "vq_config: codebook_size must be between 2 and 65536.")                                 \
  X(vq_codebook_power, "vq_config: codebook_size must be a power of two.")                                      \
  X(vq_dim_range, "vq_config: subvector_dim must be between 1 and 64.")                                         \
  X(vq_dim_multiple_of_m,                                                                                       \
    "nm_pattern: the sub-vector dimension must be a multiple of M, so each sub-vector holds whole N:M groups.")  \
  X(kernel_dense_dim, "kernel_config: a kernel without a codebook (codebook_size 0) has no sub-vector dimension.") \
  X(kernel_operand_bits, "kernel_config: operand_bits must be between 1 and 32.")                               \
  X(kernel_accumulator_bits, "kernel_config: accumulator_bits must be at least twice operand_bits and at most 64.") \
  X(kernel_simd_int8, "kernel_config: the SIMD kernels multiply int8 operands into int32 accumulators.")        \
  X(policy_vq_byte_dim, "vq_byte: the sub-vector dimension must be 4, 8 or 16.")                                \
  X(policy_vq_nibble_dim, "vq_nibble: the sub-vector dimension must be 2 or 4.")                                \
  X(policy_mvq_dim, "mvq_byte: the sub-vector dimension must be 4, 8 or 16.")                                   \
  X(policy_mvq_sparse, "mvq_byte: the N:M pattern must be sparse; use vq_byte for dense codebooks.")            \
  X(policy_nm_power, "nm_sparse: the pattern must be sparse with M a power of two (at most 16).")               \
  X(array_rows, "array_config: rows must be between 1 and 4096.")                                               \
  X(array_cols, "array_config: cols must be between 1 and 4096.")                                               \
  X(array_flow, "array_config: flow must be one of ws, os, is, ews.")                                           \
  X(array_pe, "array_config: pe must be dense_mac, sparse_nm or vq_decode.")                                    \
  X(array_bandwidth, "array_config: bandwidth must be calc or user.")                                           \
  X(array_operand_bits, "array_config: operand_bits must be between 1 and 32.")                                 \
  X(array_accumulator_bits, "array_config: accumulator_bits must be at least twice operand_bits and at most 64.") \
  X(array_sram_min, "array_config: every SRAM (ifmap, filter, ofmap) must hold at least 1 kB.")                 \
  X(array_sram_max, "array_config: an SRAM larger than 4 GB is not supported.")                                 \
  X(array_user_bandwidth, "array_config: USER bandwidth needs dram_words_per_cycle of at least 1.")             \
  X(array_register_files,                                                                                       \
    "array_config: the EWS register files (wrf_depth, arf_depth, prf_depth) must hold between 1 and 1024 entries.") \
  X(array_clock, "array_config: clock_mhz must be at least 1.")                                                 \
  X(array_dense_nm,                                                                                             \
    "array_config: dense_mac PEs cannot exploit an N:M pattern; use pe_kind::sparse_nm or leave nm dense.")     \
  X(array_sparse_dense, "array_config: sparse_nm PEs need a non-dense N:M pattern in nm.")                      \
  X(array_codebook_rf, "array_config: the codebook register file must hold at least K codewords.")             \
  X(array_fit_nm, "systolic_array: the weights' N:M pattern differs from the N:M pattern of the array's PEs.")  \
  X(array_fit_codebook, "systolic_array: the weights' codebook size K exceeds the array's codebook register file.") \
  X(array_fit_dim, "systolic_array: the weights' sub-vector dimension d differs from the array's vq.subvector_dim.")

namespace mvq::inline v0 {

/// What is wrong with a compile-time configuration; `none` when nothing is.
enum class config_error : std::uint8_t {
  none,
#define MVQ_X(code, text) code,
  MVQ_CONFIG_SENTENCES(MVQ_X)
#undef MVQ_X
};

/// The sentence of `e` ("" for `none`).
[[nodiscard]] constexpr const char* sentence(config_error e) noexcept {
  switch (e) {
    case config_error::none: return "";
#define MVQ_X(code, text) \
  case config_error::code: return text;
    MVQ_CONFIG_SENTENCES(MVQ_X)
#undef MVQ_X
  }
  return "";
}

namespace detail {
template <class>
inline constexpr bool config_dependent_false = false;

/// `config_assert<E>::ok` is true for `none`; naming it for any other code fails to compile with E's sentence.
template <config_error E, class T = void>
struct config_assert {
  static constexpr bool ok = true;
};
#define MVQ_X(code, text)                                          \
  template <class T>                                               \
  struct config_assert<config_error::code, T> {                    \
    static_assert(config_dependent_false<T>, text);                \
    static constexpr bool ok = false;                              \
  };
MVQ_CONFIG_SENTENCES(MVQ_X)
#undef MVQ_X
}  // namespace detail

/// True for `config_error::none`; any other code is a compile error whose message is its sentence. Use as
/// `static_assert(require_valid<diagnose(C)>);` in a class template over a configuration.
template <config_error E>
inline constexpr bool require_valid = detail::config_assert<E>::ok;

}  // namespace mvq::inline v0

#undef MVQ_CONFIG_SENTENCES
