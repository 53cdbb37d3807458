// The workspace overloads of gemv / gemm / the int8 gemm / conv2d never allocate, for every kernel family, directly
// and through any_packed. This executable replaces the global operator new (and only this one: the counter would
// disturb nothing elsewhere, but it is kept out of the other tests), counts the calls between two points, and
// checks that the count can be non-zero (the convenience overloads allocate their workspace).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "kernel_test_support.hpp"
#include "mvq/kernel/any_layer.hpp"
#include "mvq/kernel/conv.hpp"
#include "mvq/kernel/dense.hpp"
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/vq_byte.hpp"
#include "mvq/kernel/vq_generic.hpp"
#include "mvq/kernel/vq_nibble.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};

void* counted(std::size_t n, std::size_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::nothrow_t const&) noexcept { return std::malloc(n ? n : 1); }
void* operator new[](std::size_t n, std::nothrow_t const&) noexcept { return std::malloc(n ? n : 1); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace mvq;
using namespace mvq::kernel;

namespace {
/// Allocations made by f() (no Catch2 macro inside: they allocate).
template <class F>
std::size_t allocations(F&& f) {
  const std::size_t before = g_allocations.load();
  f();
  return g_allocations.load() - before;
}

/// Runs tasks on the calling thread but reports three threads: the kernels then split their rows into several
/// tasks, each with its own scratch slot.
struct three_threads {
  [[nodiscard]] std::size_t concurrency() const noexcept { return 3; }
  template <class F>
  void parallel_for(std::size_t n, F&& f) const {
    for (std::size_t i = 0; i < n; ++i) f(i);
  }
};

constexpr std::size_t rows = 100, cols = 256, batch = 5;

template <class E>
void check_f32(any_packed const& w, E ex) {
  INFO(w.name() << ", concurrency " << ex.concurrency());
  std::mt19937 rng(7);
  auto x = kt::random_vector(rng, batch * cols);
  std::vector<float> y1(rows), y5(batch * rows), want1(rows), want5(batch * rows);
  REQUIRE(gemv(w, std::span<const float>(x).first(cols), want1, ex));
  REQUIRE(gemm(w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(want5.data(), batch, rows), ex));
  const std::size_t bytes = std::max(w.workspace_bytes(1, ex.concurrency()), w.workspace_bytes(batch, ex.concurrency()));
  workspace_buffer buf(bytes);
  bool ok = true;
  const std::size_t n = allocations([&] {
    ok = ok && gemv(w, std::span<const float>(x).first(cols), y1, buf.view(), ex).has_value();
    ok = ok && gemm(w, matrix_view<const float>(x.data(), 1, cols), matrix_view<float>(y1.data(), 1, rows), buf.view(), ex)
                   .has_value();
    ok = ok && gemm(w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y5.data(), batch, rows),
                    buf.view(), ex)
                   .has_value();
  });
  CHECK(ok);
  CHECK(n == 0);
  CHECK(y1 == want1);
  CHECK(y5 == want5);
}

template <class K, class E>
void check_f32_packed(compressed_matrix const& m, E ex) {
  auto w = pack_for<K>(m.view()).value();
  INFO(w.name() << " (packed directly)");
  std::mt19937 rng(8);
  auto x = kt::random_vector(rng, batch * cols);
  std::vector<float> y(batch * rows);
  workspace_buffer buf(std::max(gemm_workspace_bytes(w, batch, ex.concurrency()), gemm_workspace_bytes(w, 1, ex.concurrency())));
  bool ok = true;
  const std::size_t n = allocations([&] {
    ok = ok && gemv(w, std::span<const float>(x).first(cols), std::span<float>(y).first(rows), buf.view(), ex).has_value();
    ok = ok && gemm(w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows),
                    buf.view(), ex)
                   .has_value();
  });
  CHECK(ok);
  CHECK(n == 0);
}

template <class K, class E>
void check_i8(compressed_matrix const& m, E ex) {
  auto w = pack_for<K>(m.view()).value();
  INFO(w.name() << " int8");
  std::mt19937 rng(9);
  auto xf = kt::random_vector(rng, batch * cols);
  for (std::size_t b : {std::size_t{1}, batch}) {
    auto xq = quantize_activations(matrix_view<const float>(xf.data(), b, cols)).value();
    std::vector<float> y(b * rows), want(b * rows);
    std::vector<std::int32_t> acc(b * rows);
    REQUIRE(gemm(w, xq.view(), matrix_view<float>(want.data(), b, rows), ex));
    workspace_buffer buf(std::max(gemm_i8_workspace_bytes(w, b, ex.concurrency()),
                                  gemm_i8_acc_workspace_bytes(w, b, ex.concurrency())));
    bool ok = true;
    const std::size_t n = allocations([&] {
      ok = ok && gemm(w, xq.view(), matrix_view<float>(y.data(), b, rows), buf.view(), ex).has_value();
      ok = ok && gemm_i8_acc(w, xq.view(), matrix_view<std::int32_t>(acc.data(), b, rows), buf.view(), ex).has_value();
    });
    CHECK(ok);
    CHECK(n == 0);
    CHECK(y == want);
  }
}

const conv2d_params conv_p{.batch = 2, .in_channels = 32, .height = 6, .width = 5, .out_channels = 16,
                           .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .groups = 2};

