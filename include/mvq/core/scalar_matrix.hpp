#pragma once
/// @file
/// The scalar-quantized matrix type shared by the scalar quantizers (quant/gptq.hpp), the `.mvq.safetensors`
/// format and the kernels.
///
/// A rows × cols weight matrix (rows = output channels, cols = reduction length) stores every weight as an
/// unsigned `bits`-bit code q (2 ≤ bits ≤ 8). Each row is cut into groups of `group` consecutive columns (one group
/// spanning the whole row when `group` is 0); group g of row r has an fp32 scale s and an integer zero point z,
/// and the decoded weight is
///
///     ŵ = s · (q − z)        (computed in fp32: s · float(q − z))
///
/// A symmetric layer stores no zero points: z is the fixed mid-point 2^(bits−1), so q − z runs over
/// [−2^(bits−1), 2^(bits−1) − 1]. An affine layer stores one U8 zero point per (row, group), each < 2^bits.
///
/// The codes keep exactly the packing of the `.mvq.safetensors` format (docs/format.md): per row an LSB-first
/// stream of `bits`-bit fields padded to a whole byte (core/bitpack.hpp), so 4-bit codes are two per byte, low
/// nibble first, and 8-bit codes are one byte each. Loading a file needs no re-packing, and a kernel can read the
/// stream directly.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"

namespace mvq::inline v0 {

/// Fewest bits of a scalar code.
inline constexpr unsigned min_scalar_bits = 2;
/// Most bits of a scalar code (one code per byte).
inline constexpr unsigned max_scalar_bits = 8;

/// The decode of one code: scale · (q − zero) in fp32. The one formula every decoder and the quantizers' error
/// feedback use, so what a quantizer assumes is exactly what a reader gets.
[[nodiscard]] constexpr float dequantize_scalar(std::uint32_t q, float scale, std::uint32_t zero) noexcept {
  return scale * static_cast<float>(static_cast<std::int32_t>(q) - static_cast<std::int32_t>(zero));
}

/// Runtime shape and parameters of a scalar-quantized matrix; every size of its storage derives from these.
struct scalar_layout {
  std::size_t rows = 0;        ///< output channels
  std::size_t cols = 0;        ///< reduction length
  std::uint8_t bits = 4;       ///< code width, 2…8
  std::uint32_t group = 0;     ///< columns per scale: 0 = one scale per row, else a divisor of cols (32, 64, 128…)
  bool symmetric = true;       ///< true: zero point fixed at 2^(bits−1), none stored; false: one stored per group
  reduction_order order = reduction_order::oihw;  ///< column order of a conv weight (core/reduction_order.hpp)

  /// Largest code, 2^bits − 1.
  [[nodiscard]] constexpr std::uint32_t max_code() const noexcept { return (std::uint32_t{1} << bits) - 1; }
  /// The zero point of a symmetric layer, 2^(bits−1).
  [[nodiscard]] constexpr std::uint32_t mid_point() const noexcept { return std::uint32_t{1} << (bits - 1); }
  /// Columns that share one scale: `group`, or the whole row when `group` is 0.
  [[nodiscard]] constexpr std::size_t group_size() const noexcept { return group ? group : cols; }
  /// Scales (and zero points) per row: 1 when `group` is 0, else cols / group.
  [[nodiscard]] constexpr std::size_t groups_per_row() const noexcept { return group ? cols / group : 1; }
  /// Scales (and zero points) in the whole matrix.
  [[nodiscard]] constexpr std::size_t groups() const noexcept { return rows * groups_per_row(); }
  /// Bytes of one row's packed codes.
  [[nodiscard]] constexpr std::size_t code_bytes_per_row() const noexcept { return packed_bytes(cols, bits); }
  /// All stored bits: the codes with each row's padding, an fp32 scale per (row, group) and, when affine, a U8
  /// zero point per (row, group).
  [[nodiscard]] constexpr std::uint64_t stored_bits() const noexcept {
    std::uint64_t b = std::uint64_t{rows} * code_bytes_per_row() * 8;
    b += std::uint64_t{groups()} * (symmetric ? 32u : 40u);
    return b;
  }
  /// Stored bits per dense weight.
  [[nodiscard]] constexpr double bits_per_weight() const noexcept {
    return rows && cols ? static_cast<double>(stored_bits()) / (static_cast<double>(rows) * static_cast<double>(cols))
                        : 0.0;
  }
  friend constexpr bool operator==(scalar_layout const&, scalar_layout const&) = default;
};

/// Checks a layout's parameters (bits in 2…8, group 0 or a divisor of cols, a known reduction order) and that
/// its arrays cannot overflow `size_t`; the error is one sentence naming the value that is wrong.
[[nodiscard]] inline result<void> validate(scalar_layout const& l) {
  if (l.bits < min_scalar_bits || l.bits > max_scalar_bits)
    return fail(errc::invalid_argument, "scalar layout: bits = " + std::to_string(l.bits) +
                                            " is outside 2…8 (codes are 2- to 8-bit unsigned integers).");
  if (l.group != 0 && l.cols % l.group != 0)
    return fail(errc::shape_mismatch, "scalar layout: the group of " + std::to_string(l.group) +
                                          " columns does not divide the row length " + std::to_string(l.cols) + ".");
  if (l.order != reduction_order::oihw && l.order != reduction_order::ohwi)
    return fail(errc::invalid_argument, "scalar layout: the reduction order is neither oihw nor ohwi.");
  constexpr auto max = std::numeric_limits<std::size_t>::max() / 64;
  if (l.cols > max || (l.rows != 0 && l.cols > max / l.rows))
    return fail(errc::too_large, "scalar layout: " + std::to_string(l.rows) + " × " + std::to_string(l.cols) +
                                     " elements overflow.");
  return {};
}

/// Read-only view of a scalar-quantized matrix (spans into memory someone else owns, e.g. a mapped file).
struct scalar_matrix_view {
  scalar_layout layout;
  std::span<const std::uint8_t> codes;   ///< rows · code_bytes_per_row
  std::span<const float> scales;         ///< rows · groups_per_row, row-major
  std::span<const std::uint8_t> zeros;   ///< rows · groups_per_row when affine, empty when symmetric

