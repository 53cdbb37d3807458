#pragma once
/// @file
/// SCALE-Sim v2's memory system, replayed exactly in CALC mode: the demand streams of every fold (the addresses of
/// operand_matrix.py in the line order of systolic_compute_*.py), its estimate-bandwidth read buffers for ifmap and
/// filter (read_buffer_estimate_bw.py: 100 sets per buffer, 50 active, prefetch windows) and its ofmap write buffer
/// (write_buffer.py: half the SRAM drains at `cols` words per cycle). The result is what SCALE-Sim prints in
/// DETAILED_ACCESS_REPORT.csv and BANDWIDTH_REPORT.csv for the DRAM columns, plus its total and stall cycles.
/// Dense arrays, ws/os/is, CALC mode only; everything else uses this library's DRAM model (analytic.hpp).

#include <cstdint>
#include <vector>

#include "mvq/core/error.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"

namespace mvq::inline v0::hw {

/// SCALE-Sim's per-layer memory figures (CALC mode).
struct scalesim_memory_figures {
  std::uint64_t total_cycles = 0;      ///< "Total Cycles": the last ofmap demand line's serviced cycle
  std::uint64_t stall_cycles = 0;      ///< "Stall Cycles" (write-buffer back-pressure)
  std::int64_t sram_start[3] = {};     ///< ifmap, filter, ofmap SRAM trace: first line with an address
  std::int64_t sram_stop[3] = {};      ///< ... last line with an address
  std::int64_t dram_start[3] = {};     ///< DRAM trace first cycle (negative: prefetched before compute)
  std::int64_t dram_stop[3] = {};      ///< DRAM trace last cycle
  std::uint64_t dram_accesses[3] = {}; ///< DRAM words read (ifmap, filter) and written (ofmap)
};

namespace detail {

/// read_buffer_estimate_bw.py (CALC mode): unique addresses fill sets of ⌊words/100⌋; when the 50 active sets
/// are full they are "prefetched" at 10 words/cycle ending just before the first request, later windows at the
/// rate that fits between the previous two prefetch events.
class scalesim_read_buffer {
 public:
  scalesim_read_buffer(std::uint64_t total_words, std::uint64_t address_span)
      : items_(total_words / 100), where_(address_span, -1) {}

  void request(std::int64_t cycle, std::uint64_t addr) {
    if (!first_seen_) {
      first_seen_ = true;
      first_req_ = cycle;
    }
    const std::int64_t id = where_[addr];
    const std::int64_t hit_end = cur_set_ < rb_end_ + 1 ? cur_set_ : rb_end_ + 1;
    if (id >= rb_start_ && id < hit_end) return;  // hit in the active window
    if (id == cur_set_ && id >= 0) return;        // already in the set being filled
    where_[addr] = cur_set_;
    if (++elems_cur_ != items_) return;
    sizes_.push_back(elems_cur_);
    elems_cur_ = 0;
    ++cur_set_;
    if (cur_set_ != rb_end_ + 1) return;
    if (!active_done_) {
      last_end_ = first_req_ - 2;  // one cycle before the first request, minus the port latency
      const std::int64_t need = static_cast<std::int64_t>((sets_active_ * items_ + default_bw_ - 1) / default_bw_);
      last_start_ = last_end_ - need + 1;
      prefetch(0, static_cast<std::int64_t>(sets_active_) - 1);
      pf_start_ = rb_end_ + 1;
      pf_end_ = pf_start_ + 49;
      active_done_ = true;
    } else {
      prefetch(pf_start_, pf_end_);
      pf_start_ += 50;
      pf_end_ += 50;
    }
    rb_start_ += 50;
    rb_end_ += 50;
    last_start_ = last_end_ + 1;
    last_end_ = cycle;
  }

  void finish() {
    if (elems_cur_ > 0) sizes_.push_back(elems_cur_);
    else --cur_set_;
    if (!active_done_) {
      last_end_ = -2;
      const std::uint64_t sets = static_cast<std::uint64_t>(cur_set_ + 1);
      sets_active_ = sets;
      const std::int64_t need = static_cast<std::int64_t>((sets * items_ + default_bw_ - 1) / default_bw_);
      last_start_ = last_end_ - need + 1;
      prefetch(0, static_cast<std::int64_t>(sets) - 1);
      active_done_ = true;
    } else {
      pf_end_ = cur_set_;
      prefetch(pf_start_, pf_end_);
    }
  }

