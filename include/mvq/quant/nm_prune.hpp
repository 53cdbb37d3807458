#pragma once
/// @file
/// N:M structured pruning (Mishra et al., "Accelerating sparse deep neural networks", 2021; the first step of
/// MVQ): in every group of M consecutive weights along the reduction axis, keep the N with the largest
/// importance score. The score is |w|, or |w|·‖x_col‖₂ when calibration input rows X are given (activation-aware,
/// as in Wanda: Sun et al., "A simple and effective pruning approach for large language models", ICLR 2024).
///
/// Tie-breaking (deterministic): among equal scores the lower column index is kept.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/bitpack.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"

namespace mvq::inline v0::quant {

/// Kept-position bitmaps of an N:M-pruned rows × cols matrix: one M-bit bitmap per group, row-major.
struct nm_mask {
  nm_pattern nm{};
  std::size_t rows = 0, cols = 0;
  std::vector<std::uint16_t> bitmaps;  ///< rows × (cols / M); bit t set when column g·M + t is kept

  [[nodiscard]] std::size_t groups_per_row() const noexcept { return nm.m ? cols / nm.m : 0; }
  /// Bitmap of group g of row r.
  [[nodiscard]] std::uint32_t group(std::size_t r, std::size_t g) const noexcept {
    return bitmaps[r * groups_per_row() + g];
  }
  /// Whether element (r, c) is kept.
  [[nodiscard]] bool kept(std::size_t r, std::size_t c) const noexcept {
    return ((group(r, c / nm.m) >> (c % nm.m)) & 1u) != 0;
  }
  /// Kept-position bitmap of the d-wide sub-vector s of row r (d a multiple of M): bit t = column s·d + t.
  [[nodiscard]] std::uint32_t subvector(std::size_t r, std::size_t s, unsigned d) const noexcept {
    std::uint32_t m = 0;
    const std::size_t g0 = s * d / nm.m;
    for (unsigned u = 0; u < d / nm.m; ++u) m |= group(r, g0 + u) << (u * nm.m);
    return m;
  }
};

/// Bitmap of the N largest of the M scores `score[0..M)` of one group (the lower position on ties): N passes of
/// "first maximum among the unkept". The one N:M selection rule, shared by every pruner.
[[nodiscard]] inline std::uint32_t keep_largest(const double* score, nm_pattern nm) noexcept {
  std::uint32_t bm = 0;
  for (unsigned k = 0; k < nm.n; ++k) {
    unsigned best = nm.m;
    for (unsigned t = 0; t < nm.m; ++t)
      if (!((bm >> t) & 1u) && (best == nm.m || score[t] > score[best])) best = t;
    bm |= 1u << best;
  }
  return bm;
}

/// L2 norm of every column of `calib` (n × cols), in double.
[[nodiscard]] inline std::vector<double> column_norms(matrix_view<const float> calib) {
  std::vector<double> s(calib.cols(), 0.0);
  for (std::size_t i = 0; i < calib.rows(); ++i) {
    auto row = calib.row(i);
    for (std::size_t c = 0; c < calib.cols(); ++c) s[c] += static_cast<double>(row[c]) * row[c];
  }
  for (auto& v : s) v = std::sqrt(v);
  return s;
}

/// Checks an N:M pattern for pruning a matrix with `cols` columns.
[[nodiscard]] inline result<void> check_nm(nm_pattern nm, std::size_t cols) {
  if (nm.dense()) return fail(errc::invalid_argument, "N:M pruning: the pattern is dense (0:0); nothing to prune");
  if (const char* e = check(nm); *e) return fail(errc::unsupported, std::string("N:M pruning: ") + e);
  if (cols % nm.m != 0)
    return fail(errc::shape_mismatch, "N:M pruning: the row length " + std::to_string(cols) +
                                          " is not a multiple of M = " + std::to_string(nm.m));
  return {};
}

/// N:M-prunes `w` (rows × cols, cols a multiple of M). With calibration rows (`calib`: n × cols, n > 0) the
/// score is |w|·‖x_col‖₂, else |w|. Exactly N positions are kept in every group.
[[nodiscard]] inline result<nm_mask> nm_prune(matrix_view<const float> w, nm_pattern nm,
                                              matrix_view<const float> calib = {}) {
  if (auto r = check_nm(nm, w.cols()); !r) return tl::unexpected(r.error());
  const bool aware = calib.rows() > 0;
  if (aware && calib.cols() != w.cols())
    return fail(errc::shape_mismatch, "N:M pruning: calibration rows have " + std::to_string(calib.cols()) +
                                          " columns, the weight has " + std::to_string(w.cols()));
  std::vector<double> norms = aware ? column_norms(calib) : std::vector<double>{};
  nm_mask out;
  out.nm = nm;
  out.rows = w.rows();
  out.cols = w.cols();
  const std::size_t groups = w.cols() / nm.m;
  out.bitmaps.assign(w.rows() * groups, 0);
  double score[max_nm_group];  // nm.m ≤ max_nm_group (checked above); the loop bound says so to the compiler too
  for (std::size_t r = 0; r < w.rows(); ++r) {
    auto row = w.row(r);
    for (std::size_t g = 0; g < groups; ++g) {
      for (unsigned t = 0; t < nm.m && t < max_nm_group; ++t) {
        const std::size_t c = g * nm.m + t;
        score[t] = std::fabs(static_cast<double>(row[c])) * (aware ? norms[c] : 1.0);
      }
      out.bitmaps[r * groups + g] = static_cast<std::uint16_t>(keep_largest(score, nm));
    }
  }
  return out;
}

/// Packs `mask` into the compressed-matrix mask layout: per row an LSB-first stream of M-bit bitmaps
/// (`mask_encoding::bitmap`) or lexicographic pattern ranks (`mask_encoding::pattern`), padded to a whole byte.
/// `out` must hold rows · packed_bytes(groups, mask_bits_per_group(nm, enc)) bytes.
inline void pack_masks(nm_mask const& mask, mask_encoding enc, std::span<std::uint8_t> out) noexcept {
  const unsigned bits = mask_bits_per_group(mask.nm, enc);
  const std::size_t groups = mask.groups_per_row();
  const std::size_t bpr = packed_bytes(groups, bits);
  std::vector<std::uint32_t> vals(groups);
  for (std::size_t r = 0; r < mask.rows; ++r) {
    for (std::size_t g = 0; g < groups; ++g) {
      const std::uint32_t bm = mask.group(r, g);
      vals[g] = enc == mask_encoding::bitmap ? bm : pattern_rank(mask.nm, bm);
    }
    pack_bits(vals, bits, out.subspan(r * bpr, bpr));
  }
}

}  // namespace mvq::inline v0::quant
