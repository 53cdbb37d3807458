#pragma once
/// @file
/// Non-owning row-major matrix views with an explicit shape and row stride.

#include <cstddef>
#include <span>
#include <type_traits>

#include "mvq/core/error.hpp"

namespace mvq::inline v0 {

/// A rows × cols row-major matrix whose rows start `stride` elements apart (stride ≥ cols).
template <class T>
class matrix_view {
public:
  using element_type = T;

  constexpr matrix_view() = default;
  /// Views `data` as rows × cols with the given row stride (defaults to cols). The caller guarantees the extent.
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::size_t stride) noexcept
      : data_(data), rows_(rows), cols_(cols), stride_(stride) {}
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
      : matrix_view(data, rows, cols, cols) {}
  /// A mutable view converts to a read-only one.
  template <class U>
    requires(std::is_same_v<std::remove_const_t<T>, U> && std::is_const_v<T>)
  constexpr matrix_view(matrix_view<U> other) noexcept  // NOLINT(google-explicit-constructor)
      : matrix_view(other.data(), other.rows(), other.cols(), other.stride()) {}

  [[nodiscard]] constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] constexpr std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] constexpr std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] constexpr std::size_t stride() const noexcept { return stride_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }

  [[nodiscard]] constexpr T& operator()(std::size_t r, std::size_t c) const noexcept {
    return data_[r * stride_ + c];
  }
  /// Row r as a span of cols elements.
  [[nodiscard]] constexpr std::span<T> row(std::size_t r) const noexcept { return {data_ + r * stride_, cols_}; }

private:
  T* data_ = nullptr;
  std::size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

/// Checked construction from a span: an error when the span is shorter than the shape needs.
template <class T>
[[nodiscard]] result<matrix_view<T>> make_matrix_view(std::span<T> data, std::size_t rows, std::size_t cols,
                                                      std::size_t stride = 0) {
  if (stride == 0) stride = cols;
  if (stride < cols) return fail(errc::invalid_argument, "matrix_view: row stride is smaller than the row length");
  if (rows != 0 && cols != 0) {
    if (stride > (static_cast<std::size_t>(-1) - cols) / rows)
      return fail(errc::too_large, "matrix_view: rows × stride overflows");
    if ((rows - 1) * stride + cols > data.size())
      return fail(errc::shape_mismatch, "matrix_view: " + std::to_string(rows) + "×" + std::to_string(cols) +
                                            " with stride " + std::to_string(stride) + " needs more than the " +
                                            std::to_string(data.size()) + " elements given");
  }
  return matrix_view<T>(data.data(), rows, cols, stride);
}

}  // namespace mvq::inline v0
