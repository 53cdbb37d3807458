#pragma once
/// @file
/// The cycle-stepped model: operands move through the PE registers one register per clock tick (activations to
/// the right, partial sums or weights down), and the array computes the actual outputs: every MAC is the step of
/// the array's processing element (processing_element.hpp, over `kernel::kernel_traits<pe_config(array)>`), with
/// its operand and accumulator widths. In CALC mode its cycle count equals the analytic model (analytic.hpp)
/// exactly, and with the default 8-bit operands and 32-bit accumulators (`int8_conventions`) its outputs equal
/// `kernel::reference_gemm_i8` bit for bit.
///
/// Sparse N:M arrays receive the filter compacted to K' rows (SCALE-Sim v3) together with each kept weight's
/// position; a PE's multiplexer picks the matching activation out of its N:M group (MVQ, ASPLOS 2025). VQ arrays
/// receive indices and masks; the weight-loading controller decodes them through the codebook register file
/// (`kernel::decode_i8`) before the weights enter the array.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/compressed_matrix.hpp"
#include "mvq/core/config.hpp"
#include "mvq/core/error.hpp"
#include "mvq/core/matrix_view.hpp"
#include "mvq/core/reduction_order.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"
#include "mvq/hw/processing_element.hpp"
#include "mvq/kernel/int8.hpp"
#include "mvq/kernel/traits.hpp"

namespace mvq::inline v0::hw {

/// What the cycle-stepped model counted.
struct sim_stats {
  std::uint64_t cycles = 0;        ///< Σ fold ticks − 1 per GEMM group (SCALE-Sim's "Total Cycles" convention)
  std::uint64_t ticks = 0;         ///< clock ticks simulated
  std::uint64_t pe_updates = 0;    ///< PE register updates simulated (ticks × PEs)
  std::uint64_t ifmap_reads = 0;   ///< activations (or activation groups) fed into the array edge
  std::uint64_t filter_reads = 0;  ///< weights loaded into PEs or fed into the array edge
  std::uint64_t ofmap_writes = 0;  ///< outputs (partial or final) leaving the array
  std::uint64_t folds = 0;         ///< folds executed

  /// Adds another run's counts.
  constexpr sim_stats& operator+=(sim_stats const& o) noexcept {
    cycles += o.cycles; ticks += o.ticks; pe_updates += o.pe_updates; ifmap_reads += o.ifmap_reads;
    filter_reads += o.filter_reads; ofmap_writes += o.ofmap_writes; folds += o.folds;
    return *this;
  }
};

namespace detail {

/// Filter of one GEMM as it enters the array: K'_pad × N_pad int8 weights (row j = compacted reduction step) and,
/// for each, the original reduction index its PE multiplexer selects. Padding rows/columns hold zero weights.
struct array_filter {
  std::size_t k = 0, n = 0;            ///< K' and N
  std::size_t k_pad = 0, n_pad = 0;    ///< padded to whole folds
  std::vector<std::int8_t> w;          ///< k_pad × n_pad
  std::vector<std::uint32_t> sel;      ///< k_pad × n_pad original reduction index

  [[nodiscard]] std::int8_t weight(std::size_t j, std::size_t c) const noexcept { return w[j * n_pad + c]; }
  [[nodiscard]] std::uint32_t select(std::size_t j, std::size_t c) const noexcept { return sel[j * n_pad + c]; }
};

/// Compacts `w` (N × K, kernel convention) along K under `p`: each group of M keeps exactly N entries (its non-zero
/// weights, topped up with zero weights at unused positions), a trailing partial group of r keeps min(r, N)
/// (SCALE-Sim v3's compaction). Fails when a group holds more than N non-zero weights.
[[nodiscard]] inline result<array_filter> compact_filter(matrix_view<const std::int8_t> w, nm_pattern p,
                                                         std::size_t pad_k_to, std::size_t pad_n_to) {
  array_filter f;
  const std::size_t n = w.rows(), k = w.cols();
  f.n = n;
  f.k = static_cast<std::size_t>(compact_k(k, p));
  f.k_pad = (f.k + pad_k_to - 1) / pad_k_to * pad_k_to;
  f.n_pad = (n + pad_n_to - 1) / pad_n_to * pad_n_to;
  f.w.assign(f.k_pad * f.n_pad, 0);
  f.sel.assign(f.k_pad * f.n_pad, 0);
  if (p.dense()) {
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t c = 0; c < n; ++c) {
        f.w[j * f.n_pad + c] = w(c, j);
        f.sel[j * f.n_pad + c] = static_cast<std::uint32_t>(j);
      }
    return f;
  }
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t j = 0;
    for (std::size_t g0 = 0; g0 < k; g0 += p.m) {
      const std::size_t len = std::min<std::size_t>(p.m, k - g0);
      const std::size_t keep = std::min<std::size_t>(len, p.n);
      std::size_t kept = 0;
      for (std::size_t t = 0; t < len; ++t)
        if (w(c, g0 + t) != 0) {
          if (kept == keep)
            return fail(errc::invalid_argument,
                        "simulate: filter " + std::to_string(c) + " has more than " + std::to_string(p.n) +
                            " non-zero weights in the N:M group starting at reduction index " + std::to_string(g0));
          f.w[(j + kept) * f.n_pad + c] = w(c, g0 + t);
          f.sel[(j + kept) * f.n_pad + c] = static_cast<std::uint32_t>(g0 + t);
          ++kept;
        }
      // Top up with zero weights at the group's first unused positions (their activation is multiplied by 0).
      for (std::size_t t = 0; t < len && kept < keep; ++t)
        if (w(c, g0 + t) == 0) {
          bool used = false;
          for (std::size_t q = 0; q < kept; ++q) used = used || f.sel[(j + q) * f.n_pad + c] == g0 + t;
          if (!used) {
            f.sel[(j + kept) * f.n_pad + c] = static_cast<std::uint32_t>(g0 + t);
            ++kept;
          }
        }
      j += keep;
    }
  }
  return f;
}

