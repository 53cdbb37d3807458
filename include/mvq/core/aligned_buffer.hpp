#pragma once
/// @file
/// A 64-byte aligned heap buffer for SIMD tables. Unlike `xsimd::aligned_allocator`, it contains no `throw`, so
/// it compiles under -fno-exceptions (allocation failure follows the global `operator new`).

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "mvq/version.hpp"

namespace mvq::inline v0 {

/// 64-byte aligned, value-initialized heap array of trivially copyable `T`.
template <class T>
class aligned_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "aligned_buffer: T must be trivially copyable.");

public:
  static constexpr std::size_t alignment = 64;

  aligned_buffer() = default;
  /// n elements, each `value`.
  explicit aligned_buffer(std::size_t n, T value = T{}) { assign(n, value); }
  aligned_buffer(aligned_buffer&& o) noexcept : n_(std::exchange(o.n_, 0)), p_(std::exchange(o.p_, nullptr)) {}
  aligned_buffer& operator=(aligned_buffer&& o) noexcept {
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
    return *this;
  }
  aligned_buffer(aligned_buffer const& o) : aligned_buffer(o.n_) { std::copy(o.p_, o.p_ + n_, p_); }
  aligned_buffer& operator=(aligned_buffer const& o) {
    if (this != &o) *this = aligned_buffer(o);
    return *this;
  }
  ~aligned_buffer() { release(); }

  /// Replaces the contents with n copies of `value` (reallocating only when the size changes).
  void assign(std::size_t n, T value) {
    if (n != n_) {
      release();
      p_ = n ? static_cast<T*>(::operator new[](n * sizeof(T), std::align_val_t{alignment})) : nullptr;
      n_ = n;
    }
    std::fill(p_, p_ + n_, value);
  }

  [[nodiscard]] T* data() noexcept { return p_; }
  [[nodiscard]] const T* data() const noexcept { return p_; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  T& operator[](std::size_t i) noexcept { return p_[i]; }
  const T& operator[](std::size_t i) const noexcept { return p_[i]; }
  [[nodiscard]] T* begin() noexcept { return p_; }
  [[nodiscard]] T* end() noexcept { return p_ + n_; }
  [[nodiscard]] const T* begin() const noexcept { return p_; }
  [[nodiscard]] const T* end() const noexcept { return p_ + n_; }

private:
  void release() noexcept {
    if (p_) ::operator delete[](p_, std::align_val_t{alignment});
    p_ = nullptr;
    n_ = 0;
  }
  std::size_t n_ = 0;
  T* p_ = nullptr;
};

}  // namespace mvq::inline v0