  [[nodiscard]] std::uint64_t accesses() const noexcept { return accesses_; }
  [[nodiscard]] std::int64_t trace_start() const noexcept { return trace_first_; }
  [[nodiscard]] std::int64_t trace_stop() const noexcept { return trace_last_; }

 private:
  void prefetch(std::int64_t first_set, std::int64_t last_set) {
    for (std::int64_t i = first_set; i <= last_set; ++i)
      if (i >= 0 && static_cast<std::size_t>(i) < sizes_.size()) accesses_ += sizes_[static_cast<std::size_t>(i)];
    const std::int64_t rows = last_end_ - last_start_ + 1;
    if (rows <= 0) return;
    if (!trace_valid_) {
      trace_first_ = last_start_ + 1;  // read port latency 1
      trace_valid_ = true;
    }
    trace_last_ = last_start_ + rows;
  }

  std::uint64_t items_;
  std::vector<std::int64_t> where_;  // latest set id of each address, −1: never seen
  std::vector<std::uint64_t> sizes_;
  std::uint64_t elems_cur_ = 0, sets_active_ = 50, accesses_ = 0, default_bw_ = 10;
  std::int64_t cur_set_ = 0, rb_start_ = 0, rb_end_ = 49, pf_start_ = -1, pf_end_ = -1;
  std::int64_t last_start_ = -2, last_end_ = -1, first_req_ = 0, trace_first_ = 0, trace_last_ = 0;
  bool first_seen_ = false, active_done_ = false, trace_valid_ = false;
};

/// write_buffer.py: stores ofmap words into lines of `bw` words; when more than the active half is filled it
/// drains ⌈drain/bw⌉ lines at one line per cycle; a full buffer while draining stalls the array.
class scalesim_write_buffer {
 public:
  scalesim_write_buffer(std::uint64_t total_words, std::uint64_t bw)
      : total_(static_cast<std::int64_t>(total_words)), bw_(bw) {
    const std::int64_t active = (total_ + 1) / 2;  // ceil(total · 0.5)
    drain_ = total_ - active;
    free_ = total_;
  }

  /// One demand line: `n` valid words arriving at `cycle`; returns the serviced cycle.
  std::int64_t line(std::int64_t cycle, std::uint64_t n) {
    std::int64_t offset = 0, current = cycle;
    for (std::uint64_t e = 0; e < n; ++e) {
      store();
      if (current < drain_end_) {
        if (!(free_ > 0)) {
          offset += drain_end_ - current > 0 ? drain_end_ - current : 0;
          current = drain_end_;
        }
      } else if (free_ < total_ - drain_) {
        force();
        drain_end_ = drain(current);
      }
    }
    (void)offset;
    return current;
  }

  void finish(std::int64_t cycle) {
    force();
    if (lines_.empty()) return;
    while (start_line_ < lines_.size()) {
      drain_end_ = drain(cycle);
      cycle = drain_end_ + 1;
    }
  }

  [[nodiscard]] std::uint64_t accesses() const noexcept { return accesses_; }
  [[nodiscard]] std::int64_t trace_start() const noexcept { return first_; }
  [[nodiscard]] std::int64_t trace_stop() const noexcept { return last_; }

 private:
  void store() {
    ++line_idx_;
    --free_;
    if (line_idx_ == bw_) {
      lines_.push_back(line_idx_);
      line_idx_ = 0;
    }
  }
  void force() {
    if (line_idx_ != 0) {
      lines_.push_back(line_idx_);
      line_idx_ = 0;
    }
  }
  std::int64_t drain(std::int64_t start) {
    const std::size_t n = static_cast<std::size_t>((static_cast<std::uint64_t>(drain_) + bw_ - 1) / bw_);
    const std::size_t end = start_line_ + n < lines_.size() ? start_line_ + n : lines_.size();
    const std::size_t num = end - start_line_;
    std::int64_t data = static_cast<std::int64_t>(num * bw_);
    if (num) data -= static_cast<std::int64_t>(bw_ - lines_[end - 1]);  // only the last line's empty slots
    accesses_ += static_cast<std::uint64_t>(data);
    if (!valid_) {
      first_ = start;
      valid_ = true;
    }
    last_ = start + static_cast<std::int64_t>(num) - 1;
    free_ += data;
    start_line_ = end;
    return last_;
  }

