#pragma once
/// @file
/// The compressed-matrix type shared by the quantizers, the kernels and the emulator.
///
/// A rows × cols weight matrix (rows = output channels, cols = reduction length) is cut along each row into
/// cols/d contiguous sub-vectors of d elements. Sub-vector s of row r is replaced by codeword
/// `codebook[index(r, s)]` (d-wide). With an N:M pattern, a mask per group of M consecutive columns keeps at most
/// N positions and the decoded weight is ŵ = mask ⊙ codeword: pruned positions are exactly zero.
///
/// In memory the indices and masks keep exactly the packing of the `.mvq.safetensors` format (docs/format.md):
/// per row, an LSB-first bit stream padded to a whole byte, so loading a file needs no re-packing.

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"

namespace mvq::inline v0 {

/// How a codebook is stored. The fp32 `codebook` span always holds the effective values (rounded to f16, or
/// q·scale for i8), so every consumer sees the same numbers.
enum class codebook_dtype : std::uint8_t { f32, f16, i8 };

/// "f32", "f16" or "i8".
[[nodiscard]] constexpr const char* to_string(codebook_dtype t) noexcept {
  switch (t) {
    case codebook_dtype::f32: return "f32";
    case codebook_dtype::f16: return "f16";
    case codebook_dtype::i8: return "i8";
  }
  return "?";
}

/// "none", "bitmap" or "pattern".
[[nodiscard]] constexpr const char* to_string(mask_encoding e) noexcept {
  switch (e) {
    case mask_encoding::none: return "none";
    case mask_encoding::bitmap: return "bitmap";
    case mask_encoding::pattern: return "pattern";
  }
  return "?";
}

/// Runtime shape and parameters of a compressed matrix; everything else about its storage derives from these.
/// K, d and N:M are spelled by the same `vq_config` and `nm_pattern` the kernels and the emulator take as
/// template parameters; `k()` and `d()` are shorthands that read `vq`.
struct compressed_layout {
  std::size_t rows = 0;       ///< output channels
  std::size_t cols = 0;       ///< reduction length, a multiple of d
  vq_config vq{};             ///< K (a power of two in [2, 65536]) and d
  nm_pattern nm{};            ///< {0, 0}: dense
  reduction_order order = reduction_order::oihw;  ///< column order of a conv weight (core/reduction_order.hpp)
  mask_encoding masks = mask_encoding::none;   ///< none exactly when nm is dense
  codebook_dtype codebook = codebook_dtype::f32;

