#pragma once
/// @file
/// The kernels' common front end. A kernel is a policy type `K` (`dense_f32`, `vq_byte<8>`, …); `pack_for<K>()`
/// turns shared data (a `compressed_matrix_view` or dense weights) into `packed<K>` once, at load time; then
///   gemm<Arch>(w, x, y [, executor])   Y = X Ŵᵀ  (x: B × cols, y: B × rows; B = 1 is a GEMV)
/// for fp32 activations, and for int8 activations (one scale per batch row) either the int32 accumulators
/// (`gemm_i8_acc`, bit-exact against `reference_gemm_i8`) or the dequantized fp32 output. `can_run(args)` checks
/// shapes and limits and returns an error naming the operand; the `run` step behind it trusts its arguments.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "mvq/core/aligned_buffer.hpp"
#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"
#include "mvq/kernel/arch.hpp"
#include "mvq/kernel/executor.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::kernel {

/// The packed form of weights for kernel policy `K`; each kernel header specializes it.
template <class K>
struct packed {
  static_assert(sizeof(K) == 0, "packed<K>: no packed form for this kernel policy; include its kernel header.");
};

/// How `pack_for` / `kernel::pack` turn weights into a packed matrix.
struct pack_options {
  /// The reduction order the caller computes in (the column order of its activations: `conv2d`'s im2col, or the
  /// order the engine lays its inputs out in). For a compressed matrix, packing refuses a layout of another order
  /// with an error naming the tensor; unset accepts either and the packed matrix records the layout's. For dense
  /// weights (a matrix, `weights_i8`) it states their column order (unset: oihw, the tensor's own order).
  std::optional<reduction_order> order{};
  /// The tensor's name, used in every packing error ("tensor 'NAME': …"); empty: no prefix.
  std::string_view name{};
  /// Permission to keep pointing into the view's arrays instead of copying them (e.g. a memory-mapped file); the
  /// caller keeps them alive as long as the packed matrix. Only `vq_generic` can use it (the other kernels
  /// repack into their own interleaved layout and ignore it; see "Zero-copy" in any_layer.hpp).
  bool borrow = false;
};

namespace detail {
/// Base of every `packed<K>`: the reduction order its columns are in (`compressed_layout::order`, or the order
/// stated when packing dense weights). `conv2d` computes its im2col in this order.
class packed_base {
public:
  /// Column order of the packed weights.
  [[nodiscard]] reduction_order order() const noexcept { return order_; }

protected:
  reduction_order order_ = reduction_order::oihw;
  /// Sets the order (packing of dense weights, whose order is stated by the caller).
  friend void set_packed_order(packed_base& p, reduction_order o) noexcept { p.order_ = o; }
};

/// Prefixes an error with the tensor's name ("tensor 'NAME': …"), when there is one.
[[nodiscard]] inline error named_error(error e, std::string_view name) {
  if (!name.empty()) e.message = "tensor '" + std::string(name) + "': " + e.message;
  return e;
}

/// The error of a layout in `got` order packed for a caller computing in `want`.
[[nodiscard]] inline error order_error(reduction_order got, reduction_order want, std::string_view name) {
  return named_error(error{errc::invalid_argument,
                           "the weights' reduction order is " + std::string(to_string(got)) +
                               ", the caller computes in " + std::string(to_string(want)) +
                               " (reorder them with io::to_reduction_order, or pack with that order)"},
                     name);
}
}  // namespace detail

/// Creates the packed form of `src` (a `compressed_matrix_view`, or dense weights for the dense and N:M-sparse
/// kernels) for kernel policy `K`, once, at load time. `opt.order` checks (compressed) or states (dense) the
/// reduction order; errors name `opt.name`.
template <class K, class Src>
[[nodiscard]] auto pack_for(Src const& src, pack_options const& opt = {}) -> decltype(packed<K>::from(src)) {
  using R = decltype(packed<K>::from(src));
  if constexpr (std::is_same_v<Src, compressed_matrix_view>) {
    if (opt.order && *opt.order != src.layout.order)
      return tl::unexpected(detail::order_error(src.layout.order, *opt.order, opt.name));
    R p = [&] {
      if constexpr (requires { packed<K>::borrow(src); })
        return opt.borrow ? packed<K>::borrow(src) : packed<K>::from(src);
      else
        return packed<K>::from(src);
    }();
    if (!p) return tl::unexpected(detail::named_error(std::move(p.error()), opt.name));
    return p;
  } else {
    R p = packed<K>::from(src);
    if (!p) return tl::unexpected(detail::named_error(std::move(p.error()), opt.name));
    set_packed_order(*p, opt.order.value_or(reduction_order::oihw));
    return p;
  }
}

