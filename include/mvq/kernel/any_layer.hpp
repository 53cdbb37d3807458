#pragma once
/// @file
/// Library-level dispatch from a runtime layout to the compiled kernels: `kernel::pack` looks at a
/// `compressed_matrix_view`, picks the best compiled kernel whose policy `accepts` its layout, and returns a
/// type-erased `any_packed` (a `std::variant` over the compiled packed types); `gemv`, `gemm` and `conv2d`
/// overloads on `any_packed` visit it. An engine that loads layers of any layout needs nothing else:
///
///   auto w = mvq::kernel::pack(layer.view(), {.order = mvq::reduction_order::oihw, .name = layer.info.name});
///   if (!w) return w.error();              // names the tensor
///   std::printf("%s\n", w->name().c_str());  // the kernel picked, e.g. "mvq_d16_2_4"
///   mvq::kernel::gemv(*w, x, y);
///
/// Preference order of `pack` (the order of `any_packed::variant_type`, specialised before generic):
///  1. `vq_nibble<2|4, u8>`     K ≤ 16, d ∈ {2, 4}, no mask        (in-register LUT, error ≤ S·Δ/2 — see vq_nibble.hpp)
///  2. `vq_byte<4|8|16>`        K ≤ 256, d ∈ {4, 8, 16}, no mask
///  3. `mvq_byte<4|8|16, 2:4>`  K ≤ 256, d ∈ {4, 8, 16}, 2:4 mask
///  4. `mvq_byte<4|8|16, 1:4>`  K ≤ 256, d ∈ {4, 8, 16}, 1:4 mask
///  5. `vq_generic`             every other valid layout (K up to 65536, any d, any N:M), decoded per call
/// `nm_sparse<2:4|1:4>` and `dense_f32` are alternatives too (an engine can hold its own packed sparse or dense
/// weights in an `any_packed`), but `pack` of a compressed matrix never picks them: they decompress the codebook
/// into fp32 values per weight (4–16× the compressed bytes). `pack(matrix_view<const float>)` packs dense weights.
///
/// Zero-copy: only `vq_generic` can keep pointing into a memory-mapped `.mvq.safetensors` file (it decodes the
/// format's bit-packed indices and masks on the fly; `pack_options{.borrow = true}`; the `io::mvq_file` must then
/// outlive the packed matrix). Every other kernel repacks at load time: `vq_byte` interleaves the indices of 8
/// rows, `vq_nibble` builds 32-row nibble blocks, `mvq_byte` expands masks to per-sub-vector bitmaps, `nm_sparse`
/// and `dense_f32` decode values. (`mvq_byte` with K = 256 and bitmap masks stores the file's own bytes, so it
/// could borrow too; not done.)
///
/// Cost: the entry points are templates on the architecture (and the executor), so each translation unit that
/// calls them instantiates every alternative's kernel once for its architecture, whatever the number of call
/// sites; two TUs built for different instruction sets get distinct instantiations (no ODR clash). An engine that
/// wants to pay it in one TU only declares `MVQ_ANY_PACKED_EXTERN(ARCH)` in the others and puts
/// `MVQ_ANY_PACKED_INSTANTIATE(ARCH)` in that one.

#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/kernel/conv.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/gemm.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_generic.hpp"
#include "mvq/kernel/vq_nibble.hpp"

namespace mvq::inline v0::kernel {

/// Packed weights of any compiled kernel (see the file comment for the alternatives and `pack`'s preference).
class any_packed {
public:
  /// The alternatives, in `pack`'s preference order.
  using variant_type =
      std::variant<packed<vq_nibble<2, lut_variant::u8>>, packed<vq_nibble<4, lut_variant::u8>>,  //
                   packed<vq_byte<4>>, packed<vq_byte<8>>, packed<vq_byte<16>>,                    //
                   packed<mvq_byte<4, sparse_2_4>>, packed<mvq_byte<8, sparse_2_4>>, packed<mvq_byte<16, sparse_2_4>>,
                   packed<mvq_byte<4, sparse_1_4>>, packed<mvq_byte<8, sparse_1_4>>, packed<mvq_byte<16, sparse_1_4>>,
                   packed<vq_generic>,                                                            //
                   packed<nm_sparse<sparse_2_4>>, packed<nm_sparse<sparse_1_4>>,                  //
                   packed<dense_f32>>;