  /// Codebook size K (`vq.codebook_size`).
  [[nodiscard]] constexpr std::uint32_t k() const noexcept { return vq.codebook_size; }
  /// Sub-vector dimension d (`vq.subvector_dim`).
  [[nodiscard]] constexpr std::uint32_t d() const noexcept { return vq.subvector_dim; }
  [[nodiscard]] constexpr unsigned index_bits() const noexcept { return mvq::index_bits(k()); }
  [[nodiscard]] constexpr std::size_t subvectors_per_row() const noexcept { return d() ? cols / d() : 0; }
  [[nodiscard]] constexpr std::size_t subvectors() const noexcept { return rows * subvectors_per_row(); }
  [[nodiscard]] constexpr std::size_t index_bytes_per_row() const noexcept {
    return packed_bytes(subvectors_per_row(), index_bits());
  }
  [[nodiscard]] constexpr std::size_t groups_per_row() const noexcept { return nm.dense() ? 0 : cols / nm.m; }
  [[nodiscard]] constexpr unsigned mask_bits() const noexcept { return mask_bits_per_group(nm, masks); }
  [[nodiscard]] constexpr std::size_t mask_bytes_per_row() const noexcept {
    return packed_bytes(groups_per_row(), mask_bits());
  }
  /// Bits of one stored codebook entry.
  [[nodiscard]] constexpr unsigned codebook_entry_bits() const noexcept {
    return codebook == codebook_dtype::f32 ? 32u : codebook == codebook_dtype::f16 ? 16u : 8u;
  }
  /// All stored bits: indices + masks + codebook (+ the 32-bit scale of an i8 codebook).
  [[nodiscard]] constexpr std::uint64_t stored_bits() const noexcept {
    std::uint64_t b = std::uint64_t{rows} * (index_bytes_per_row() + mask_bytes_per_row()) * 8;
    b += std::uint64_t{k()} * d() * codebook_entry_bits();
    if (codebook == codebook_dtype::i8) b += 32;
    return b;
  }
  /// Stored bits per dense weight.
  [[nodiscard]] constexpr double bits_per_weight() const noexcept {
    return rows && cols ? static_cast<double>(stored_bits()) / (static_cast<double>(rows) * static_cast<double>(cols)) : 0.0;
  }
  friend constexpr bool operator==(compressed_layout const&, compressed_layout const&) = default;
};

/// Checks a layout's parameters and that its arrays cannot overflow `size_t`.
[[nodiscard]] inline result<void> validate(compressed_layout const& l) {
  if (const char* e = check(l.vq, l.nm); *e)
    return fail(errc::invalid_argument, "compressed layout: k = " + std::to_string(l.k()) + ", d = " +
                                            std::to_string(l.d()) + ", N:M " + to_string(l.nm) + ": " + e);
  if (l.order != reduction_order::oihw && l.order != reduction_order::ohwi)
    return fail(errc::invalid_argument, "compressed layout: the reduction order is neither oihw nor ohwi");
  if (l.cols % l.d() != 0)
    return fail(errc::shape_mismatch, "compressed layout: the row length " + std::to_string(l.cols) +
                                          " is not a multiple of d = " + std::to_string(l.d()));
  if (l.nm.dense() != (l.masks == mask_encoding::none))
    return fail(errc::invalid_argument,
                "compressed layout: a mask encoding is required exactly when the N:M pattern is not dense");
  constexpr auto max = std::numeric_limits<std::size_t>::max() / 64;
  if (l.cols > max || (l.rows != 0 && l.cols > max / l.rows))
    return fail(errc::too_large, "compressed layout: " + std::to_string(l.rows) + " × " + std::to_string(l.cols) +
                                     " elements overflow");
  return {};
}

/// Read-only view of a compressed matrix (spans into memory someone else owns, e.g. a mapped file).
struct compressed_matrix_view {
  compressed_layout layout;
  std::span<const float> codebook;            ///< k·d effective fp32 values, codeword j at [j·d, (j+1)·d)
  std::span<const std::int8_t> codebook_i8;   ///< k·d int8 values when layout.codebook is i8, else empty
  float codebook_scale = 1.0f;                ///< codebook = codebook_i8 · scale when i8
  std::span<const std::uint8_t> indices;      ///< rows · index_bytes_per_row
  std::span<const std::uint8_t> masks;        ///< rows · mask_bytes_per_row (empty when dense)

  /// Codeword index of sub-vector s of row r.
  [[nodiscard]] std::uint32_t index(std::size_t r, std::size_t s) const noexcept {
    return read_bits(indices.subspan(r * layout.index_bytes_per_row(), layout.index_bytes_per_row()), s,
                     layout.index_bits());
  }
  /// Kept-position bitmap (bit t = column g·M + t kept) of group g of row r; all ones (M bits) when dense.
  [[nodiscard]] std::uint32_t group_bitmap(std::size_t r, std::size_t g) const noexcept {
    if (layout.nm.dense()) return 0xffffffffu;
    std::uint32_t v = read_bits(masks.subspan(r * layout.mask_bytes_per_row(), layout.mask_bytes_per_row()), g,
                                layout.mask_bits());
    return layout.masks == mask_encoding::bitmap ? v : pattern_bitmap(layout.nm, v);
  }
  /// Codeword j as a span of d floats.
  [[nodiscard]] std::span<const float> codeword(std::uint32_t j) const noexcept {
    return codebook.subspan(std::size_t{j} * layout.d(), layout.d());
  }
};

/// Checks that a view's arrays have the sizes its layout implies and that their contents are valid:
/// every index < k, every pattern index < C(M,N), every bitmap keeps at most N positions, the i8 codebook
/// matches the fp32 one. Run it once on data from outside (files); kernels then trust the view.
[[nodiscard]] inline result<void> validate(compressed_matrix_view const& v) {
  auto const& l = v.layout;
  if (auto r = validate(l); !r) return r;
  auto expect = [](std::size_t got, std::size_t want, const char* what) -> result<void> {
    if (got != want)
      return fail(errc::shape_mismatch, std::string("compressed matrix: ") + what + " has " + std::to_string(got) +
                                            " elements, the layout needs " + std::to_string(want));
    return {};
  };
  if (auto r = expect(v.codebook.size(), std::size_t{l.k()} * l.d(), "codebook"); !r) return r;
  if (auto r = expect(v.codebook_i8.size(), l.codebook == codebook_dtype::i8 ? std::size_t{l.k()} * l.d() : 0,
                      "codebook_i8");
      !r)
    return r;
  if (auto r = expect(v.indices.size(), l.rows * l.index_bytes_per_row(), "indices"); !r) return r;
  if (auto r = expect(v.masks.size(), l.rows * l.mask_bytes_per_row(), "masks"); !r) return r;
  if (l.codebook == codebook_dtype::i8) {
    if (!(v.codebook_scale > 0.0f) || !std::isfinite(v.codebook_scale))
      return fail(errc::corrupt_file, "compressed matrix: the int8 codebook scale must be finite and positive");
    for (std::size_t i = 0; i < v.codebook_i8.size(); ++i) {
      if (v.codebook_i8[i] == -128)
        return fail(errc::corrupt_file, "compressed matrix: int8 codebook entries must lie in [-127, 127]");
      if (v.codebook[i] != static_cast<float>(v.codebook_i8[i]) * v.codebook_scale)
        return fail(errc::invalid_argument, "compressed matrix: codebook and codebook_i8 · scale disagree");
    }
  }
  // Indices of a power-of-two K fill their bit width exactly, so every stored index is < k by construction.
  if (!l.nm.dense()) {
    const std::uint32_t npat = pattern_count(l.nm);
    for (std::size_t r = 0; r < l.rows; ++r) {
      auto row = v.masks.subspan(r * l.mask_bytes_per_row(), l.mask_bytes_per_row());
      for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
        std::uint32_t m = read_bits(row, g, l.mask_bits());
        bool bad = l.masks == mask_encoding::pattern ? m >= npat : std::popcount(m) > l.nm.n;
        if (bad)
          return fail(errc::corrupt_file, "compressed matrix: row " + std::to_string(r) + ", group " +
                                              std::to_string(g) + ": mask " + std::to_string(m) +
                                              (l.masks == mask_encoding::pattern
                                                   ? " is not a valid pattern index"
                                                   : " keeps more than N positions"));
      }
    }
  }
  return {};
}