template <class K, class E>
void check_conv(std::uint32_t k, std::uint32_t d, nm_pattern nm, E ex) {
  std::mt19937 rng(10);
  const std::size_t og = conv_p.out_channels / conv_p.groups, red = conv_p.reduction();
  std::vector<packed<K>> w;
  std::vector<any_packed> aw;
  for (std::size_t g = 0; g < conv_p.groups; ++g) {
    auto m = kt::random_compressed(rng, og, red, k, d, nm, nm.dense() ? mask_encoding::none : mask_encoding::bitmap,
                                   codebook_dtype::f32);
    w.push_back(pack_for<K>(m.view()).value());
    if constexpr (std::is_constructible_v<any_packed, packed<K>>) aw.push_back(pack_for<K>(m.view()).value());
  }
  INFO(w[0].name() << " conv2d");
  auto in = kt::random_vector(rng, conv_p.input_size());
  std::vector<float> out(conv_p.output_size()), want(conv_p.output_size());
  REQUIRE(conv2d(std::span<const packed<K>>(w), conv_p, in, want, ex));
  workspace_buffer buf(conv2d_workspace_bytes(std::span<const packed<K>>(w), conv_p, ex.concurrency()));
  bool ok = true;
  std::size_t n = allocations(
      [&] { ok = conv2d(std::span<const packed<K>>(w), conv_p, in, out, buf.view(), ex).has_value(); });
  CHECK(ok);
  CHECK(n == 0);
  CHECK(out == want);
  if (!aw.empty()) {
    workspace_buffer abuf(conv2d_workspace_bytes(std::span<const any_packed>(aw), conv_p, ex.concurrency()));
    n = allocations([&] { ok = conv2d(std::span<const any_packed>(aw), conv_p, in, out, abuf.view(), ex).has_value(); });
    CHECK(ok);
    CHECK(n == 0);
    CHECK(out == want);
  }
}

template <class E>
void check_all(E ex) {
  std::mt19937 rng(11);
  auto nib = kt::random_compressed(rng, rows, cols, 16, 4, dense, mask_encoding::none, codebook_dtype::f32);
  auto nib2 = kt::random_compressed(rng, rows, cols, 16, 2, dense, mask_encoding::none, codebook_dtype::f32);
  auto byte = kt::random_compressed(rng, rows, cols, 256, 8, dense, mask_encoding::none, codebook_dtype::f32);
  auto mvq16 = kt::random_compressed(rng, rows, cols, 256, 16, sparse_2_4, mask_encoding::pattern, codebook_dtype::f32);
  auto mvq8 = kt::random_compressed(rng, rows, cols, 256, 8, sparse_1_4, mask_encoding::bitmap, codebook_dtype::f32);
  auto wide = kt::random_compressed(rng, rows, cols, 1024, 8, sparse_2_8, mask_encoding::bitmap, codebook_dtype::f32);
  // fp32, through any_packed (pack picks nibble, byte, mvq, generic) and packed directly
  for (auto const* m : {&nib, &nib2, &byte, &mvq16, &mvq8, &wide}) check_f32(pack(m->view()).value(), ex);
  std::vector<float> dense_w = decompress(byte.view());
  check_f32(pack(matrix_view<const float>(dense_w.data(), rows, cols)).value(), ex);
  check_f32(any_packed(pack_for<nm_sparse<sparse_2_4>>(mvq16.view()).value()), ex);
  check_f32_packed<vq_byte<8>>(byte, ex);
  check_f32_packed<vq_nibble<4, lut_variant::u8>>(nib, ex);
  check_f32_packed<vq_generic>(wide, ex);
  // int8 activations, dequantized and as accumulators
  check_i8<vq_byte<8>>(byte, ex);
  check_i8<vq_nibble<4, lut_variant::exact>>(nib, ex);
  check_i8<vq_nibble<2, lut_variant::exact>>(nib2, ex);
  check_i8<mvq_byte<16, sparse_2_4>>(mvq16, ex);
  check_i8<nm_sparse<sparse_2_4>>(mvq16, ex);
  check_i8<vq_generic>(wide, ex);
  check_i8<dense_i8>(byte, ex);
  // conv2d: each family (dense_i8 and the exact LUT through the int8 im2col path)
  check_conv<dense_f32>(256, 8, dense, ex);
  check_conv<vq_byte<8>>(256, 8, dense, ex);
  check_conv<vq_nibble<4, lut_variant::u8>>(16, 4, dense, ex);
  check_conv<mvq_byte<16, sparse_2_4>>(256, 16, sparse_2_4, ex);
  check_conv<nm_sparse<sparse_2_4>>(256, 4, sparse_2_4, ex);
  check_conv<vq_generic>(512, 8, dense, ex);
  check_conv<dense_i8>(256, 8, dense, ex);
  check_conv<vq_nibble<4, lut_variant::exact>>(16, 4, dense, ex);
}
}  // namespace

TEST_CASE("the workspace overloads never allocate (serial executor)", "[kernel][alloc]") { check_all(serial_executor{}); }

TEST_CASE("the workspace overloads never allocate (several tasks, one scratch slot each)", "[kernel][alloc]") {
  check_all(three_threads{});
}

TEST_CASE("the counter sees allocations: the convenience overloads allocate their workspace", "[kernel][alloc]") {
  std::mt19937 rng(12);
  auto m = kt::random_compressed(rng, rows, cols, 256, 8, dense, mask_encoding::none, codebook_dtype::f32);
  auto w = pack(m.view()).value();
  REQUIRE(w.workspace_bytes(batch) > 0);  // batch ≥ 4: vq_byte decodes each row block once
  auto x = kt::random_vector(rng, batch * cols);
  std::vector<float> y(batch * rows);
  bool ok = false;
  const std::size_t n = allocations([&] {
    ok = gemm(w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows)).has_value();
  });
  CHECK(ok);
  CHECK(n >= 1);
  // and a short workspace is refused, not overrun
  workspace_buffer small(w.workspace_bytes(batch) - 64);
  auto r = gemm(w, matrix_view<const float>(x.data(), batch, cols), matrix_view<float>(y.data(), batch, rows), small.view());
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("workspace") != std::string::npos);
}