/// `pack_for<K>(src, {.order = expected})`: refuses a compressed matrix whose layout is not in the order the
/// caller computes in.
template <class K, class Src>
[[nodiscard]] auto pack_for(Src const& src, reduction_order expected) -> decltype(packed<K>::from(src)) {
  return pack_for<K>(src, pack_options{.order = expected});
}

/// A kernel policy: an empty tag type whose `traits` are a `kernel_traits<C>`.
template <class K>
concept KernelPolicy = requires {
  typename K::traits;
  { K::traits::config } -> std::convertible_to<kernel_config>;
};

/// Checks that a compressed layout fits kernel traits `T` (the one check behind every policy's `accepts` and
/// every `packed<K>::from` prologue): K ≤ T::max_k, d = T::subvector_dim (any d when that is 0), and the N:M
/// pattern T exploits. The error names the kernel and both configurations.
template <class T>
[[nodiscard]] result<void> check_fits(compressed_layout const& l, std::string_view kernel) {
  if (auto r = validate(l); !r) return r;
  constexpr kernel_config c = T::config;
  const bool ok = l.k() <= T::max_k && (T::subvector_dim == 0 || l.d() == T::subvector_dim) && l.nm == c.nm;
  if (ok) return {};
  return fail(errc::unsupported,
              std::string(kernel) + ": needs K ≤ " + std::to_string(T::max_k) +
                  (T::subvector_dim ? ", d = " + std::to_string(T::subvector_dim) : std::string()) + " and N:M " +
                  to_string(c.nm) + "; the matrix has K = " + std::to_string(l.k()) + ", d = " +
                  std::to_string(l.d()) + ", N:M " + to_string(l.nm));
}

/// Checks that a view's arrays have the sizes its layout implies (what a kernel's packing reads).
[[nodiscard]] inline result<void> check_sizes(compressed_matrix_view const& c, std::string_view kernel) {
  auto const& l = c.layout;
  if (c.indices.size() != l.rows * l.index_bytes_per_row() || c.masks.size() != l.rows * l.mask_bytes_per_row() ||
      c.codebook.size() != std::size_t{l.k()} * l.d())
    return fail(errc::shape_mismatch, std::string(kernel) + ": the view's arrays do not match its layout");
  return {};
}

/// A packed matrix: knows its shape, its reduction order and the scratch its calls need (`workspace_bytes(batch,
/// concurrency)` for the fp32 path, `workspace_bytes_i8` for the int8 one), and runs its fp32 and/or int8 GEMM
/// (`run_f32<A>(x, y, ex, ws)` / `run_i8<A>(x, acc, ex, ws)`) on an architecture, an executor and a workspace.
template <class P>
concept PackedMatrix = requires(P const& p) {
  { p.rows() } -> std::convertible_to<std::size_t>;
  { p.cols() } -> std::convertible_to<std::size_t>;
  { p.order() } -> std::convertible_to<reduction_order>;
  { P::supports_f32 } -> std::convertible_to<bool>;
  { P::supports_i8 } -> std::convertible_to<bool>;
  { P::name() } -> std::convertible_to<std::string>;
  { p.workspace_bytes(std::size_t{}, std::size_t{}) } -> std::convertible_to<std::size_t>;     // fp32 path
  { p.workspace_bytes_i8(std::size_t{}, std::size_t{}) } -> std::convertible_to<std::size_t>;  // int8 path
};