/// Activations as the array edge reads them: M rows of K int8 plus one all-zero row (index M) that unused PE
/// rows/columns point at.
struct array_ifmap {
  std::size_t m = 0, k = 0;
  std::vector<std::int8_t> x;  ///< (m + 1) × k

  [[nodiscard]] const std::int8_t* row(std::size_t i) const noexcept { return x.data() + i * k; }
};

/// Weight-stationary fold group (WS: g = 1; EWS: g ≤ WRF depth tiles of consecutive row folds). Returns ticks.
/// The g·R weight rows of the column are shifted into the chain of WRFs (R·g ticks); then stream token u (the
/// row's local time) = m·g + w enters row r at tick u + r and moves one PE right per tick; PE(r, c) multiplies the
/// activation its mux selects by WRF[w], accumulates the g products in its PRF entry and, at w = g − 1, passes
/// PRF + the partial sum from above down; row R − 1 emits out(m, n).
template <class Pe>
std::uint64_t ws_group(array_config const& cfg, Pe const& pe, array_filter const& f, array_ifmap const& a,
                       std::size_t fr0, std::size_t g, std::size_t fc, matrix_view<std::int32_t> out, sim_stats& st) {
  using acc_t = typename Pe::accumulator_type;
  const std::size_t R = cfg.rows, C = cfg.cols, L = R * g, T = a.m;
  const std::size_t n0 = fc * C;
  // Load: shift chains, one per column, of length R·g; position P = r·g + w holds tile w's row r.
  std::vector<std::int8_t> wchain(C * L, 0);
  std::vector<std::uint32_t> schain(C * L, 0);
  for (std::size_t tick = 0; tick < L; ++tick) {
    const std::size_t pos = L - 1 - tick;
    const std::size_t r = pos / g, w = pos % g;
    const std::size_t j = (fr0 + w) * R + r;
    for (std::size_t c = 0; c < C; ++c) {
      std::int8_t* wc = wchain.data() + c * L;
      std::uint32_t* sc = schain.data() + c * L;
      std::copy_backward(wc, wc + L - 1, wc + L);
      std::copy_backward(sc, sc + L - 1, sc + L);
      wc[0] = f.weight(j, n0 + c);
      sc[0] = f.select(j, n0 + c);
    }
  }
  for (std::size_t w = 0; w < g; ++w) {
    const std::size_t j0 = (fr0 + w) * R;
    for (std::size_t r = 0; r < R && j0 + r < f.k; ++r)
      for (std::size_t c = 0; c < C && n0 + c < f.n; ++c) ++st.filter_reads;
  }
  // The chains now hold every PE's WRF: slot w of PE(r, c) is chain position r·g + w of column c. Index them
  // PE-major ([r][c][w]) so the streaming loop below walks memory in order.
  std::vector<std::int8_t> wrf(R * C * g);
  std::vector<std::uint32_t> srf(R * C * g);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t p = 0; p < L; ++p) {
      wrf[((p / g) * C + c) * g + p % g] = wchain[c * L + p];
      srf[((p / g) * C + c) * g + p % g] = schain[c * L + p];
    }
  // Register planes: PE(r, c) at r·C + c.
  std::vector<std::int32_t> tok(R * C, -1);
  std::vector<acc_t> psum(R * C, 0), prf(R * C, 0);
  const std::size_t stream_ticks = g * T + R + C - 2;
  const unsigned wb = g > 1 ? static_cast<unsigned>(std::bit_width(g - 1)) : 0u;
  const std::int32_t wmask = static_cast<std::int32_t>((1u << wb) - 1);
  const std::int32_t last_w = static_cast<std::int32_t>(g - 1);
  const std::size_t cols_used = std::min(C, f.n - n0);
  for (std::size_t tick = 0; tick < stream_ticks; ++tick) {
    for (std::size_t r = R; r-- > 0;) {
      std::int32_t* trow = tok.data() + r * C;
      acc_t* prow = psum.data() + r * C;
      acc_t* lrow = prf.data() + r * C;
      const acc_t* above = r ? psum.data() + (r - 1) * C : nullptr;
      // Edge feed: local time u = tick − r.
      std::int32_t feed = -1;
      if (tick >= r && tick - r < g * T) {
        const std::size_t u = tick - r;
        feed = static_cast<std::int32_t>(((u / g) << wb) | (u % g));
        const std::size_t j = (fr0 + u % g) * R + r;
        if (j < f.k) ++st.ifmap_reads;
      }
      for (std::size_t c = C; c-- > 0;) {
        const std::int32_t t = c ? trow[c - 1] : feed;
        trow[c] = t;
        if (t < 0) continue;
        const std::int32_t w = t & wmask;
        const std::size_t m = static_cast<std::size_t>(t >> wb);
        const std::size_t pos = (r * C + c) * g + static_cast<std::size_t>(w);
        // The PE's MAC into its PRF entry; at the tile's last weight the PRF joins the partial sum from above.
        const acc_t l = pe.mac(lrow[c], a.row(m)[srf[pos]], wrf[pos]);
        if (w != last_w) {
          lrow[c] = l;
          continue;
        }
        const acc_t s = pe.add(above ? above[c] : 0, l);
        lrow[c] = 0;
        prow[c] = s;
        if (r == R - 1 && c < cols_used) {
          out(m, n0 + c) = static_cast<std::int32_t>(pe.add(out(m, n0 + c), s));
          ++st.ofmap_writes;
        }
      }
    }
  }
  st.pe_updates += (L + stream_ticks) * R * C;
  return L + stream_ticks;
}