  /// Wraps packed weights of one of the alternatives.
  template <class P>
    requires std::is_constructible_v<variant_type, P&&> && (!std::is_same_v<std::remove_cvref_t<P>, any_packed>)
  any_packed(P&& p) : v_(std::forward<P>(p)) {}  // NOLINT(google-explicit-constructor)

  /// The kernel's name ("vq_byte_d8", "mvq_d16_2_4", …).
  [[nodiscard]] std::string name() const {
    return std::visit([](auto const& p) { return std::string(p.name()); }, v_);
  }
  /// Output channels.
  [[nodiscard]] std::size_t rows() const noexcept {
    return std::visit([](auto const& p) -> std::size_t { return p.rows(); }, v_);
  }
  /// Reduction length.
  [[nodiscard]] std::size_t cols() const noexcept {
    return std::visit([](auto const& p) -> std::size_t { return p.cols(); }, v_);
  }
  /// Column order of the weights (what `conv2d` computes its im2col in).
  [[nodiscard]] reduction_order order() const noexcept {
    return std::visit([](auto const& p) { return p.order(); }, v_);
  }
  /// Scratch bytes of an fp32 GEMM with `batch` rows on an executor of `concurrency` threads (the workspace
  /// overloads of gemm / gemv take at least this much).
  [[nodiscard]] std::size_t workspace_bytes(std::size_t batch, std::size_t concurrency = 1) const noexcept {
    return std::visit([&](auto const& p) { return gemm_workspace_bytes(p, batch, concurrency); }, v_);
  }
  /// The variant itself.
  [[nodiscard]] variant_type const& variant() const noexcept { return v_; }
  /// The packed weights of kernel K, or nullptr when another kernel holds them.
  template <class K>
  [[nodiscard]] packed<K> const* get_if() const noexcept {
    return std::get_if<packed<K>>(&v_);
  }
  /// `f(packed<K> const&)` for the alternative held.
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), v_);
  }

private:
  variant_type v_;
};

namespace detail {
template <class P>
struct kernel_of;
template <class K>
struct kernel_of<packed<K>> {
  using type = K;
};
/// Alternatives `pack` may pick for a compressed matrix (not the ones that decompress to fp32 per weight).
template <class K>
inline constexpr bool picked_by_pack = true;
template <nm_pattern P>
inline constexpr bool picked_by_pack<nm_sparse<P>> = false;
template <>
inline constexpr bool picked_by_pack<dense_f32> = false;

template <std::size_t I>
[[nodiscard]] result<any_packed> pack_first(compressed_matrix_view const& v, pack_options const& opt) {
  if constexpr (I == std::variant_size_v<any_packed::variant_type>) {
    return tl::unexpected(named_error(error{errc::unsupported, "no compiled kernel accepts the layout"}, opt.name));
  } else {
    using K = typename kernel_of<std::variant_alternative_t<I, any_packed::variant_type>>::type;
    if constexpr (picked_by_pack<K>) {
      if (K::accepts(v.layout)) {
        auto p = pack_for<K>(v, opt);
        if (!p) return tl::unexpected(std::move(p.error()));
        return any_packed(std::move(*p));
      }
    }
    return pack_first<I + 1>(v, opt);
  }
}
}  // namespace detail

/// The name of the kernel `pack` picks for layout `l` ("" when the layout is invalid): what `mvq inspect` shows.
[[nodiscard]] inline std::string pack_kernel_name(compressed_layout const& l) {
  std::string out;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (void)((
               [&] {
                 using P = std::variant_alternative_t<I, any_packed::variant_type>;
                 using K = typename detail::kernel_of<P>::type;
                 if constexpr (detail::picked_by_pack<K>) {
                   if (K::accepts(l)) {
                     out = P::name();
                     return true;
                   }
                 }
                 return false;
               }()) ||
           ...);
  }(std::make_index_sequence<std::variant_size_v<any_packed::variant_type>>{});
  return out;
}