/// Arguments of an fp32-activation GEMM.
template <class P>
struct gemm_args {
  P const& w;                    ///< packed weights, rows × cols
  matrix_view<const float> x;    ///< B × cols activations
  matrix_view<float> y;          ///< B × rows outputs
};

/// Arguments of an int8-activation GEMM producing int32 accumulators.
template <class P>
struct gemm_i8_args {
  P const& w;                          ///< packed weights, rows × cols
  activations_i8_view x;               ///< B × cols int8 activations + B scales
  matrix_view<std::int32_t> acc;       ///< B × rows accumulators
};

/// Caller-provided scratch memory of the kernels (a span of bytes whose start is 64-byte aligned; an unaligned
/// start is moved forward to the next multiple of 64). The `workspace` overloads of gemm / gemv / conv2d carve
/// every buffer they need from it and never allocate; each packed matrix says how much it needs for a batch and an
/// executor's concurrency (`workspace_bytes`, `gemm_workspace_bytes`, `conv2d_workspace_bytes`). Passed by value:
/// a callee's carving does not consume its caller's copy.
class workspace {
public:
  static constexpr std::size_t alignment = 64;  ///< of every buffer `take` returns
  constexpr workspace() = default;
  /// Views `bytes` (their owner keeps them alive while a kernel runs).
  workspace(std::span<std::byte> bytes) noexcept {  // NOLINT(google-explicit-constructor)
    const std::size_t skip = (alignment - reinterpret_cast<std::uintptr_t>(bytes.data()) % alignment) % alignment;
    if (skip <= bytes.size()) {
      p_ = bytes.data() + skip;
      n_ = bytes.size() - skip;
    }
  }
  /// Bytes left.
  [[nodiscard]] constexpr std::size_t size() const noexcept { return n_; }
  /// Bytes `take<T>(n)` consumes: n·sizeof(T) rounded up to the alignment.
  template <class T>
  [[nodiscard]] static constexpr std::size_t bytes_for(std::size_t n) noexcept {
    return (n * sizeof(T) + alignment - 1) / alignment * alignment;
  }
  /// n values of T (uninitialized, 64-byte aligned) from the front; the callers check `size()` first, so a
  /// short workspace yields an empty span rather than an overrun.
  template <class T>
  [[nodiscard]] std::span<T> take(std::size_t n) noexcept {
    static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= alignment);
    const std::size_t b = bytes_for<T>(n);
    if (b > n_) return {};
    T* out = reinterpret_cast<T*>(p_);
    p_ += b;
    n_ -= b;
    return {out, n};
  }

private:
  std::byte* p_ = nullptr;
  std::size_t n_ = 0;
};

/// An owning, 64-byte aligned workspace (what the convenience overloads allocate once per call).
class workspace_buffer {
public:
  workspace_buffer() = default;
  /// `bytes` bytes (no allocation for 0).
  explicit workspace_buffer(std::size_t bytes) : b_(bytes) {}
  /// The workspace the kernels take.
  [[nodiscard]] workspace view() noexcept { return std::span<std::byte>(b_.data(), b_.size()); }
  [[nodiscard]] std::size_t size() const noexcept { return b_.size(); }

private:
  mvq::aligned_buffer<std::byte> b_;
};