/// Input-stationary fold: PE column c holds ifmap row m0 + c (its activation group for reduction step j = k0 + r,
/// loaded through an R-deep shift chain in R ticks); stream token n enters row r at tick n + r carrying the
/// weight W'(j, n) and its mux select; row R − 1 emits out(m, n).
template <class Pe>
std::uint64_t is_fold(array_config const& cfg, Pe const& pe, array_filter const& f, array_ifmap const& a,
                      std::size_t fr, std::size_t fc, matrix_view<std::int32_t> out, sim_stats& st) {
  using acc_t = typename Pe::accumulator_type;
  const std::size_t R = cfg.rows, C = cfg.cols, T = f.n;
  const std::size_t k0 = fr * R, m0 = fc * C;
  // Load: the stationary register of PE(r, c) receives ifmap row index m0 + c (or the zero row) by shifting.
  std::vector<std::int32_t> chain(C * R, static_cast<std::int32_t>(a.m));
  for (std::size_t tick = 0; tick < R; ++tick) {
    const std::size_t r = R - 1 - tick;
    for (std::size_t c = 0; c < C; ++c) {
      std::int32_t* ch = chain.data() + c * R;
      std::copy_backward(ch, ch + R - 1, ch + R);
      const bool used = m0 + c < a.m && k0 + r < f.k;
      ch[0] = used ? static_cast<std::int32_t>(m0 + c) : static_cast<std::int32_t>(a.m);
      if (used) ++st.ifmap_reads;
    }
  }
  std::vector<std::int32_t> tok(R * C, -1);
  std::vector<acc_t> psum(R * C, 0);
  const std::size_t stream_ticks = T + R + C - 2;
  const std::size_t cols_used = std::min(C, a.m - m0);
  for (std::size_t tick = 0; tick < stream_ticks; ++tick) {
    for (std::size_t r = R; r-- > 0;) {
      std::int32_t* trow = tok.data() + r * C;
      acc_t* prow = psum.data() + r * C;
      const acc_t* above = r ? psum.data() + (r - 1) * C : nullptr;
      const std::size_t j = k0 + r;
      std::int32_t feed = -1;
      if (tick >= r && tick - r < T) {
        feed = static_cast<std::int32_t>(tick - r);
        if (j < f.k) ++st.filter_reads;
      }
      const std::int8_t* wrow = f.w.data() + j * f.n_pad;
      const std::uint32_t* srow = f.sel.data() + j * f.n_pad;
      for (std::size_t c = C; c-- > 0;) {
        const std::int32_t n = c ? trow[c - 1] : feed;
        trow[c] = n;
        if (n < 0) continue;
        const std::size_t m = static_cast<std::size_t>(chain[c * R + r]);
        const acc_t s = pe.mac(above ? above[c] : 0, a.row(m)[srow[n]], wrow[n]);
        prow[c] = s;
        if (r == R - 1 && c < cols_used) {
          const std::size_t nn = static_cast<std::size_t>(n);
          out(m0 + c, nn) = static_cast<std::int32_t>(pe.add(out(m0 + c, nn), s));
          ++st.ofmap_writes;
        }
      }
    }
  }
  st.pe_updates += (R + stream_ticks) * R * C;
  return R + stream_ticks;
}

