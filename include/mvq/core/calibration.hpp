#pragma once
/// @file
/// Streaming second-moment statistics of one layer's input: the Gram matrix H = XᵀX, the row count and the
/// per-column sums, accumulated from batches of rows the caller pushes (an engine calls `add` from its own
/// forward pass, with the already-compressed upstream layers in place: sequential calibration).
///
/// Output-aware compression needs nothing else: for a rows × cols weight W and an estimate Ŵ, the layer-output
/// error over the calibration rows is ‖X(W − Ŵ)ᵀ‖² = tr((W − Ŵ) H (W − Ŵ)ᵀ) (GPTQ, Frantar et al., 2023).
///
/// Paired mode: given, for the same samples, the layer's input in the partly compressed network (X_q) and in the
/// fp32 network (X_fp), `add_paired` accumulates H = X_qᵀX_q and the cross term C = X_qᵀX_fp. Then
///   ‖X_fp Wᵀ − X_q Ŵᵀ‖² = tr(Ŵ H Ŵᵀ) − 2 tr(Ŵ C Wᵀ) + const = tr((Ŵ − W′) H (Ŵ − W′)ᵀ) + const,
/// with W′ = W Cᵀ H⁻¹, so quantizing the target W′ under H aims at the fp32 network's output instead of the
/// partly compressed one's (the asymmetric calibration of GPTAQ). `quant::output_target` computes W′.
///
/// Memory: cols² doubles (twice that when paired): 170 MB for a 4608-wide layer (a 3×3 conv over 512 channels).
/// A layer's statistics live only while that layer is calibrated; a whole-model pass keeps one at a time.
///
/// Determinism: each batch's XᵀX is summed over its rows in row order, one output entry per task, so the result
/// does not depend on the executor or thread count. Different batchings of the same rows agree up to rounding
/// (the batch sums are added to the total). `merge` adds two accumulators entry by entry: rows from several
/// threads, processes or machines add up exactly as their totals do (the reduction distributed PTQ tools
/// perform on Hessians); merge is commutative bit for bit.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mvq/core/error.hpp"
#include "mvq/core/executor.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"

namespace mvq::inline v0 {

/// Input statistics of one layer (see the file comment).
class calibration {
public:
  /// The largest accepted width: cols² doubles must be addressable (and allocatable on real machines).
  static constexpr std::size_t max_cols = std::size_t{1} << 16;

  calibration() = default;

  /// An empty accumulator over rows of `cols` values; `paired` also accumulates the cross term.
  [[nodiscard]] static result<calibration> create(std::size_t cols, bool paired = false) {
    if (cols == 0) return fail(errc::invalid_argument, "calibration: the row width must be at least 1");
    if (cols > max_cols)
      return fail(errc::too_large, "calibration: a row width of " + std::to_string(cols) + " exceeds the limit of " +
                                       std::to_string(max_cols) + " (H would hold cols² doubles)");
    calibration c;
    c.cols_ = cols;
    c.paired_ = paired;
    c.gram_.assign(cols * cols, 0.0);
    c.sums_.assign(cols, 0.0);
    if (paired) c.cross_.assign(cols * cols, 0.0);
    return c;
  }

  /// Zero-data statistics: H = I (every input direction equally likely and uncorrelated), one "row".
  [[nodiscard]] static result<calibration> identity(std::size_t cols) {
    auto c = create(cols);
    if (!c) return c;
    for (std::size_t i = 0; i < cols; ++i) c->gram_[i * cols + i] = 1.0;
    c->rows_ = 1;
    return c;
  }