/// Packs a compressed matrix for the best compiled kernel that accepts its layout (preference order in the file
/// comment), once, at load time. `opt.order` refuses a layout in another reduction order, `opt.borrow` lets
/// `vq_generic` keep pointing into the view's arrays, errors name `opt.name`.
[[nodiscard]] inline result<any_packed> pack(compressed_matrix_view const& v, pack_options const& opt = {}) {
  if (auto r = validate(v.layout); !r) return tl::unexpected(detail::named_error(std::move(r.error()), opt.name));
  return detail::pack_first<0>(v, opt);
}

/// Packs dense fp32 weights (`dense_f32`; `opt.order` states their column order, default oihw).
[[nodiscard]] inline result<any_packed> pack(matrix_view<const float> w, pack_options const& opt = {}) {
  auto p = pack_for<dense_f32>(w, opt);
  if (!p) return tl::unexpected(std::move(p.error()));
  return any_packed(std::move(*p));
}

/// Scratch bytes of `conv2d` on type-erased weights (see the packed overload).
[[nodiscard]] inline std::size_t conv2d_workspace_bytes(std::span<const any_packed> weights, conv2d_params const& p,
                                                        std::size_t concurrency = 1) noexcept {
  if (!validate(p)) return 0;
  const std::size_t pixels = p.out_h() * p.out_w(), og = p.groups ? p.out_channels / p.groups : 0, red = p.reduction();
  std::size_t g = 0;
  for (auto const& w : weights) g = std::max(g, w.workspace_bytes(pixels, concurrency));
  return workspace::bytes_for<float>(pixels * red) + workspace::bytes_for<float>(pixels * og) + g;
}

namespace detail {
/// The visitors behind the `any_packed` entry points: templates on the architecture and the executor only (one
/// instantiation per TU and architecture, whatever the call sites; see MVQ_ANY_PACKED_EXTERN).
template <class A, class E>
[[nodiscard]] result<void> any_gemm(any_packed const& w, matrix_view<const float> x, matrix_view<float> y,
                                    workspace ws, E& ex) {
  return w.visit([&](auto const& p) { return gemm<A>(p, x, y, ws, ex); });
}
template <class A, class E>
[[nodiscard]] result<void> any_conv2d(std::span<const any_packed> weights, conv2d_params const& p,
                                      std::span<const float> in, std::span<float> out, workspace ws, E& ex) {
  if (auto r = check_conv2d(weights, p, in.size(), out.size()); !r) return r;
  const std::size_t pixels = p.out_h() * p.out_w(), og = p.out_channels / p.groups, red = p.reduction();
  if (pixels == 0 || og == 0) return {};
  if (const std::size_t need = conv2d_workspace_bytes(weights, p, ex.concurrency()); ws.size() < need) [[unlikely]]
    return workspace_error("conv2d", ws.size(), need);
  float* cols = ws.take<float>(pixels * red).data();
  float* y = ws.take<float>(pixels * og).data();
  return conv2d_im2col(weights, p, in, out, cols, y,
                       [&](std::size_t g, matrix_view<const float> cv, matrix_view<float> yv) {
                         return any_gemm<A>(weights[g], cv, yv, ws, ex);
                       });
}
}  // namespace detail

/// Y = X Ŵᵀ (x: B × cols, y: B × rows) on the kernel `w` holds, scratch from `ws` (at least
/// `w.workspace_bytes(B, ex.concurrency())` bytes); never allocates.
template <class A = default_arch, class E = serial_executor>
[[nodiscard]] result<void> gemm(any_packed const& w, matrix_view<const float> x, matrix_view<float> y, workspace ws,
                                E&& ex = {}) {
  return detail::any_gemm<A, std::remove_reference_t<E>>(w, x, y, ws, ex);
}
/// Y = X Ŵᵀ (convenience: allocates the workspace of this call).
template <class A = default_arch, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> gemm(any_packed const& w, matrix_view<const float> x, matrix_view<float> y, E&& ex = {}) {
  workspace_buffer buf(w.workspace_bytes(x.rows(), ex.concurrency()));
  return detail::any_gemm<A, std::remove_reference_t<E>>(w, x, y, buf.view(), ex);
}