/// Output-stationary fold: PE(r, c) accumulates out(m0 + r, n0 + c). Reduction step j enters row r from the left
/// at tick j + r (the activation group of ifmap row m0 + r) and column c from the top at tick j + c (weight
/// W'(j, n0 + c) with its mux select); both meet at PE(r, c) at tick j + r + c. The accumulators are read out
/// through the ofmap port after the last MAC, overlapped with the next fold (SCALE-Sim's OS fold length).
template <class Pe>
std::uint64_t os_fold(array_config const& cfg, Pe const& pe, array_filter const& f, array_ifmap const& a,
                      std::size_t fr, std::size_t fc, matrix_view<std::int32_t> out, sim_stats& st) {
  using acc_t = typename Pe::accumulator_type;
  const std::size_t R = cfg.rows, C = cfg.cols, T = f.k;
  const std::size_t m0 = fr * R, n0 = fc * C;
  std::vector<std::int32_t> left(R * C, -1), top(R * C, -1);
  std::vector<acc_t> acc(R * C, 0);
  const std::size_t stream_ticks = T + R + C - 2;
  const std::size_t rows_used = std::min(R, a.m - m0), cols_used = std::min(C, f.n - n0);
  for (std::size_t tick = 0; tick < stream_ticks; ++tick) {
    for (std::size_t r = R; r-- > 0;) {
      std::int32_t* lrow = left.data() + r * C;
      std::int32_t* trow = top.data() + r * C;
      const std::int32_t* tabove = r ? top.data() + (r - 1) * C : nullptr;
      acc_t* arow = acc.data() + r * C;
      const std::size_t m = r < rows_used ? m0 + r : a.m;
      const std::int8_t* xrow = a.row(m);
      std::int32_t feed = -1;
      if (tick >= r && tick - r < T) {
        feed = static_cast<std::int32_t>(tick - r);
        if (r < rows_used) ++st.ifmap_reads;
      }
      for (std::size_t c = C; c-- > 0;) {
        const std::int32_t jl = c ? lrow[c - 1] : feed;
        std::int32_t jt = -1;
        if (r) {
          jt = tabove[c];
        } else if (tick >= c && tick - c < T) {
          jt = static_cast<std::int32_t>(tick - c);
          if (c < cols_used) ++st.filter_reads;
        }
        lrow[c] = jl;
        trow[c] = jt;
        if (jt < 0) continue;  // the two streams are skew-aligned: jl == jt here
        const std::size_t j = static_cast<std::size_t>(jt);
        arow[c] = pe.mac(arow[c], xrow[f.select(j, n0 + c)], f.weight(j, n0 + c));
      }
    }
  }
  for (std::size_t r = 0; r < rows_used; ++r)
    for (std::size_t c = 0; c < cols_used; ++c) {
      out(m0 + r, n0 + c) = static_cast<std::int32_t>(acc[r * C + c]);
      ++st.ofmap_writes;
    }
  st.pe_updates += stream_ticks * R * C;
  return stream_ticks;
}