  /// Zero-data statistics from per-input-channel moments: the expected H = E[x xᵀ] of one row of a Gaussian
  /// input whose channel c has mean `mean[c]` and variance `var[c]`, independent across channels and taps.
  /// A row has channels·taps columns in `order` (oihw: column c·taps + t; ohwi: column t·channels + c), so
  /// H[(c,t),(c′,t′)] = mean[c]·mean[c′] + (c = c′ and t = t′) · var[c]. Column sums hold the means; one "row".
  [[nodiscard]] static result<calibration> from_channel_stats(std::span<const double> mean,
                                                              std::span<const double> var, std::size_t taps,
                                                              reduction_order order) {
    if (mean.size() != var.size())
      return fail(errc::shape_mismatch, "calibration: " + std::to_string(mean.size()) + " channel means but " +
                                            std::to_string(var.size()) + " variances");
    if (mean.empty() || taps == 0)
      return fail(errc::invalid_argument, "calibration: channel statistics need at least one channel and one tap");
    for (std::size_t c = 0; c < mean.size(); ++c)
      if (!std::isfinite(mean[c]) || !std::isfinite(var[c]) || var[c] < 0)
        return fail(errc::invalid_argument, "calibration: channel " + std::to_string(c) +
                                                " has a non-finite mean or a negative or non-finite variance");
    const std::size_t ch = mean.size();
    if (taps > max_cols / ch)
      return fail(errc::too_large, "calibration: " + std::to_string(ch) + " channels × " + std::to_string(taps) +
                                       " taps exceeds the width limit of " + std::to_string(max_cols));
    auto c = create(ch * taps);
    if (!c) return c;
    const std::size_t n = ch * taps;
    auto col = [&](std::size_t chan, std::size_t t) {
      return order == reduction_order::oihw ? chan * taps + t : t * ch + chan;
    };
    for (std::size_t a = 0; a < ch; ++a)
      for (std::size_t ta = 0; ta < taps; ++ta) {
        const std::size_t i = col(a, ta);
        c->sums_[i] = mean[a];
        for (std::size_t b = 0; b < ch; ++b)
          for (std::size_t tb = 0; tb < taps; ++tb) c->gram_[i * n + col(b, tb)] = mean[a] * mean[b];
        c->gram_[i * n + i] += var[a];
      }
    c->rows_ = 1;
    return c;
  }

  /// Rebuilds an accumulator from stored parts (what a file holds), checking every size and value: `gram` and
  /// (when not empty) `cross` are cols × cols, `sums` has cols entries, everything is finite, `gram` is
  /// symmetric with a non-negative diagonal.
  [[nodiscard]] static result<calibration> from_parts(std::size_t cols, std::uint64_t rows, std::vector<double> gram,
                                                      std::vector<double> sums, std::vector<double> cross = {}) {
    auto c = create(cols, !cross.empty());
    if (!c) return c;
    if (gram.size() != cols * cols || sums.size() != cols || (!cross.empty() && cross.size() != cols * cols))
      return fail(errc::shape_mismatch, "calibration: stored parts do not match the width " + std::to_string(cols));
    for (auto const* v : {&gram, &sums, &cross})
      for (double x : *v)
        if (!std::isfinite(x)) return fail(errc::corrupt_file, "calibration: a stored statistic is not finite");
    for (std::size_t i = 0; i < cols; ++i) {
      if (gram[i * cols + i] < 0) return fail(errc::corrupt_file, "calibration: H has a negative diagonal entry");
      for (std::size_t j = i + 1; j < cols; ++j)
        if (gram[i * cols + j] != gram[j * cols + i])
          return fail(errc::corrupt_file, "calibration: H is not symmetric (entry " + std::to_string(i) + ", " +
                                              std::to_string(j) + ")");
    }
    c->rows_ = rows;
    c->gram_ = std::move(gram);
    c->sums_ = std::move(sums);
    c->cross_ = std::move(cross);
    return c;
  }

  /// Adds the rows of `x` (n × cols). A batch with the wrong width or a non-finite value is refused and leaves
  /// the accumulator unchanged.
  template <class E>
    requires Executor<std::remove_cvref_t<E>>
  [[nodiscard]] result<void> add(matrix_view<const float> x, E&& ex) {
    if (paired_) return fail(errc::invalid_argument, "calibration: a paired accumulator takes add_paired(x_q, x_fp)");
    if (auto r = check_batch(x, "the batch"); !r) return r;
    accumulate(x, x, gram_, ex);
    add_sums(x);
    return {};
  }
  [[nodiscard]] result<void> add(matrix_view<const float> x) { return add(x, serial_executor{}); }

  /// Paired rows: row i of `x_q` is the layer's input in the partly compressed network, row i of `x_fp` the same
  /// sample's input in the fp32 network. Accumulates H = X_qᵀX_q, C = X_qᵀX_fp and the sums of X_q.
  template <class E>
    requires Executor<std::remove_cvref_t<E>>
  [[nodiscard]] result<void> add_paired(matrix_view<const float> x_q, matrix_view<const float> x_fp, E&& ex) {
    if (!paired_) return fail(errc::invalid_argument, "calibration: add_paired needs an accumulator created paired");
    if (auto r = check_batch(x_q, "the compressed-network batch"); !r) return r;
    if (auto r = check_batch(x_fp, "the fp32 batch"); !r) return r;
    if (x_q.rows() != x_fp.rows())
      return fail(errc::shape_mismatch, "calibration: paired batches have " + std::to_string(x_q.rows()) + " and " +
                                            std::to_string(x_fp.rows()) + " rows");
    accumulate(x_q, x_q, gram_, ex);
    accumulate(x_q, x_fp, cross_, ex);
    add_sums(x_q);
    return {};
  }
  [[nodiscard]] result<void> add_paired(matrix_view<const float> x_q, matrix_view<const float> x_fp) {
    return add_paired(x_q, x_fp, serial_executor{});
  }