  std::int64_t total_, drain_, free_ = 0, drain_end_ = 0, first_ = 0, last_ = 0;
  std::uint64_t bw_, line_idx_ = 0, accesses_ = 0;
  std::vector<std::uint64_t> lines_;  // valid words per trace line
  std::size_t start_line_ = 0;
  bool valid_ = false;
};

}  // namespace detail

/// Replays SCALE-Sim's CALC-mode memory system for one layer group (a depthwise layer: one channel, as SCALE-Sim
/// splits it). Errors: not a dense ws/os/is array in CALC mode, an invalid configuration or layer.
[[nodiscard]] inline result<scalesim_memory_figures> scalesim_memory_replay(array_config const& c, layer const& l) {
  if (auto v = validate(c, "scalesim_memory_replay"); !v) return tl::unexpected(v.error());
  if (auto v = validate(l, "scalesim_memory_replay"); !v) return tl::unexpected(v.error());
  if (c.pe != pe_kind::dense_mac || c.bandwidth != interface_bandwidth::calc ||
      c.flow == dataflow::enhanced_weight_stationary)
    return fail(errc::unsupported, "scalesim_memory_replay: SCALE-Sim's memory system is replayed for dense ws/os/is "
                                   "arrays in CALC mode only");
  layer one = l;
  if (l.kind == layer_kind::depthwise) {
    one.channels = 1;
    one.kind = layer_kind::conv;
  }
  const gemm_shape g = to_gemm(one);
  const array_mapping a = map_gemm(c, g);
  const std::uint64_t R = c.rows, C = c.cols, T = a.t, M = g.m, N = g.n, K = g.k;
  const bool ws = c.flow == dataflow::weight_stationary, os = c.flow == dataflow::output_stationary;
  const std::uint64_t P = os ? R + C + T - 2 : 2 * R + C + T - 2;

  // Address generators (operand_matrix.py), relative to each operand's offset; ifmap −1 as UINT64_MAX.
  const std::uint64_t H = one.ifmap_h, W = one.ifmap_w, S = one.filter_w, CH = one.channels;
  const std::uint64_t ew = one.ofmap_w();
  const bool padded = one.mode == conv_mode::padded;
  constexpr std::uint64_t none = ~std::uint64_t{0};
  auto ifmap_addr = [&](std::uint64_t m, std::uint64_t k) -> std::uint64_t {
    const std::uint64_t oy = m / ew, ox = m % ew;
    const std::uint64_t cr = k / (S * CH), kk = k % (S * CH), cc = kk / CH, ch = kk % CH;
    const std::uint64_t iy = oy * one.stride_h, ix = ox * one.stride_w;
    if (!padded && (cr + iy >= H || cc + ix >= W)) return none;
    if (padded) {  // padding is outside SCALE-Sim's convention; treat the padded image as the ifmap
      return ((cr + iy) * (W + 2ull * one.pad_w) + cc + ix) * CH + ch;
    }
    return ((cr + iy) * W + cc + ix) * CH + ch;
  };
  const std::uint64_t if_span = padded ? (H + 2ull * one.pad_h) * (W + 2ull * one.pad_w) * CH : H * W * CH;
  auto filter_addr = [&](std::uint64_t k, std::uint64_t n) { return n * K + k; };

  detail::scalesim_read_buffer ifb(std::uint64_t{c.ifmap_sram_kb} * 1024, if_span);
  detail::scalesim_read_buffer fib(std::uint64_t{c.filter_sram_kb} * 1024, N * K);
  detail::scalesim_write_buffer ofb(std::uint64_t{c.ofmap_sram_kb} * 1024, C);
  scalesim_memory_figures f;
  bool if_seen = false, fi_seen = false, of_seen = false;
  std::int64_t stall = 0, last_serviced = 0;
  std::uint64_t line_id = 0;
  for (std::uint64_t fc = 0; fc < a.col_folds; ++fc)
    for (std::uint64_t fr = 0; fr < a.row_folds; ++fr) {
      const std::uint64_t ru = a.rows_used(fr, c.rows), cu = a.cols_used(fc, c.cols);
      const std::uint64_t r0 = fr * R, c0 = fc * C;
      for (std::uint64_t ell = 0; ell < P; ++ell, ++line_id) {
        const std::int64_t cycle = static_cast<std::int64_t>(line_id) + stall;
        bool if_any = false, fi_any = false;
        std::uint64_t of_n = 0;
        auto rd_if = [&](std::uint64_t addr) {
          if (addr == none) return;
          if_any = true;
          ifb.request(cycle, addr);
        };
        auto rd_fi = [&](std::uint64_t addr) {
          fi_any = true;
          fib.request(cycle, addr);
        };
        if (ws) {
          // ifmap: lane q (array row), m = ell − q − R; filter: lines < R, flipped rows; ofmap: m = ell − q − (2R − 1).
          for (std::uint64_t q = 0; q < ru; ++q)
            if (ell >= q + R && ell - q - R < T) rd_if(ifmap_addr(ell - q - R, r0 + q));
          if (ell < R && R - 1 - ell < ru)
            for (std::uint64_t q = 0; q < cu; ++q) rd_fi(filter_addr(r0 + (R - 1 - ell), c0 + q));
          for (std::uint64_t q = 0; q < cu; ++q)
            if (ell + 1 >= q + 2 * R && ell + 1 - q - 2 * R < T) ++of_n;
        } else if (os) {
          // ifmap: lane q ↔ m = r0 + q, k = ell − q; filter: lane q ↔ n = c0 + q, k = ell − q;
          // ofmap: lane q, i = ell − q − (T − 1), m row R − 1 − i.
          for (std::uint64_t q = 0; q < ru; ++q)
            if (ell >= q && ell - q < T) rd_if(ifmap_addr(r0 + q, ell - q));
          for (std::uint64_t q = 0; q < cu; ++q)
            if (ell >= q && ell - q < T) rd_fi(filter_addr(ell - q, c0 + q));
          for (std::uint64_t q = 0; q < cu; ++q)
            if (ell + 1 >= q + T && ell + 1 - q - T < R && R - 1 - (ell + 1 - q - T) < ru) ++of_n;
        } else {
          // IS. ifmap (stationary): lines < R, flipped rows r = R − 1 − ell, lane q ↔ m = c0 + q;
          // filter: lane q ↔ k = r0 + q, n = ell − q − R; ofmap: lane q ↔ m = c0 + q, n = ell − q − (2R − 1).
          if (ell < R && R - 1 - ell < ru)
            for (std::uint64_t q = 0; q < cu; ++q) rd_if(ifmap_addr(c0 + q, r0 + (R - 1 - ell)));
          for (std::uint64_t q = 0; q < ru; ++q)
            if (ell >= q + R && ell - q - R < T) rd_fi(filter_addr(r0 + q, ell - q - R));
          for (std::uint64_t q = 0; q < cu; ++q)
            if (ell + 1 >= q + 2 * R && ell + 1 - q - 2 * R < T) ++of_n;
        }
        const std::int64_t serviced = ofb.line(cycle, of_n);
        const std::int64_t of_stall = serviced - cycle;
        if (if_any) {
          if (!if_seen) f.sram_start[0] = cycle + 1;
          if_seen = true;
          f.sram_stop[0] = cycle + 1;
        }
        if (fi_any) {
          if (!fi_seen) f.sram_start[1] = cycle + 1;
          fi_seen = true;
          f.sram_stop[1] = cycle + 1;
        }
        if (of_n) {
          if (!of_seen) f.sram_start[2] = serviced;
          of_seen = true;
          f.sram_stop[2] = serviced;
        }
        stall += of_stall > 0 ? of_stall : 0;
        last_serviced = serviced;
      }
    }
  (void)M;
  ifb.finish();
  fib.finish();
  ofb.finish(last_serviced);
  f.total_cycles = static_cast<std::uint64_t>(last_serviced);
  f.stall_cycles = static_cast<std::uint64_t>(stall);
  const detail::scalesim_read_buffer* rb[2] = {&ifb, &fib};
  for (int i = 0; i < 2; ++i) {
    f.dram_start[i] = rb[i]->trace_start();
    f.dram_stop[i] = rb[i]->trace_stop();
    f.dram_accesses[i] = rb[i]->accesses();
  }
  f.dram_start[2] = ofb.trace_start();
  f.dram_stop[2] = ofb.trace_stop();
  f.dram_accesses[2] = ofb.accesses();
  return f;
}

}  // namespace mvq::inline v0::hw