/// The checks and the fold loop of a GEMM group on PEs `pe` (whose widths are `cfg`'s).
template <class Pe>
[[nodiscard]] result<sim_stats> run_gemm(array_config const& cfg, Pe const& pe, matrix_view<const std::int8_t> x,
                                         matrix_view<const std::int8_t> w, matrix_view<std::int32_t> out,
                                         nm_pattern p) {
  if (auto v = validate(cfg, "simulate"); !v) return tl::unexpected(v.error());
  if (const char* e = mvq::check(p); *e) return fail(errc::invalid_argument, std::string("simulate: ") + e);
  if (x.cols() != w.cols())
    return fail(errc::shape_mismatch, "simulate: ifmap has " + std::to_string(x.cols()) +
                                          " columns but the filter has a reduction length of " +
                                          std::to_string(w.cols()));
  if (out.rows() != x.rows() || out.cols() != w.rows())
    return fail(errc::shape_mismatch, "simulate: output must be " + std::to_string(x.rows()) + "×" +
                                          std::to_string(w.rows()));
  if (x.rows() == 0 || w.rows() == 0 || x.cols() == 0)
    return fail(errc::shape_mismatch, "simulate: M, N and K must all be at least 1");
  // Narrower accumulators wrap by definition (processing_element.hpp); from 32 bits on the int32 outputs must
  // hold the exact sums.
  if (cfg.accumulator_bits >= int8_conventions::accumulator_bits && x.cols() > int8_conventions::max_reduction)
    return fail(errc::too_large, "simulate: the reduction length exceeds what an int32 accumulator holds");
  if ((x.rows() + 1) * cfg.wrf_depth * 2 >= (std::size_t{1} << 31) || w.rows() >= (std::size_t{1} << 31))
    return fail(errc::too_large, "simulate: M and N must stay below 2^30 / wrf_depth (stream tokens are 32-bit)");
  // Operands are int8 here; narrower operand registers must hold every value (else the error names the first).
  if (cfg.operand_bits < int8_conventions::operand_bits) {
    auto scan = [&](matrix_view<const std::int8_t> v, const char* what) -> result<void> {
      for (std::size_t i = 0; i < v.rows(); ++i)
        for (std::size_t j = 0; j < v.cols(); ++j)
          if (!pe.fits(v(i, j)))
            return fail(errc::invalid_argument,
                        std::string("simulate: ") + what + " value " + std::to_string(int{v(i, j)}) + " at (" +
                            std::to_string(i) + ", " + std::to_string(j) + ") does not fit the PEs' " +
                            std::to_string(cfg.operand_bits) + "-bit operands");
      return {};
    };
    if (auto r = scan(x, "ifmap"); !r) return tl::unexpected(r.error());
    if (auto r = scan(w, "filter"); !r) return tl::unexpected(r.error());
  }
  const std::size_t R = cfg.rows, C = cfg.cols;
  const bool is = cfg.flow == dataflow::input_stationary, os = cfg.flow == dataflow::output_stationary;
  auto f = compact_filter(w, p, R, is ? 1 : C);
  if (!f) return tl::unexpected(f.error());
  array_ifmap a;
  a.m = x.rows();
  a.k = x.cols();
  a.x.assign((a.m + 1) * a.k, 0);
  for (std::size_t i = 0; i < a.m; ++i) std::copy_n(x.row(i).data(), a.k, a.x.data() + i * a.k);
  for (std::size_t i = 0; i < out.rows(); ++i) std::fill_n(out.row(i).data(), out.cols(), 0);

  sim_stats st;
  const std::size_t rf = os ? (a.m + R - 1) / R : (f->k + R - 1) / R;
  const std::size_t cf = is ? (a.m + C - 1) / C : (f->n + C - 1) / C;
  std::uint64_t ticks = 0;
  for (std::size_t fc = 0; fc < cf; ++fc) {  // SCALE-Sim order: column folds outer, row folds inner
    if (cfg.flow == dataflow::weight_stationary || cfg.flow == dataflow::enhanced_weight_stationary) {
      const std::size_t g = cfg.flow == dataflow::weight_stationary ? 1 : cfg.wrf_depth;
      for (std::size_t fr = 0; fr < rf; fr += g) {
        ticks += ws_group(cfg, pe, *f, a, fr, std::min(g, rf - fr), fc, out, st);
        st.folds += std::min(g, rf - fr);
      }
    } else {
      for (std::size_t fr = 0; fr < rf; ++fr) {
        ticks += is ? is_fold(cfg, pe, *f, a, fr, fc, out, st) : os_fold(cfg, pe, *f, a, fr, fc, out, st);
        ++st.folds;
      }
    }
  }
  st.ticks = ticks;
  st.cycles = ticks - 1;
  return st;
}

/// VQ weights on PEs `pe`: checks that the matrix fits the array's PEs, decodes it (the weight-loading
/// controller reads the codebook register file, `kernel::decode_i8`) and runs the GEMM with the matrix's pattern.
template <class Pe>
[[nodiscard]] result<sim_stats> run_gemm(array_config const& cfg, Pe const& pe, matrix_view<const std::int8_t> x,
                                         compressed_matrix_view const& w, matrix_view<std::int32_t> out) {
  if (auto v = validate(w); !v) return tl::unexpected(v.error());
  if (auto v = check_fits(cfg, w.layout, "simulate"); !v) return tl::unexpected(v.error());
  const kernel::weights_i8 dw = kernel::decode_i8(w);
  return run_gemm(cfg, pe, x, dw.view(), out, cfg.pe_pattern());
}