  /// Adds another accumulator of the same width and mode.
  [[nodiscard]] result<void> merge(calibration const& o) {
    if (o.cols_ != cols_ || o.paired_ != paired_)
      return fail(errc::shape_mismatch, "calibration: cannot merge a width-" + std::to_string(o.cols_) +
                                            (o.paired_ ? " paired" : "") + " accumulator into a width-" +
                                            std::to_string(cols_) + (paired_ ? " paired" : "") + " one");
    for (std::size_t i = 0; i < gram_.size(); ++i) gram_[i] += o.gram_[i];
    for (std::size_t i = 0; i < cross_.size(); ++i) cross_[i] += o.cross_[i];
    for (std::size_t i = 0; i < sums_.size(); ++i) sums_[i] += o.sums_[i];
    rows_ += o.rows_;
    return {};
  }

  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] std::uint64_t rows() const noexcept { return rows_; }
  [[nodiscard]] bool paired() const noexcept { return paired_; }
  /// H, cols × cols row-major, symmetric.
  [[nodiscard]] std::span<const double> gram() const noexcept { return gram_; }
  /// C = X_qᵀX_fp, cols × cols row-major (empty unless paired).
  [[nodiscard]] std::span<const double> cross() const noexcept { return cross_; }
  /// Σ over rows of x (of x_q when paired).
  [[nodiscard]] std::span<const double> column_sums() const noexcept { return sums_; }

private:
  [[nodiscard]] result<void> check_batch(matrix_view<const float> x, const char* what) const {
    if (cols_ == 0) return fail(errc::invalid_argument, "calibration: the accumulator was not created");
    if (x.rows() > 0 && x.cols() != cols_)
      return fail(errc::shape_mismatch, std::string("calibration: ") + what + " has " + std::to_string(x.cols()) +
                                            " columns, the layer's reduction length is " + std::to_string(cols_));
    for (std::size_t r = 0; r < x.rows(); ++r)
      for (float v : x.row(r))
        if (!std::isfinite(v))
          return fail(errc::invalid_argument, std::string("calibration: row ") + std::to_string(r) + " of " + what +
                                                  " has a non-finite value");
    return {};
  }

  // out += aᵀb (cols × cols) with each entry's sum over rows in row order; task i owns row i of the output.
  template <class E>
  void accumulate(matrix_view<const float> a, matrix_view<const float> b, std::vector<double>& out, E& ex) {
    const std::size_t n = a.rows(), c = cols_;
    if (n == 0) return;
    const bool sym = a.data() == b.data() && a.stride() == b.stride();
    ex.parallel_for(c, [&](std::size_t i) {
      const std::size_t j0 = sym ? i : 0;
      std::vector<double> acc(c - j0, 0.0);
      for (std::size_t r = 0; r < n; ++r) {
        const double ai = a(r, i);
        if (ai == 0.0) continue;
        const float* br = b.row(r).data() + j0;
        for (std::size_t j = 0; j < acc.size(); ++j) acc[j] += ai * static_cast<double>(br[j]);
      }
      double* o = out.data() + i * c + j0;
      for (std::size_t j = 0; j < acc.size(); ++j) o[j] += acc[j];
    });
    if (sym)
      for (std::size_t i = 0; i < c; ++i)
        for (std::size_t j = i + 1; j < c; ++j) out[j * c + i] = out[i * c + j];
  }

  void add_sums(matrix_view<const float> x) {
    for (std::size_t r = 0; r < x.rows(); ++r)
      for (std::size_t j = 0; j < cols_; ++j) sums_[j] += x(r, j);
    rows_ += x.rows();
  }

  std::size_t cols_ = 0;
  std::uint64_t rows_ = 0;
  bool paired_ = false;
  std::vector<double> gram_, sums_, cross_;
};

}  // namespace mvq::inline v0