namespace detail {
/// Executors, not workspaces (keeps a workspace argument out of the executor slot of the convenience overloads).
template <class E>
concept not_workspace = !std::is_same_v<std::remove_cvref_t<E>, workspace>;

/// Number of tasks `for_row_blocks` splits `rows` into for an executor of concurrency `conc`: a kernel's per-task
/// scratch is that many slots.
[[nodiscard]] constexpr std::size_t row_tasks_per(std::size_t blocks, std::size_t conc) noexcept {
  return conc <= 1 ? blocks : std::max<std::size_t>(1, blocks / (4 * conc));
}
[[nodiscard]] constexpr std::size_t row_tasks(std::size_t rows, std::size_t block, std::size_t conc) noexcept {
  const std::size_t blocks = (rows + block - 1) / block;
  const std::size_t per = row_tasks_per(blocks, conc);
  return per ? (blocks + per - 1) / per : 0;
}

/// Splits rows [0, rows) into tasks of whole `block`s (about 4 per thread) and runs f(t, r0, r1) for task t.
template <class E, class F>
void for_row_tasks(E& ex, std::size_t rows, std::size_t block, F&& f) {
  const std::size_t blocks = (rows + block - 1) / block;
  const std::size_t per = row_tasks_per(blocks, ex.concurrency());
  const std::size_t tasks = per ? (blocks + per - 1) / per : 0;
  ex.parallel_for(tasks, [&](std::size_t t) {
    const std::size_t r0 = t * per * block;
    const std::size_t r1 = std::min(rows, (t + 1) * per * block);
    f(t, r0, r1);
  });
}
/// `for_row_tasks` without the task index.
template <class E, class F>
void for_row_blocks(E& ex, std::size_t rows, std::size_t block, F&& f) {
  for_row_tasks(ex, rows, block, [&](std::size_t, std::size_t r0, std::size_t r1) { f(r0, r1); });
}

/// The kernels' tables and packed arrays: 64-byte aligned (core's `aligned_buffer`).
template <class T>
using aligned_buffer = mvq::aligned_buffer<T>;

// Error messages are built only on the failure branch (the success path of a call allocates nothing).
template <class P>
[[gnu::cold, gnu::noinline]] tl::unexpected<error> shape_error(P const& w, std::size_t x_rows, std::size_t x_cols,
                                                               std::size_t y_rows, std::size_t y_cols,
                                                               const char* what) {
  const std::string name = std::string(w.name());
  if (x_cols != w.cols())
    return fail(errc::shape_mismatch, name + " " + what + ": activations have " + std::to_string(x_cols) +
                                          " columns, the weights' reduction length is " + std::to_string(w.cols()));
  return fail(errc::shape_mismatch, name + " " + what + ": output is " + std::to_string(y_rows) + " × " +
                                        std::to_string(y_cols) + ", expected " + std::to_string(x_rows) + " × " +
                                        std::to_string(w.rows()));
}
template <class P>
[[nodiscard]] result<void> check_shapes(P const& w, std::size_t x_rows, std::size_t x_cols, std::size_t y_rows,
                                        std::size_t y_cols, const char* what) {
  if (x_cols != w.cols() || y_rows != x_rows || y_cols != w.rows()) [[unlikely]]
    return shape_error(w, x_rows, x_cols, y_rows, y_cols, what);
  return {};
}
[[gnu::cold, gnu::noinline]] inline tl::unexpected<error> workspace_error(std::string_view who, std::size_t got,
                                                                          std::size_t need) {
  return fail(errc::invalid_argument, std::string(who) + ": the workspace has " + std::to_string(got) +
                                          " bytes, this call needs " + std::to_string(need) +
                                          " (size it with workspace_bytes for the batch and the executor)");
}
template <class P>
[[nodiscard]] result<void> check_workspace(P const& w, workspace ws, std::size_t need, const char* what) {
  if (ws.size() < need) [[unlikely]]
    return workspace_error(std::string(w.name()) + " " + what, ws.size(), need);
  return {};
}
template <class P>
[[gnu::cold, gnu::noinline]] tl::unexpected<error> i8_error(P const& w, activations_i8_view x) {
  const std::string name = std::string(w.name());
  if (x.scale.size() != x.q.rows())
    return fail(errc::shape_mismatch, name + " gemm_i8: " + std::to_string(x.scale.size()) +
                                          " activation scales for " + std::to_string(x.q.rows()) + " batch rows");
  return fail(errc::too_large, name + " gemm_i8: reduction length " + std::to_string(w.cols()) +
                                   " could overflow the int32 accumulator (limit " +
                                   std::to_string(int8_conventions::max_reduction) + ")");
}
}  // namespace detail

/// Validates an fp32 GEMM: shapes agree and the kernel has an fp32 path.
template <PackedMatrix P>
[[nodiscard]] result<void> can_run(gemm_args<P> const& a) {
  if constexpr (!P::supports_f32)
    return fail(errc::unsupported, std::string(P::name()) + ": this kernel has no fp32-activation path");
  return detail::check_shapes(a.w, a.x.rows(), a.x.cols(), a.y.rows(), a.y.cols(), "gemm");
}