/// Owning compressed matrix; `view()` gives the form every algorithm takes.
struct compressed_matrix {
  compressed_layout layout;
  std::vector<float> codebook;
  std::vector<std::int8_t> codebook_i8;
  float codebook_scale = 1.0f;
  std::vector<std::uint8_t> indices;
  std::vector<std::uint8_t> masks;

  [[nodiscard]] compressed_matrix_view view() const noexcept {
    return {layout, codebook, codebook_i8, codebook_scale, indices, masks};
  }
  /// Zero-filled arrays of the right sizes for `l` (indices all 0, masks all-zero bits).
  [[nodiscard]] static result<compressed_matrix> allocate(compressed_layout const& l) {
    if (auto r = validate(l); !r) return tl::unexpected(r.error());
    compressed_matrix m;
    m.layout = l;
    m.codebook.assign(std::size_t{l.k()} * l.d(), 0.0f);
    if (l.codebook == codebook_dtype::i8) m.codebook_i8.assign(std::size_t{l.k()} * l.d(), 0);
    m.indices.assign(l.rows * l.index_bytes_per_row(), 0);
    m.masks.assign(l.rows * l.mask_bytes_per_row(), 0);
    return m;
  }
};

/// Reference decompression: out(r, c) = mask(r, c) · codebook[index(r, c / d)][c mod d]. Obviously correct,
/// not fast; kernels are tested against it. `out` must be rows × cols.
inline void decompress(compressed_matrix_view const& v, matrix_view<float> out) noexcept {
  auto const& l = v.layout;
  for (std::size_t r = 0; r < l.rows; ++r) {
    for (std::size_t s = 0; s < l.subvectors_per_row(); ++s) {
      auto cw = v.codeword(v.index(r, s));
      for (std::size_t t = 0; t < l.d(); ++t) out(r, s * l.d() + t) = cw[t];
    }
    if (!l.nm.dense()) {
      for (std::size_t g = 0; g < l.groups_per_row(); ++g) {
        std::uint32_t bm = v.group_bitmap(r, g);
        for (std::size_t t = 0; t < l.nm.m; ++t)
          if (!((bm >> t) & 1u)) out(r, g * l.nm.m + t) = 0.0f;
      }
    }
  }
}

/// Decompresses into a new rows × cols row-major vector.
[[nodiscard]] inline std::vector<float> decompress(compressed_matrix_view const& v) {
  std::vector<float> out(v.layout.rows * v.layout.cols);
  decompress(v, matrix_view<float>(out.data(), v.layout.rows, v.layout.cols));
  return out;
}

}  // namespace mvq::inline v0