/// y = Ŵ x on the kernel `w` holds, scratch from `ws` (`w.workspace_bytes(1, ex.concurrency())`).
template <class A = default_arch, class E = serial_executor>
[[nodiscard]] result<void> gemv(any_packed const& w, std::span<const float> x, std::span<float> y, workspace ws,
                                E&& ex = {}) {
  return detail::any_gemm<A, std::remove_reference_t<E>>(w, matrix_view<const float>(x.data(), 1, x.size()),
                                                         matrix_view<float>(y.data(), 1, y.size()), ws, ex);
}
/// y = Ŵ x (convenience: allocates the workspace of this call).
template <class A = default_arch, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> gemv(any_packed const& w, std::span<const float> x, std::span<float> y, E&& ex = {}) {
  workspace_buffer buf(w.workspace_bytes(1, ex.concurrency()));
  return gemv<A>(w, x, y, buf.view(), ex);
}

/// conv2d on type-erased weights, one `any_packed` per group (the groups may hold different kernels; they must
/// agree on the reduction order); scratch from `ws` (`conv2d_workspace_bytes`); never allocates.
template <class A = default_arch, class E = serial_executor>
[[nodiscard]] result<void> conv2d(std::span<const any_packed> weights, conv2d_params const& p,
                                  std::span<const float> in, std::span<float> out, workspace ws, E&& ex = {}) {
  return detail::any_conv2d<A, std::remove_reference_t<E>>(weights, p, in, out, ws, ex);
}
/// conv2d on type-erased weights (convenience: allocates the workspace of this call).
template <class A = default_arch, detail::not_workspace E = serial_executor>
[[nodiscard]] result<void> conv2d(std::span<const any_packed> weights, conv2d_params const& p,
                                  std::span<const float> in, std::span<float> out, E&& ex = {}) {
  workspace_buffer buf(conv2d_workspace_bytes(weights, p, ex.concurrency()));
  return detail::any_conv2d<A, std::remove_reference_t<E>>(weights, p, in, out, buf.view(), ex);
}

}  // namespace mvq::inline v0::kernel

#ifndef MVQ_ANY_PACKED_INSTANTIATE
/// Instantiates the `any_packed` visitors (serial executor) for architecture `ARCH` in this translation unit.
#  define MVQ_ANY_PACKED_INSTANTIATE(ARCH)                                                                      \
    template ::mvq::result<void> mvq::kernel::detail::any_gemm<ARCH, ::mvq::kernel::serial_executor>(          \
        ::mvq::kernel::any_packed const&, ::mvq::matrix_view<const float>, ::mvq::matrix_view<float>,           \
        ::mvq::kernel::workspace, ::mvq::kernel::serial_executor&);                                                                       \
    template ::mvq::result<void> mvq::kernel::detail::any_conv2d<ARCH, ::mvq::kernel::serial_executor>(        \
        std::span<const ::mvq::kernel::any_packed>, ::mvq::kernel::conv2d_params const&, std::span<const float>, \
        std::span<float>, ::mvq::kernel::workspace, ::mvq::kernel::serial_executor&);
#endif
#ifndef MVQ_ANY_PACKED_EXTERN
/// Declares the instantiations of `MVQ_ANY_PACKED_INSTANTIATE(ARCH)`, so this translation unit does not
/// instantiate the kernels behind `gemv` / `gemm` / `conv2d` on `any_packed` itself.
#  define MVQ_ANY_PACKED_EXTERN(ARCH)                                                                           \
    extern template ::mvq::result<void> mvq::kernel::detail::any_gemm<ARCH, ::mvq::kernel::serial_executor>(   \
        ::mvq::kernel::any_packed const&, ::mvq::matrix_view<const float>, ::mvq::matrix_view<float>,           \
        ::mvq::kernel::workspace, ::mvq::kernel::serial_executor&);                                                                       \
    extern template ::mvq::result<void> mvq::kernel::detail::any_conv2d<ARCH, ::mvq::kernel::serial_executor>( \
        std::span<const ::mvq::kernel::any_packed>, ::mvq::kernel::conv2d_params const&, std::span<const float>, \
        std::span<float>, ::mvq::kernel::workspace, ::mvq::kernel::serial_executor&);
#endif
