#pragma once
/// @file
/// Element types of tensor files (the dtypes of the safetensors format), their sizes and names, and the
/// conversion of little-endian raw elements of any of them to fp32.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mvq/core/error.hpp"
#include "mvq/core/float_formats.hpp"

namespace mvq::inline v0::io {

/// Element type of a stored tensor. The list is the one of the safetensors format (huggingface/safetensors,
/// `Dtype`), minus its sub-byte and complex additions, which no file this project reads uses.
enum class dtype : std::uint8_t {
  f64,      ///< IEEE binary64
  f32,      ///< IEEE binary32
  f16,      ///< IEEE binary16
  bf16,     ///< bfloat16 (the upper half of a binary32)
  f8_e4m3,  ///< OCP fp8 E4M3 (no infinities, max 448)
  f8_e5m2,  ///< OCP fp8 E5M2 (IEEE-like, max 57344)
  i8,       ///< signed 8-bit integer
  i16,      ///< signed 16-bit integer
  i32,      ///< signed 32-bit integer
  i64,      ///< signed 64-bit integer
  u8,       ///< unsigned 8-bit integer
  u16,      ///< unsigned 16-bit integer
  u32,      ///< unsigned 32-bit integer
  u64,      ///< unsigned 64-bit integer
  boolean,  ///< one byte per element, 0 or 1
};

/// Every dtype, in declaration order (for loops and test lists).
inline constexpr dtype all_dtypes[] = {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::f8_e4m3,
                                       dtype::f8_e5m2, dtype::i8, dtype::i16, dtype::i32, dtype::i64,
                                       dtype::u8, dtype::u16, dtype::u32, dtype::u64, dtype::boolean};

/// Bytes per element.
[[nodiscard]] constexpr std::size_t dtype_size(dtype t) noexcept {
  switch (t) {
    case dtype::f64: case dtype::i64: case dtype::u64: return 8;
    case dtype::f32: case dtype::i32: case dtype::u32: return 4;
    case dtype::f16: case dtype::bf16: case dtype::i16: case dtype::u16: return 2;
    case dtype::f8_e4m3: case dtype::f8_e5m2: case dtype::i8: case dtype::u8: case dtype::boolean: return 1;
  }
  return 0;
}

/// The safetensors spelling of a dtype: "F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8" ... "U64", "BOOL".
[[nodiscard]] constexpr std::string_view dtype_name(dtype t) noexcept {
  switch (t) {
    case dtype::f64: return "F64";
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
    case dtype::f8_e4m3: return "F8_E4M3";
    case dtype::f8_e5m2: return "F8_E5M2";
    case dtype::i8: return "I8";
    case dtype::i16: return "I16";
    case dtype::i32: return "I32";
    case dtype::i64: return "I64";
    case dtype::u8: return "U8";
    case dtype::u16: return "U16";
    case dtype::u32: return "U32";
    case dtype::u64: return "U64";
    case dtype::boolean: return "BOOL";
  }
  return "?";
}

/// The dtype spelled `name` in safetensors (case-sensitive, as the format requires); nullopt when unknown.
[[nodiscard]] inline std::optional<dtype> parse_dtype(std::string_view name) noexcept {
  for (dtype t : all_dtypes)
    if (dtype_name(t) == name) return t;
  return std::nullopt;
}

/// True for f64, f32, f16, bf16 and the two fp8 formats.
[[nodiscard]] constexpr bool is_floating(dtype t) noexcept {
  return t == dtype::f64 || t == dtype::f32 || t == dtype::f16 || t == dtype::bf16 || t == dtype::f8_e4m3 ||
         t == dtype::f8_e5m2;
}

namespace detail {

/// Reads an unsigned little-endian integer of `N` bytes from possibly unaligned memory, on any host byte order.
template <class U, std::size_t N = sizeof(U)>
[[nodiscard]] constexpr U load_le(const std::byte* p) noexcept {
  U v = 0;
  for (std::size_t i = 0; i < N; ++i) v = static_cast<U>(v | (static_cast<U>(std::to_integer<unsigned>(p[i])) << (8 * i)));
  return v;
}

/// Writes an unsigned integer as `N` little-endian bytes.
template <class U, std::size_t N = sizeof(U)>
constexpr void store_le(std::byte* p, U v) noexcept {
  for (std::size_t i = 0; i < N; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}

/// Element `i` of little-endian raw data of type `t`, converted to fp32 (integers and f64 round to nearest;
/// BOOL is 0 or 1, any non-zero byte counting as 1).
[[nodiscard]] inline float element_to_f32(dtype t, const std::byte* p) noexcept {
  switch (t) {
    case dtype::f64: return static_cast<float>(std::bit_cast<double>(load_le<std::uint64_t>(p)));
    case dtype::f32: return std::bit_cast<float>(load_le<std::uint32_t>(p));
    case dtype::f16: return from_f16(load_le<std::uint16_t>(p));
    case dtype::bf16: return from_bf16(load_le<std::uint16_t>(p));
    case dtype::f8_e4m3: return from_f8_e4m3(load_le<std::uint8_t>(p));
    case dtype::f8_e5m2: return from_f8_e5m2(load_le<std::uint8_t>(p));
    case dtype::i8: return static_cast<float>(static_cast<std::int8_t>(load_le<std::uint8_t>(p)));
    case dtype::i16: return static_cast<float>(static_cast<std::int16_t>(load_le<std::uint16_t>(p)));
    case dtype::i32: return static_cast<float>(static_cast<std::int32_t>(load_le<std::uint32_t>(p)));
    case dtype::i64: return static_cast<float>(static_cast<std::int64_t>(load_le<std::uint64_t>(p)));
    case dtype::u8: return static_cast<float>(load_le<std::uint8_t>(p));
    case dtype::u16: return static_cast<float>(load_le<std::uint16_t>(p));
    case dtype::u32: return static_cast<float>(load_le<std::uint32_t>(p));
    case dtype::u64: return static_cast<float>(load_le<std::uint64_t>(p));
    case dtype::boolean: return std::to_integer<unsigned>(*p) != 0 ? 1.0f : 0.0f;
  }
  return 0.0f;
}

}  // namespace detail

/// Converts little-endian raw elements of type `t` to fp32 into `out` (one float per element). An error when
/// `raw` is not exactly `out.size()` elements long.
[[nodiscard]] inline result<void> convert_to_f32(dtype t, std::span<const std::byte> raw, std::span<float> out) {
  const std::size_t size = dtype_size(t);
  if (raw.size() / size != out.size() || raw.size() % size != 0)
    return fail(errc::shape_mismatch, "convert_to_f32: " + std::to_string(raw.size()) + " bytes of " +
                                          std::string(dtype_name(t)) + " are not " + std::to_string(out.size()) +
                                          " elements");
  if (t == dtype::f32) {
    if constexpr (std::endian::native == std::endian::little) {
      if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
      return {};
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = detail::element_to_f32(t, raw.data() + i * size);
  return {};
}

}  // namespace mvq::inline v0::io