/// Validates an int8 GEMM: shapes agree, one positive finite scale per batch row, the reduction fits int32.
template <PackedMatrix P>
[[nodiscard]] result<void> can_run(gemm_i8_args<P> const& a) {
  if constexpr (!P::supports_i8)
    return fail(errc::unsupported, std::string(P::name()) + ": this kernel has no int8-activation path");
  if (auto r = detail::check_shapes(a.w, a.x.q.rows(), a.x.q.cols(), a.acc.rows(), a.acc.cols(), "gemm_i8"); !r)
    return r;
  if (a.x.scale.size() != a.x.q.rows() || a.w.cols() > int8_conventions::max_reduction) [[unlikely]]
    return detail::i8_error(a.w, a.x);
  return {};
}

/// Scratch bytes of an fp32 GEMM on `w` with `batch` activation rows and an executor of `concurrency` threads.
template <PackedMatrix P>
[[nodiscard]] std::size_t gemm_workspace_bytes(P const& w, std::size_t batch, std::size_t concurrency = 1) noexcept {
  if constexpr (P::supports_f32) return w.workspace_bytes(batch, concurrency);
  else return 0;
}
/// Scratch bytes of `gemm_i8_acc` (int32 accumulators).
template <PackedMatrix P>
[[nodiscard]] std::size_t gemm_i8_acc_workspace_bytes(P const& w, std::size_t batch,
                                                      std::size_t concurrency = 1) noexcept {
  if constexpr (P::supports_i8) return w.workspace_bytes_i8(batch, concurrency);
  else return 0;
}
/// Scratch bytes of the dequantizing int8 GEMM (the accumulators plus `gemm_i8_acc`'s).
template <PackedMatrix P>
[[nodiscard]] std::size_t gemm_i8_workspace_bytes(P const& w, std::size_t batch, std::size_t concurrency = 1) noexcept {
  return workspace::bytes_for<std::int32_t>(batch * w.rows()) + gemm_i8_acc_workspace_bytes(w, batch, concurrency);
}

/// Y = X Ŵᵀ with fp32 activations, scratch from `ws` (at least `gemm_workspace_bytes(w, B, ex.concurrency())`
/// bytes); never allocates.
/// @tparam A the instruction set (default: the best one this translation unit is compiled for)
template <class A = default_arch, PackedMatrix P, class E = serial_executor>
[[nodiscard]] result<void> gemm(P const& w, matrix_view<const float> x, matrix_view<float> y, workspace ws,
                                E&& ex = {}) {
  static_assert(is_kernel_arch<A> && A::supported(),
                "gemm: the architecture must be one of kernel_archs and enabled in this translation unit.");
  if (auto r = can_run(gemm_args<P>{w, x, y}); !r) return r;
  if constexpr (P::supports_f32) {
    if (w.rows() == 0 || x.rows() == 0) return {};
    if (w.cols() == 0) {
      for (std::size_t b = 0; b < y.rows(); ++b) std::fill(y.row(b).begin(), y.row(b).end(), 0.0f);
      return {};
    }
    if (auto r = detail::check_workspace(w, ws, w.workspace_bytes(x.rows(), ex.concurrency()), "gemm"); !r) return r;
    w.template run_f32<A>(x, y, ex, ws);
  }
  return {};
}

/// Y = X Ŵᵀ with fp32 activations (convenience: allocates the workspace of this call).
template <class A = default_arch, PackedMatrix P, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> gemm(P const& w, matrix_view<const float> x, matrix_view<float> y, E&& ex = {}) {
  workspace_buffer buf(gemm_workspace_bytes(w, x.rows(), ex.concurrency()));
  return gemm<A>(w, x, y, buf.view(), ex);
}