/// Calls `f(pe)` with the processing element of a runtime array: the compiled int8 × int32 PE for the default
/// widths (the SIMD kernels' MAC), the runtime-width PE otherwise. Both perform the same MAC step.
template <class F>
[[nodiscard]] decltype(auto) with_processing_element(array_config const& cfg, F&& f) {
  constexpr kernel::kernel_config int8_mac = int8_processing_element::config;
  if (cfg.operand_bits == int8_mac.operand_bits && cfg.accumulator_bits == int8_mac.accumulator_bits)
    return f(int8_processing_element{});
  return f(dynamic_processing_element::of(pe_config(cfg)));
}

}  // namespace detail

/// Runs one GEMM group on the array, register by register: out (M×N, int32) = x (M×K, int8) · wᵀ (w is N×K, the
/// kernels' convention), with `w` satisfying the N:M pattern `p` when `p` is not dense (the array's effective
/// pattern; pass `effective_pattern(cfg, layer)`). `out` is overwritten. Every MAC is the PE's
/// (processing_element.hpp): operands must fit `cfg.operand_bits` (else an error), sums wrap at
/// `cfg.accumulator_bits`. Shapes are checked.
[[nodiscard]] inline result<sim_stats> simulate_gemm_i8(array_config const& cfg, matrix_view<const std::int8_t> x,
                                                        matrix_view<const std::int8_t> w,
                                                        matrix_view<std::int32_t> out, nm_pattern p = {}) {
  return detail::with_processing_element(cfg, [&](auto const& pe) { return detail::run_gemm(cfg, pe, x, w, out, p); });
}

/// VQ weights: the weight-loading controller rebuilds int8 weights from indices, masks and the codebook register
/// file (`kernel::decode_i8`), then the array runs as `simulate_gemm_i8` with the array's N:M pattern. A matrix
/// that does not fit the array's PEs (`check_fits`: K, d, N:M) is an error naming both.
[[nodiscard]] inline result<sim_stats> simulate_gemm_i8(array_config const& cfg, matrix_view<const std::int8_t> x,
                                                        compressed_matrix_view const& w,
                                                        matrix_view<std::int32_t> out) {
  return detail::with_processing_element(cfg, [&](auto const& pe) { return detail::run_gemm(cfg, pe, x, w, out); });
}

/// im2col of one layer group: row (oy·E_w + ox) holds the window under that output pixel, its columns in the
/// weights' `order` (core/reduction_order.hpp): oihw (the default, PyTorch's and ONNX's order, what
/// `kernel::im2col` produces) puts column (ch·R + fy)·S + fx; ohwi (SCALE-Sim's operand_matrix.py ordering)
/// puts column (fy·S + fx)·C + ch. Windows past the border (SCALE-Sim's partial windows, or padding) read 0.
/// `ifmap` is H × W × C (channel fastest; a depthwise group passes one channel plane). Returns M × K.
[[nodiscard]] inline std::vector<std::int8_t> im2col_i8(layer const& l, std::span<const std::int8_t> ifmap,
                                                        reduction_order order = reduction_order::oihw) {
  const std::size_t ch = l.kind == layer_kind::depthwise ? 1 : l.channels;
  const std::size_t taps = std::size_t{l.filter_h} * l.filter_w;
  const std::size_t eh = l.ofmap_h(), ew = l.ofmap_w(), k = taps * ch;
  const std::ptrdiff_t pad_h = l.mode == conv_mode::padded ? l.pad_h : 0, pad_w = l.mode == conv_mode::padded ? l.pad_w : 0;
  const bool oihw = order == reduction_order::oihw;
  std::vector<std::int8_t> x(eh * ew * k, 0);
  for (std::size_t oy = 0; oy < eh; ++oy)
    for (std::size_t ox = 0; ox < ew; ++ox)
      for (std::size_t fy = 0; fy < l.filter_h; ++fy)
        for (std::size_t fx = 0; fx < l.filter_w; ++fx) {
          const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * l.stride_h + fy) - pad_h;
          const std::ptrdiff_t ix = static_cast<std::ptrdiff_t>(ox * l.stride_w + fx) - pad_w;
          if (iy < 0 || ix < 0 || iy >= std::ptrdiff_t(l.ifmap_h) || ix >= std::ptrdiff_t(l.ifmap_w)) continue;
          const std::int8_t* src = ifmap.data() + (std::size_t(iy) * l.ifmap_w + std::size_t(ix)) * ch;
          std::int8_t* row = x.data() + (oy * ew + ox) * k;
          const std::size_t tap = fy * l.filter_w + fx;
          if (oihw) {
            for (std::size_t c = 0; c < ch; ++c) row[c * taps + tap] = src[c];
          } else {
            std::copy_n(src, ch, row + tap * ch);
          }
        }
  return x;
}

