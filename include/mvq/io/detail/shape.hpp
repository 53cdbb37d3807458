#pragma once
/// @file
/// Shape helpers shared by the io formats: overflow-checked byte sizes and printable shapes.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "mvq/io/dtype.hpp"

namespace mvq::inline v0::io::detail {

/// "[3, 4]" for error messages and tables.
[[nodiscard]] inline std::string shape_string(std::span<const std::uint64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

/// Elements × dtype size of `shape`, or nullopt on 64-bit overflow. A zero dimension makes the tensor empty
/// however large the others are.
[[nodiscard]] inline std::optional<std::uint64_t> byte_size(std::span<const std::uint64_t> shape, dtype t) noexcept {
  if (std::find(shape.begin(), shape.end(), std::uint64_t{0}) != shape.end()) return 0;
  constexpr std::uint64_t max = static_cast<std::uint64_t>(-1);
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) {
    if (n > max / d) return std::nullopt;
    n *= d;
  }
  const std::uint64_t size = dtype_size(t);
  if (n > max / size) return std::nullopt;
  return n * size;
}

}  // namespace mvq::inline v0::io::detail
