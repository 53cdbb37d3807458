// The baseline and AVX2 translation units must each run their own instruction set and give the documented
// results: identical decompression and int8 kernel accumulators (equal to the reference), fp32 GEMV within
// 2·γ_n·Σ|ŵ||x| (Higham's dot-product bound, γ_n = n·2^-24) of a double reference, k-means assignments that are
// the nearest codeword up to the kernel's rounding, and compress results that do not depend on the thread count.
// compress may differ between the two (FMA rounds once, sse2 twice: near ties can go either way); it is
// reported, and its error must agree within 5 %.
#include <cmath>
#include <cstdio>
#include <limits>

#include "tu.hpp"

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

bool acc_ok(mvq::compressed_matrix const& w, std::vector<float> const& x, std::vector<std::int32_t> const& acc) {
  using namespace mvq;
  const std::size_t rows = w.layout.rows, cols = w.layout.cols, batch = x.size() / cols;
  auto w8 = kernel::decode_i8(w.view());
  auto xq = kernel::quantize_activations(matrix_view<const float>(x.data(), batch, cols)).value();
  std::vector<std::int32_t> want(batch * rows);
  kernel::reference_gemm_i8(w8.view(), xq.view().q, matrix_view<std::int32_t>(want.data(), batch, rows));
  return acc == want;
}

bool gemv_ok(mvq::compressed_matrix const& w, std::vector<float> const& x, std::vector<float> const& y) {
  const std::size_t rows = w.layout.rows, cols = w.layout.cols;
  if (y.size() != rows) return false;
  const std::vector<float> wd = mvq::decompress(w.view());
  for (std::size_t r = 0; r < rows; ++r) {
    double ref = 0, mag = 0;
    for (std::size_t c = 0; c < cols; ++c) {
      ref += static_cast<double>(wd[r * cols + c]) * x[c];
      mag += std::fabs(static_cast<double>(wd[r * cols + c]) * x[c]);
    }
    if (std::fabs(y[r] - ref) > 2.0 * static_cast<double>(cols) * 0x1p-24 * mag + 1e-30) return false;
  }
  return true;
}

// Every assignment is a nearest codeword up to the fp32 kernel's rounding: d(a) ≤ min_j d(j) + 1e-5·(‖x‖ + max‖c‖)².
bool nearest_ok(odr_result const& o) {
  const std::size_t d = 8, k = o.init.size() / d, n = o.points.size() / d;
  if (o.assign_once.size() != n) return false;
  double cmax = 0;
  for (std::size_t j = 0; j < k; ++j) {
    double c2 = 0;
    for (std::size_t t = 0; t < d; ++t) c2 += double(o.init[j * d + t]) * o.init[j * d + t];
    cmax = std::max(cmax, std::sqrt(c2));
  }
  for (std::size_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity(), mine = 0, x2 = 0;
    for (std::size_t j = 0; j < k; ++j) {
      double s = 0;
      for (std::size_t t = 0; t < d; ++t) {
        const double e = double(o.points[i * d + t]) - o.init[j * d + t];
        s += e * e;
      }
      best = std::min(best, s);
      if (j == o.assign_once[i]) mine = s;
    }
    for (std::size_t t = 0; t < d; ++t) x2 += double(o.points[i * d + t]) * o.points[i * d + t];
    const double r = std::sqrt(x2) + cmax;
    if (mine > best + 1e-5 * r * r) return false;
  }
  return true;
}

bool same(mvq::compressed_matrix const& a, mvq::compressed_matrix const& b) {
  return a.codebook == b.codebook && a.codebook_i8 == b.codebook_i8 && a.indices == b.indices && a.masks == b.masks;
}
}  // namespace

int main() {
  const odr_result a = run_generic(), b = run_avx2();
  std::printf("baseline TU: quant %s, kernel %s; AVX2 TU: quant %s, kernel %s\n", a.quant_arch.c_str(),
              a.kernel_arch.c_str(), b.quant_arch.c_str(), b.kernel_arch.c_str());
  expect(a.quant_arch == "sse2" && a.kernel_arch == "sse2", "the baseline TU runs sse2 code");
  expect(b.quant_arch == "fma3+avx2" && b.kernel_arch == "fma3+avx2", "the AVX2 TU runs fma3+avx2 code");
  expect(!a.decompressed.empty() && a.decompressed == b.decompressed, "decompress agrees");
  expect(same(a.w_mvq, b.w_mvq) && same(a.w_vq, b.w_vq) && a.x == b.x, "both TUs built the same inputs");
  expect(!a.acc_mvq.empty() && a.acc_mvq == b.acc_mvq && acc_ok(a.w_mvq, a.x, a.acc_mvq),
         "mvq_byte<16, 2:4> int8 accumulators: identical and equal to the reference");
  expect(!a.acc_vq.empty() && a.acc_vq == b.acc_vq && acc_ok(a.w_vq, a.x, a.acc_vq),
         "vq_byte<8> int8 accumulators: identical and equal to the reference");
  for (auto const* o : {&a, &b}) {
    expect(gemv_ok(o->w_mvq, o->x, o->y_mvq), "mvq_byte<16, 2:4> fp32 GEMV within the bound");
    expect(gemv_ok(o->w_vq, o->x, o->y_vq), "vq_byte<8> fp32 GEMV within the bound");
    expect(nearest_ok(*o), "k-means assignments are nearest codewords");
    expect(o->thread_invariant, "compress on a 3-thread pool equals the 1-thread result");
  }
  const bool vq_same = same(a.c_vq, b.c_vq), mvq_same = same(a.c_mvq, b.c_mvq);
  std::printf("compress across the TUs: kmeans %s, mvq %s; assignment pass %s\n",
              vq_same ? "bit-identical" : "differs", mvq_same ? "bit-identical" : "differs",
              a.assign_once == b.assign_once ? "identical" : "differs on near ties");
  expect(std::fabs(a.err_vq - b.err_vq) <= 0.05 * std::max(a.err_vq, b.err_vq) && a.err_vq > 0, "kmeans error agrees within 5 %");
  expect(std::fabs(a.err_mvq - b.err_mvq) <= 0.05 * std::max(a.err_mvq, b.err_mvq) && a.err_mvq > 0, "mvq error agrees within 5 %");
  if (failures) return 1;
  std::puts("both translation units give the documented results");
  return 0;
}