/// int32 accumulators of Y = X Ŵᵀ with int8 activations (bit-exact against `reference_gemm_i8` on the kernel's
/// int8 weights), scratch from `ws` (`gemm_i8_acc_workspace_bytes`); never allocates.
template <class A = default_arch, PackedMatrix P, class E = serial_executor>
[[nodiscard]] result<void> gemm_i8_acc(P const& w, activations_i8_view x, matrix_view<std::int32_t> acc, workspace ws,
                                       E&& ex = {}) {
  static_assert(is_kernel_arch<A> && A::supported(),
                "gemm_i8_acc: the architecture must be one of kernel_archs and enabled in this translation unit.");
  if (auto r = can_run(gemm_i8_args<P>{w, x, acc}); !r) return r;
  if constexpr (P::supports_i8) {
    if (w.rows() == 0 || x.q.rows() == 0) return {};
    if (w.cols() == 0) {
      for (std::size_t b = 0; b < acc.rows(); ++b) std::fill(acc.row(b).begin(), acc.row(b).end(), 0);
      return {};
    }
    if (auto r = detail::check_workspace(w, ws, w.workspace_bytes_i8(x.q.rows(), ex.concurrency()), "gemm_i8");
        !r)
      return r;
    w.template run_i8<A>(x.q, acc, ex, ws);
  }
  return {};
}

/// `gemm_i8_acc` (convenience: allocates the workspace of this call).
template <class A = default_arch, PackedMatrix P, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> gemm_i8_acc(P const& w, activations_i8_view x, matrix_view<std::int32_t> acc,
                                       E&& ex = {}) {
  workspace_buffer buf(gemm_i8_acc_workspace_bytes(w, x.q.rows(), ex.concurrency()));
  return gemm_i8_acc<A>(w, x, acc, buf.view(), ex);
}

/// Y = X Ŵᵀ with int8 activations, dequantized: y(b, r) = acc(b, r) · x.scale[b] · weight scale; the accumulators
/// and the kernel's scratch come from `ws` (`gemm_i8_workspace_bytes`); never allocates.
template <class A = default_arch, PackedMatrix P, class E = serial_executor>
[[nodiscard]] result<void> gemm(P const& w, activations_i8_view x, matrix_view<float> y, workspace ws, E&& ex = {}) {
  if (auto r = detail::check_shapes(w, x.q.rows(), x.q.cols(), y.rows(), y.cols(), "gemm"); !r) return r;
  if (auto r = detail::check_workspace(w, ws, gemm_i8_workspace_bytes(w, y.rows(), ex.concurrency()), "gemm_i8"); !r)
    return r;
  matrix_view<std::int32_t> av(ws.take<std::int32_t>(y.rows() * y.cols()).data(), y.rows(), y.cols());
  if (auto r = gemm_i8_acc<A>(w, x, av, ws, ex); !r) return r;
  if constexpr (P::supports_i8) dequantize(av, x.scale, w.weight_scale(), y);
  return {};
}

/// The dequantizing int8 GEMM (convenience: allocates the workspace of this call).
template <class A = default_arch, PackedMatrix P, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> gemm(P const& w, activations_i8_view x, matrix_view<float> y, E&& ex = {}) {
  workspace_buffer buf(gemm_i8_workspace_bytes(w, y.rows(), ex.concurrency()));
  return gemm<A>(w, x, y, buf.view(), ex);
}

/// y = Ŵ x for one fp32 activation vector (GEMV), scratch from `ws` (`gemm_workspace_bytes(w, 1, …)`).
template <class A = default_arch, PackedMatrix P, class E = serial_executor>
[[nodiscard]] result<void> gemv(P const& w, std::span<const float> x, std::span<float> y, workspace ws, E&& ex = {}) {
  return gemm<A>(w, matrix_view<const float>(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), ws,
                 ex);
}

/// y = Ŵ x (convenience: allocates the workspace of this call, none for most kernels at batch 1).
template <class A = default_arch, PackedMatrix P, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> gemv(P const& w, std::span<const float> x, std::span<float> y, E&& ex = {}) {
  return gemm<A>(w, matrix_view<const float>(x.data(), 1, x.size()), matrix_view<float>(y.data(), 1, y.size()), ex);
}

}  // namespace mvq::inline v0::kernel