namespace detail {

/// Checks a layer against real weights (N × R·S·C) before its im2col is built.
[[nodiscard]] inline result<void> check_conv_operands(layer const& l, std::size_t ifmap_size, std::size_t w_rows,
                                                      std::size_t w_cols, reduction_order order,
                                                      matrix_view<std::int32_t> out) {
  if (auto v = validate(l); !v) return v;
  if (l.kind == layer_kind::depthwise)
    return fail(errc::unsupported, "simulate_conv_i8: a depthwise layer runs one channel at a time; pass each "
                                   "channel as a conv layer with one channel and its filters");
  if (order != reduction_order::oihw && order != reduction_order::ohwi)
    return fail(errc::invalid_argument, "simulate_conv_i8: the weights' reduction order is neither oihw nor ohwi");
  const gemm_shape g = to_gemm(l);
  if (w_rows != g.n || w_cols != g.k)
    return fail(errc::shape_mismatch,
                "simulate_conv_i8: the weights are " + std::to_string(w_rows) + " × " + std::to_string(w_cols) +
                    " but the layer needs filters × channels·R·S = " + std::to_string(g.n) + " × " +
                    std::to_string(l.channels) + "·" + std::to_string(l.filter_h) + "·" + std::to_string(l.filter_w) +
                    " (" + std::string(to_string(order)) + " columns)");
  const std::size_t want = std::size_t{l.ifmap_h} * l.ifmap_w * (l.kind == layer_kind::gemm ? 1 : l.channels);
  if (ifmap_size != want)
    return fail(errc::shape_mismatch, "simulate_conv_i8: the ifmap has " + std::to_string(ifmap_size) +
                                          " values, the layer needs H·W·C = " + std::to_string(want));
  if (out.rows() != g.m || out.cols() != g.n)
    return fail(errc::shape_mismatch, "simulate_conv_i8: the output must be " + std::to_string(g.m) + " × " +
                                          std::to_string(g.n) + " (output pixels × filters)");
  return {};
}

/// A conv or GEMM layer on real int8 operands on PEs `pe`.
template <class Pe>
[[nodiscard]] result<sim_stats> run_conv(array_config const& cfg, Pe const& pe, layer const& l,
                                         std::span<const std::int8_t> ifmap, matrix_view<const std::int8_t> w,
                                         reduction_order order, matrix_view<std::int32_t> out) {
  if (auto v = check_conv_operands(l, ifmap.size(), w.rows(), w.cols(), order, out); !v)
    return tl::unexpected(v.error());
  const gemm_shape g = to_gemm(l);
  const std::vector<std::int8_t> x = l.kind == layer_kind::gemm ? std::vector<std::int8_t>(ifmap.begin(), ifmap.end())
                                                                 : im2col_i8(l, ifmap, order);
  return run_gemm(cfg, pe, matrix_view<const std::int8_t>(x.data(), g.m, g.k), w, out, effective_pattern(cfg, l));
}

/// A conv or GEMM layer with compressed weights on PEs `pe`: the im2col follows the matrix's own order.
template <class Pe>
[[nodiscard]] result<sim_stats> run_conv(array_config const& cfg, Pe const& pe, layer const& l,
                                         std::span<const std::int8_t> ifmap, compressed_matrix_view const& w,
                                         matrix_view<std::int32_t> out) {
  if (auto v = validate(w); !v) return tl::unexpected(v.error());
  if (auto v = check_fits(cfg, w.layout, "simulate_conv_i8"); !v) return tl::unexpected(v.error());
  if (auto v = check_conv_operands(l, ifmap.size(), w.layout.rows, w.layout.cols, w.layout.order, out); !v)
    return tl::unexpected(v.error());
  const kernel::weights_i8 dw = kernel::decode_i8(w);
  const gemm_shape g = to_gemm(l);
  const std::vector<std::int8_t> x = l.kind == layer_kind::gemm ? std::vector<std::int8_t>(ifmap.begin(), ifmap.end())
                                                                 : im2col_i8(l, ifmap, w.layout.order);
  return run_gemm(cfg, pe, matrix_view<const std::int8_t>(x.data(), g.m, g.k), dw.view(), out, cfg.pe_pattern());
}

}  // namespace detail