  /// Code of weight (r, c).
  [[nodiscard]] std::uint32_t code(std::size_t r, std::size_t c) const noexcept {
    const std::size_t n = layout.code_bytes_per_row();
    return read_bits(codes.subspan(r * n, n), c, layout.bits);
  }
  /// Scale of group g of row r.
  [[nodiscard]] float scale(std::size_t r, std::size_t g) const noexcept {
    return scales[r * layout.groups_per_row() + g];
  }
  /// Zero point of group g of row r (the mid-point 2^(bits−1) when symmetric).
  [[nodiscard]] std::uint32_t zero(std::size_t r, std::size_t g) const noexcept {
    return layout.symmetric ? layout.mid_point() : zeros[r * layout.groups_per_row() + g];
  }
  /// Decoded weight (r, c): scale · (q − zero) in fp32.
  [[nodiscard]] float value(std::size_t r, std::size_t c) const noexcept {
    const std::size_t g = c / layout.group_size();
    return dequantize_scalar(code(r, c), scale(r, g), zero(r, g));
  }
};

/// Checks that a view's arrays have the sizes its layout implies and that their contents are valid: every scale
/// finite and positive, every stored zero point < 2^bits. Codes fill their bit width, so every code is ≤ 2^bits − 1
/// by construction. Run it once on data from outside (files); kernels then trust the view.
[[nodiscard]] inline result<void> validate(scalar_matrix_view const& v) {
  auto const& l = v.layout;
  if (auto r = validate(l); !r) return r;
  auto expect = [](std::size_t got, std::size_t want, const char* what) -> result<void> {
    if (got != want)
      return fail(errc::shape_mismatch, std::string("scalar matrix: ") + what + " has " + std::to_string(got) +
                                            " elements, the layout needs " + std::to_string(want));
    return {};
  };
  if (auto r = expect(v.codes.size(), l.rows * l.code_bytes_per_row(), "codes"); !r) return r;
  if (auto r = expect(v.scales.size(), l.groups(), "scales"); !r) return r;
  if (auto r = expect(v.zeros.size(), l.symmetric ? 0 : l.groups(), "zeros"); !r) return r;
  for (std::size_t i = 0; i < v.scales.size(); ++i)
    if (!std::isfinite(v.scales[i]) || !(v.scales[i] > 0.0f))
      return fail(errc::corrupt_file, "scalar matrix: scale " + std::to_string(i) + " (row " +
                                          std::to_string(i / l.groups_per_row()) + ", group " +
                                          std::to_string(i % l.groups_per_row()) + ") is " +
                                          std::to_string(v.scales[i]) + ", not finite and positive");
  for (std::size_t i = 0; i < v.zeros.size(); ++i)
    if (v.zeros[i] > l.max_code())
      return fail(errc::corrupt_file, "scalar matrix: zero point " + std::to_string(i) + " (row " +
                                          std::to_string(i / l.groups_per_row()) + ", group " +
                                          std::to_string(i % l.groups_per_row()) + ") is " +
                                          std::to_string(v.zeros[i]) + ", not below 2^" + std::to_string(l.bits));
  return {};
}

/// Owning scalar-quantized matrix; `view()` gives the form every algorithm takes.
struct scalar_matrix {
  scalar_layout layout;
  std::vector<std::uint8_t> codes;   ///< per row an LSB-first stream of `bits`-bit codes, padded to a byte
  std::vector<float> scales;         ///< rows × groups_per_row
  std::vector<std::uint8_t> zeros;   ///< rows × groups_per_row when affine, empty when symmetric

  [[nodiscard]] scalar_matrix_view view() const noexcept { return {layout, codes, scales, zeros}; }
  /// Arrays of the right sizes for `l`: codes all 0, scales all 1, zero points all 0.
  [[nodiscard]] static result<scalar_matrix> allocate(scalar_layout const& l) {
    if (auto r = validate(l); !r) return tl::unexpected(r.error());
    scalar_matrix m;
    m.layout = l;
    m.codes.assign(l.rows * l.code_bytes_per_row(), 0);
    m.scales.assign(l.groups(), 1.0f);
    if (!l.symmetric) m.zeros.assign(l.groups(), 0);
    return m;
  }
};

/// Reference decompression: out(r, c) = scale(r, c / group_size) · (q(r, c) − zero(r, c / group_size)) in fp32.
/// Obviously correct, not fast; kernels are tested against it. `out` must be rows × cols.
inline void decompress(scalar_matrix_view const& v, matrix_view<float> out) noexcept {
  for (std::size_t r = 0; r < v.layout.rows; ++r)
    for (std::size_t c = 0; c < v.layout.cols; ++c) out(r, c) = v.value(r, c);
}

/// Decompresses into a new rows × cols row-major vector.
[[nodiscard]] inline std::vector<float> decompress(scalar_matrix_view const& v) {
  std::vector<float> out(v.layout.rows * v.layout.cols);
  decompress(v, matrix_view<float>(out.data(), v.layout.rows, v.layout.cols));
  return out;
}

}  // namespace mvq::inline v0