/// Runs a conv or GEMM layer on real int8 operands: `ifmap` is H × W × C (channel fastest; a GEMM layer's
/// ifmap is its M × K matrix), `w` holds the N filters of R·S·C weights with columns in `order` (oihw, the default,
/// is a PyTorch/ONNX weight [N, C, R, S] read row-major; ohwi is [N, R, S, C]), `out` is output pixels × filters.
/// The im2col is built in the weights' order, so the reduction pairs each weight with its own activation.
/// Errors: an invalid layer, a depthwise layer, shapes that do not match the layer.
[[nodiscard]] inline result<sim_stats> simulate_conv_i8(array_config const& cfg, layer const& l,
                                                        std::span<const std::int8_t> ifmap,
                                                        matrix_view<const std::int8_t> w, reduction_order order,
                                                        matrix_view<std::int32_t> out) {
  return detail::with_processing_element(
      cfg, [&](auto const& pe) { return detail::run_conv(cfg, pe, l, ifmap, w, order, out); });
}

/// Runs a conv or GEMM layer with compressed weights: the im2col follows `w.layout.order`, and a matrix that does
/// not fit the array's PEs (`check_fits`) or the layer's shape is an error.
[[nodiscard]] inline result<sim_stats> simulate_conv_i8(array_config const& cfg, layer const& l,
                                                        std::span<const std::int8_t> ifmap,
                                                        compressed_matrix_view const& w,
                                                        matrix_view<std::int32_t> out) {
  return detail::with_processing_element(
      cfg, [&](auto const& pe) { return detail::run_conv(cfg, pe, l, ifmap, w, out); });
}

/// Runs a whole layer (every depthwise channel) on synthetic operands drawn from `seed` (weights already
/// satisfying the array's N:M pattern, values filling the PEs' operand width up to int8's symmetric range) and
/// returns the counts. Used for cycle counts, the agreement tests and the benchmarks; `simulate_gemm_i8` and
/// `simulate_conv_i8` are the entry points for real operands.
[[nodiscard]] inline result<sim_stats> simulate_layer(array_config const& cfg, layer const& l,
                                                      std::uint64_t seed = 1) {
  if (auto v = validate(l); !v) return tl::unexpected(v.error());
  if (auto v = validate(cfg, "simulate_layer"); !v) return tl::unexpected(v.error());
  const gemm_shape g = to_gemm(l);
  // Operands are materialized (im2col ifmap, weights, int32 outputs): refuse what would not fit in memory.
  if (g.m * g.k + g.n * g.k + 4 * g.m * g.n > (std::uint64_t{1} << 33))
    return fail(errc::too_large, "simulate_layer: the layer's operands exceed 8 GiB; use the analytic model");
  const nm_pattern p = effective_pattern(cfg, l);
  std::mt19937_64 rng(seed);
  // Values the operand registers hold: int8's symmetric range, or the full range of a narrower register.
  const bool narrow = cfg.operand_bits < int8_conventions::operand_bits;
  const int hi = narrow ? (1 << (cfg.operand_bits - 1)) - 1 : int8_conventions::qmax;
  const int lo = narrow ? -(1 << (cfg.operand_bits - 1)) : int8_conventions::qmin;
  std::uniform_int_distribution<int> dist(lo, hi);
  const std::size_t h = l.ifmap_h, wd = l.ifmap_w, ch = l.kind == layer_kind::depthwise ? 1 : l.channels;
  std::vector<std::int8_t> ifmap(h * wd * ch), w(g.n * g.k);
  std::vector<std::int32_t> out(g.m * g.n);
  sim_stats total;
  for (std::uint64_t grp = 0; grp < g.groups; ++grp) {
    for (auto& v : ifmap) v = static_cast<std::int8_t>(dist(rng));
    for (std::size_t i = 0; i < w.size(); ++i) {
      const std::size_t kk = i % g.k;
      // Keep the first N of every M positions so the weights satisfy the pattern.
      const bool kept = p.dense() || kk % p.m < p.n;
      w[i] = kept ? static_cast<std::int8_t>(dist(rng)) : std::int8_t{0};
    }
    std::vector<std::int8_t> x = l.kind == layer_kind::gemm ? std::vector<std::int8_t>(ifmap) : im2col_i8(l, ifmap);
    auto st = simulate_gemm_i8(cfg, matrix_view<const std::int8_t>(x.data(), g.m, g.k),
                               matrix_view<const std::int8_t>(w.data(), g.n, g.k),
                               matrix_view<std::int32_t>(out.data(), g.m, g.n), p);
    if (!st) return tl::unexpected(st.error());
    total += *st;
  }
  return total;
}

}  // namespace mvq::inline v0::hw
