#pragma once
/// @file
/// Mixed precision: one configuration per layer under a bit budget pooled over the layers.
///
/// ## Problem
/// Layer ℓ has n_ℓ weights and candidates c (a method × K / bit width, chosen by the caller), each with its
/// stored bits b_ℓc (indices, masks, codebooks, scales: everything) and its score r_ℓc, the relative output
/// error ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖² computed by the caller from the calibration Gram matrix H. Given a budget of B
/// bits/weight, choose one candidate per layer so that Σ_ℓ b_ℓ ≤ B·Σ_ℓ n_ℓ and Σ_ℓ w_ℓ·r_ℓ is smallest
/// (w_ℓ ≥ 0 an optional per-layer importance, 1 by default). An int8 or dense (fp32, 32 bits/weight, error 0)
/// version of a layer is an ordinary candidate. This is the multiple-choice knapsack problem (MCKP).
///
/// The budget in bits is ⌊B·Σn⌋, the product taken in long double; a product within a relative 2⁻⁴⁰ of an
/// integer is taken as that integer, so a budget written as T/Σn bits/weight allows exactly T bits.
///
/// ## Preparation (both allocators)
/// A candidate is dominated when another one of the same layer has no more bits and no more (weighted)
/// error; dominated candidates are ignored, and of exact duplicates (same bits, same error) the one listed
/// first is kept. What remains of a layer is its Pareto list: bits strictly increasing, error strictly
/// decreasing.
///
/// ## allocator::dp: exact
/// A dynamic program over layers on Pareto frontiers (Nemhauser–Ullmann). The frontier after layers 0..ℓ is
/// the set of non-dominated (total bits, total error) pairs of all partial choices; the frontier of ℓ+1 is
/// the Minkowski sum of it with layer ℓ+1's Pareto list, pruned back to its non-dominated pairs. A partial
/// choice dropped by dominance can never be completed into something better than the partial choice that
/// dominates it (the same completion gives no more bits and no more error), so the best point of the last
/// frontier that fits the budget is optimal. Two further prunings keep the frontier small and do not change
/// the answer:
///  - feasibility: a pair whose bits plus the cheapest bits of the remaining layers exceed the budget is
///    dropped;
///  - bound: the greedy solution below gives an upper bound U on the optimum; the LP relaxation of the
///    remaining layers (their lower convex hulls, filled by decreasing error reduction per bit, the last
///    segment fractionally; Sinha & Zoltners, "The multiple-choice knapsack problem", Oper. Res. 1979) gives
///    a lower bound L on what they can still reach with the bits left. A pair with error e and e + L > U
///    cannot lie on an optimal solution and is dropped (with a relative tolerance of 10⁻⁹ against rounding,
///    so it never drops an optimal pair).
/// The result is optimal: no choice within the budget has a smaller summed (weighted) error, up to the
/// rounding of the double sums, which are taken in layer order. Each frontier is computed by a K-way merge of
/// the previous frontier shifted by each candidate, O(F·K·log K) for F pairs and K candidates. In the worst
/// case F grows with the product of the candidate counts; on realistic layers (errors falling roughly
/// geometrically with the bits) the bound pruning keeps F to tens or hundreds of pairs. The pairs stored over
/// all layers are limited to `allocate_options::max_states`; past it `allocate` returns an `errc::too_large`
/// error, never an approximate answer.
///
/// ## allocator::greedy: baseline
/// Every layer starts at its cheapest candidate. The upgrades of a layer are the segments of the lower convex
/// hull of its Pareto list, in order; each is worth its error reduction per bit. The greedy repeatedly takes
/// the best upgrade over all layers; an upgrade that does not fit freezes its layer (every later vertex of
/// that layer needs at least those bits more, and the bits left only shrink), and the others continue until
/// none can move. Before any layer froze, the greedy's choice is the solution of the LP relaxation at the bits
/// it has spent, so a budget spent exactly by its first steps makes it optimal; otherwise the DP can beat it.
///
/// ## Ties (deterministic)
/// DP: among choices of equal summed error the one with fewer total bits wins; then the choice vector that is
/// lexicographically smallest in the caller's candidate order (layer 0 first). "Equal" is equality of the
/// double sums; with exactly representable errors (e.g. multiples of 2⁻⁸) this is exact equality.
/// Greedy: equal reductions per bit go to the lower layer index. Both see only the Pareto lists, so of two
/// duplicate candidates both pick the one listed first.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "mvq/core/error.hpp"

namespace mvq::inline v0::quant {

/// One way to store a layer: its label (opaque to the allocator), stored bits and relative output error.
struct allocation_candidate {
  std::string label;       ///< e.g. "mvq k256 d8 2:4" or "dense"; only for the caller
  std::uint64_t bits = 0;  ///< every stored bit: indices, masks, codebooks, scales
  double error = 0.0;      ///< relative output error ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖², finite and ≥ 0
};

/// A compressed layer and its candidates.
struct allocation_layer {
  std::string name;                               ///< used in error messages
  std::uint64_t weights = 0;                      ///< n_ℓ, at least 1
  std::vector<allocation_candidate> candidates;   ///< at least one
  double importance = 1.0;                        ///< w_ℓ: the objective is Σ w_ℓ·r_ℓ; finite and ≥ 0
};

/// Which solver `allocate` runs.
enum class allocator : std::uint8_t {
  dp,      ///< exact: Pareto-frontier DP with dominance, feasibility and LP-bound pruning
  greedy,  ///< convex-hull greedy by error reduction per bit (the baseline)
};

/// "dp" or "greedy".
[[nodiscard]] constexpr const char* to_string(allocator a) noexcept { return a == allocator::dp ? "dp" : "greedy"; }

/// Limits of `allocate`.
struct allocate_options {
  std::size_t max_states = std::size_t{1} << 22;  ///< (bits, error) pairs the DP may keep over all layers (< 2^32)
};

/// The chosen configuration.
struct allocation {
  std::vector<std::size_t> choice;  ///< per layer, the index into its `candidates`
  std::uint64_t total_bits = 0;     ///< Σ chosen bits
  std::uint64_t budget_bits = 0;    ///< the budget in bits, ⌊B·Σn⌋ (see the file comment), at most the bits of
                                    ///< the most expensive choice
  std::uint64_t total_weights = 0;  ///< Σ n_ℓ
  double bits_per_weight = 0.0;     ///< total_bits / total_weights
  double error = 0.0;               ///< Σ r_ℓ of the chosen candidates, in layer order
  double weighted_error = 0.0;      ///< Σ w_ℓ·r_ℓ, the minimised objective (equals `error` when all w_ℓ = 1)
};

namespace detail {

// One kept candidate of a layer.
struct mp_option {
  std::uint64_t bits;
  double werr;        // importance · error
  std::size_t index;  // into the caller's candidates
};

// A segment of a layer's lower convex hull: the upgrade from one hull vertex to the next.
struct mp_segment {
  double bits, gain, rate;  // Δbits > 0, error reduction ≥ 0, gain / bits
};

inline std::string mp_layer_name(std::span<const allocation_layer> layers, std::size_t l) {
  std::string s = "layer " + std::to_string(l);
  if (!layers[l].name.empty()) s += " ('" + layers[l].name + "')";
  return s;
}

// v rounded to p decimals.
inline std::string mp_fixed(double v, int p) {
  char buf[400];
  std::snprintf(buf, sizeof buf, "%.*f", p, v);
  return buf;
}

// num/den rounded up to p decimals, by long division (exact for any 64-bit operands with den < 2^60).
inline std::string mp_ceil_decimal(std::uint64_t num, std::uint64_t den, int p) {
  std::uint64_t whole = num / den, rem = num % den;
  std::string digits;
  for (int i = 0; i < p; ++i) {
    rem *= 10;
    digits += static_cast<char>('0' + rem / den);
    rem %= den;
  }
  if (rem != 0) {  // round up, carrying through the digits into the whole part
    int i = p - 1;
    for (; i >= 0 && digits[static_cast<std::size_t>(i)] == '9'; --i) digits[static_cast<std::size_t>(i)] = '0';
    if (i >= 0) ++digits[static_cast<std::size_t>(i)];
    else ++whole;
  }
  return std::to_string(whole) + (p > 0 ? "." + digits : "");
}

// The Pareto list of one layer: bits strictly increasing, weighted error strictly decreasing.
inline std::vector<mp_option> mp_pareto(allocation_layer const& layer) {
  std::vector<mp_option> all;
  all.reserve(layer.candidates.size());
  for (std::size_t i = 0; i < layer.candidates.size(); ++i)
    all.push_back({layer.candidates[i].bits, layer.importance * layer.candidates[i].error, i});
  std::sort(all.begin(), all.end(), [](mp_option const& a, mp_option const& b) {
    if (a.bits != b.bits) return a.bits < b.bits;
    if (a.werr != b.werr) return a.werr < b.werr;
    return a.index < b.index;
  });
  std::vector<mp_option> kept;
  // Sorted by bits, then error, then index: an option is kept when it has strictly less error than every
  // cheaper-or-equal one, which also drops later options with the same bits.
  for (auto const& o : all)
    if (kept.empty() || o.werr < kept.back().werr) kept.push_back(o);
  return kept;
}

// The lower convex hull of a Pareto list (indices into it, starting at 0 and ending at the last, i.e. the
// least-error option). Collinear vertices are kept: smaller steps fit a budget more easily.
inline std::vector<std::size_t> mp_hull(std::vector<mp_option> const& p) {
  std::vector<std::size_t> h;
  for (std::size_t i = 0; i < p.size(); ++i) {
    while (h.size() >= 2) {
      auto const& a = p[h[h.size() - 2]];
      auto const& b = p[h.back()];
      auto const& c = p[i];
      // b lies strictly above the chord a–c: drop it. Compare slopes by cross-multiplication in long double.
      const long double abx = static_cast<long double>(b.bits - a.bits), acx = static_cast<long double>(c.bits - a.bits);
      const long double aby = static_cast<long double>(b.werr) - a.werr, acy = static_cast<long double>(c.werr) - a.werr;
      if (aby * acx > acy * abx) h.pop_back();
      else break;
    }
    h.push_back(i);
  }
  return h;
}

// Greedy over the hull segments; returns the index into each layer's Pareto list.
inline std::vector<std::size_t> mp_greedy(std::vector<std::vector<mp_option>> const& opts,
                                          std::vector<std::vector<std::size_t>> const& hulls,
                                          std::uint64_t budget) {
  const std::size_t n = opts.size();
  std::vector<std::size_t> at(n, 0);  // position on the hull
  std::vector<bool> frozen(n, false);
  std::uint64_t used = 0;
  for (std::size_t l = 0; l < n; ++l) used += opts[l][0].bits;
  for (;;) {
    std::size_t best = n;
    double best_rate = 0.0;
    for (std::size_t l = 0; l < n; ++l) {
      if (frozen[l] || at[l] + 1 >= hulls[l].size()) continue;
      auto const& a = opts[l][hulls[l][at[l]]];
      auto const& b = opts[l][hulls[l][at[l] + 1]];
      const double rate = (a.werr - b.werr) / static_cast<double>(b.bits - a.bits);
      if (best == n || rate > best_rate) best = l, best_rate = rate;
    }
    if (best == n) break;
    const std::uint64_t step = opts[best][hulls[best][at[best] + 1]].bits - opts[best][hulls[best][at[best]]].bits;
    if (step > budget - used) {
      frozen[best] = true;
      continue;
    }
    used += step;
    ++at[best];
  }
  std::vector<std::size_t> pick(n);
  for (std::size_t l = 0; l < n; ++l) pick[l] = hulls[l][at[l]];
  return pick;
}

// The LP relaxation of layers l..L−1 as a function of the bits they may use: concave piecewise linear.
struct mp_lp_bound {
  std::uint64_t base_bits = 0;  // Σ cheapest bits
  double base_err = 0.0;        // Σ error of the cheapest options
  std::vector<double> cum_bits, cum_gain, rate;  // cum_* before segment k; rate of segment k

  // Lower bound on the least error the layers reach within `bits` (≥ base_bits).
  [[nodiscard]] double operator()(std::uint64_t bits) const {
    const double extra = static_cast<double>(bits - base_bits);
    // k = number of whole segments that fit.
    const auto it = std::upper_bound(cum_bits.begin(), cum_bits.end(), extra);
    const std::size_t k = static_cast<std::size_t>(it - cum_bits.begin()) - 1;  // cum_bits[0] = 0 ≤ extra
    double gain = cum_gain[k];
    if (k < rate.size()) gain += (extra - cum_bits[k]) * rate[k];
    return base_err - gain;
  }
};

inline std::vector<mp_lp_bound> mp_suffix_bounds(std::vector<std::vector<mp_option>> const& opts,
                                                 std::vector<std::vector<std::size_t>> const& hulls) {
  const std::size_t n = opts.size();
  std::vector<mp_lp_bound> out(n + 1);
  std::vector<mp_segment> segs;
  for (std::size_t l = n; l-- > 0;) {
    auto& b = out[l];
    b.base_bits = out[l + 1].base_bits + opts[l][0].bits;
    b.base_err = out[l + 1].base_err + opts[l][0].werr;
    for (std::size_t k = 0; k + 1 < hulls[l].size(); ++k) {
      auto const& x = opts[l][hulls[l][k]];
      auto const& y = opts[l][hulls[l][k + 1]];
      const double db = static_cast<double>(y.bits - x.bits), dg = x.werr - y.werr;
      segs.push_back({db, dg, dg / db});
    }
    // Within a layer the rates decrease along the hull, so sorting by rate keeps every layer's order; equal
    // rates give the same LP value in any order.
    std::vector<mp_segment> sorted = segs;
    std::stable_sort(sorted.begin(), sorted.end(), [](mp_segment const& p, mp_segment const& q) { return p.rate > q.rate; });
    b.cum_bits.assign(1, 0.0);
    b.cum_gain.assign(1, 0.0);
    for (auto const& s : sorted) {
      b.cum_bits.push_back(b.cum_bits.back() + s.bits);
      b.cum_gain.push_back(b.cum_gain.back() + s.gain);
      b.rate.push_back(s.rate);
    }
  }
  return out;
}

// One pair of a frontier.
struct mp_state {
  std::uint64_t bits;
  double werr;
  std::uint64_t order;   // lexicographic position of the choice: rank of the parent's prefix, then the candidate
  std::uint32_t parent;  // index into the previous frontier
  std::uint32_t option;  // index into the layer's Pareto list
};

// Strict weak order of the merged frontier: bits, then error, then lexicographic order of the choice.
inline bool mp_before(mp_state const& a, mp_state const& b) noexcept {
  if (a.bits != b.bits) return a.bits < b.bits;
  if (a.werr != b.werr) return a.werr < b.werr;
  return a.order < b.order;
}

// The exact DP; returns the index into each layer's Pareto list.
inline result<std::vector<std::size_t>> mp_dp(std::vector<std::vector<mp_option>> const& opts,
                                              std::vector<mp_lp_bound> const& bounds, std::uint64_t budget,
                                              double upper, std::size_t max_states) {
  const std::size_t n = opts.size();
  // Per layer, the kept pairs' back-pointers; `cur` holds the pairs of the latest frontier.
  std::vector<std::vector<std::uint32_t>> parent(n), option(n);
  std::vector<mp_state> cur{{0, 0.0, 0, 0, 0}}, next;
  std::vector<std::uint64_t> rank{0};  // lexicographic rank of each pair of `cur`
  std::size_t stored = 0;
  struct head {
    mp_state state;
    std::size_t s;  // position in `cur` of the stream of one option
  };
  std::vector<head> heap;
  const auto later = [](head const& a, head const& b) { return mp_before(b.state, a.state); };
  for (std::size_t l = 0; l < n; ++l) {
    auto const& bound = bounds[l + 1];
    auto const& layer = opts[l];
    std::uint64_t width = 0;  // candidate indices are below it
    for (auto const& o : layer) width = std::max<std::uint64_t>(width, o.index + 1);
    // Pair s of `cur` plus option o, from s on: the first that passes both prunings, or false at the end of
    // the stream. `cur` is sorted by bits, so each option's stream is sorted by (bits, error, order) too.
    const auto advance = [&](std::size_t o, std::size_t s, head& h) {
      for (; s < cur.size(); ++s) {
        const std::uint64_t bits = cur[s].bits + layer[o].bits;
        if (bits > budget || budget - bits < bound.base_bits) return false;
        const double werr = cur[s].werr + layer[o].werr;
        if (l + 1 < n) {
          const double tol = 1e-9 * (std::fabs(upper) + std::fabs(werr) + std::fabs(bound.base_err));
          if (werr + bound(budget - bits) > upper + tol) continue;
        }
        h = {{bits, werr, rank[s] * width + layer[o].index, static_cast<std::uint32_t>(s),
              static_cast<std::uint32_t>(o)},
             s};
        return true;
      }
      return false;
    };
    // K-way merge of the option streams, keeping only non-dominated pairs (errors strictly decreasing).
    heap.clear();
    for (std::size_t o = 0; o < layer.size(); ++o)
      if (head h{}; advance(o, 0, h)) heap.push_back(h);
    std::make_heap(heap.begin(), heap.end(), later);
    next.clear();
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      head h = heap.back();
      heap.pop_back();
      if (next.empty() || (h.state.werr < next.back().werr && h.state.bits != next.back().bits)) {
        if (stored + next.size() >= max_states)
          return fail(errc::too_large, "mixed precision: the exact frontier needs more than " + std::to_string(max_states) +
                                           " (bits, error) pairs; raise allocate_options::max_states or use allocator::greedy");
        next.push_back(h.state);
      }
      if (advance(h.state.option, h.s + 1, h)) {
        heap.push_back(h);
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    // The greedy solution's prefix, or a pair dominating it, always survives the pruning.
    MVQ_ASSERT(!next.empty(), "the exact frontier is never empty");
    if (next.empty()) return fail(errc::invalid_argument, "mixed precision: the exact frontier became empty");
    const std::size_t kept = next.size();
    stored += kept;
    // Ranks of the new prefixes in lexicographic order (`order` values are distinct: distinct parents have
    // distinct ranks, and one parent with distinct candidates gives distinct orders).
    std::vector<std::uint32_t> by_order(kept);
    std::iota(by_order.begin(), by_order.end(), 0u);
    std::sort(by_order.begin(), by_order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return next[a].order < next[b].order; });
    rank.assign(kept, 0);
    for (std::size_t i = 0; i < kept; ++i) rank[by_order[i]] = i;
    parent[l].resize(kept);
    option[l].resize(kept);
    for (std::size_t i = 0; i < kept; ++i) parent[l][i] = next[i].parent, option[l][i] = next[i].option;
    std::swap(cur, next);
  }
  // The last pair has the least error (errors strictly decrease along the frontier).
  std::vector<std::size_t> pick(n);
  std::uint32_t at = static_cast<std::uint32_t>(cur.size() - 1);
  for (std::size_t l = n; l-- > 0;) {
    pick[l] = option[l][at];
    at = parent[l][at];
  }
  return pick;
}

}  // namespace detail

/// Chooses one candidate per layer so that the total bits stay within `budget_bits_per_weight` · Σ n_ℓ and
/// the summed (importance-weighted) relative output error is smallest (`allocator::dp`, exact) or small
/// (`allocator::greedy`, the convex-hull baseline). See the file comment for the algorithms and ties.
[[nodiscard]] inline result<allocation> allocate(std::span<const allocation_layer> layers, double budget_bits_per_weight,
                                                 allocator how = allocator::dp, allocate_options options = {}) {
  using namespace std::string_literals;
  if (layers.empty()) return fail(errc::invalid_argument, "mixed precision: no layers to allocate");
  if (!std::isfinite(budget_bits_per_weight) || budget_bits_per_weight < 0)
    return fail(errc::invalid_argument, "mixed precision: the budget must be a finite number of bits/weight ≥ 0, got " +
                                            std::to_string(budget_bits_per_weight));
  constexpr std::uint64_t limit = std::uint64_t{1} << 60;  // sums below stay exact in uint64 with room to spare
  std::uint64_t weights = 0, max_bits = 0;
  double worst_sum = 0.0;  // Σ of the largest weighted errors: every sum the allocators form is below it
  for (std::size_t l = 0; l < layers.size(); ++l) {
    auto const& layer = layers[l];
    const std::string who = "mixed precision: " + detail::mp_layer_name(layers, l);
    if (layer.weights == 0) return fail(errc::invalid_argument, who + " has zero weights");
    if (layer.candidates.empty()) return fail(errc::invalid_argument, who + " has no candidates");
    if (!std::isfinite(layer.importance) || layer.importance < 0)
      return fail(errc::invalid_argument, who + " has importance " + std::to_string(layer.importance) +
                                              "; it must be finite and ≥ 0");
    std::uint64_t most = 0;
    for (std::size_t c = 0; c < layer.candidates.size(); ++c) {
      auto const& cand = layer.candidates[c];
      if (!std::isfinite(cand.error))
        return fail(errc::invalid_argument, who + ", candidate " + std::to_string(c) + " ('" + cand.label +
                                                "'): the error is not finite");
      if (cand.error < 0)
        return fail(errc::invalid_argument, who + ", candidate " + std::to_string(c) + " ('" + cand.label +
                                                "'): the error " + std::to_string(cand.error) + " is negative");
      if (cand.bits > limit)
        return fail(errc::too_large, who + ", candidate " + std::to_string(c) + " ('" + cand.label + "'): " +
                                         std::to_string(cand.bits) + " bits is more than 2^60");
      most = std::max(most, cand.bits);
    }
    double worst = 0.0;
    for (auto const& cand : layer.candidates) worst = std::max(worst, cand.error);
    worst_sum += worst * layer.importance;
    if (!std::isfinite(worst_sum))
      return fail(errc::invalid_argument, who + ": the summed importance × error overflows a double");
    if (layer.weights > limit - weights) return fail(errc::too_large, "mixed precision: more than 2^60 weights in all");
    if (most > limit - max_bits) return fail(errc::too_large, "mixed precision: the candidates hold more than 2^60 bits in all");
    weights += layer.weights;
    max_bits += most;
  }

  // The budget in bits: ⌊B·Σn⌋, snapped to a nearby integer (see the file comment).
  std::uint64_t budget = max_bits;
  {
    const long double x = static_cast<long double>(budget_bits_per_weight) * static_cast<long double>(weights);
    if (x < static_cast<long double>(max_bits)) {
      const long double r = std::nearbyint(x);
      budget = static_cast<std::uint64_t>(std::fabs(x - r) <= x * 0x1p-40L ? r : std::floor(x));
    }
  }

  std::vector<std::vector<detail::mp_option>> opts(layers.size());
  std::vector<std::vector<std::size_t>> hulls(layers.size());
  std::uint64_t min_bits = 0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    opts[l] = detail::mp_pareto(layers[l]);
    hulls[l] = detail::mp_hull(opts[l]);
    min_bits += opts[l][0].bits;
  }
  if (min_bits > budget) {
    // Enough decimals that the two numbers differ; the minimum rounded up, so it is a budget that works.
    int p = 2;
    std::string have = detail::mp_fixed(budget_bits_per_weight, p), need = detail::mp_ceil_decimal(min_bits, weights, p);
    while (have == need && p < 18) {
      ++p;
      have = detail::mp_fixed(budget_bits_per_weight, p);
      need = detail::mp_ceil_decimal(min_bits, weights, p);
    }
    return fail(errc::invalid_argument, "mixed precision: budget " + have + " bits/weight is below the " + need +
                                            " bits/weight of the cheapest configuration of every layer");
  }

  std::vector<std::size_t> pick = detail::mp_greedy(opts, hulls, budget);
  if (how == allocator::dp) {
    double upper = 0.0;
    for (std::size_t l = 0; l < layers.size(); ++l) upper += opts[l][pick[l]].werr;
    auto bounds = detail::mp_suffix_bounds(opts, hulls);
    const std::size_t cap = std::min<std::size_t>(options.max_states, std::numeric_limits<std::uint32_t>::max());
    auto exact = detail::mp_dp(opts, bounds, budget, upper, cap);
    if (!exact) return tl::unexpected(exact.error());
    pick = std::move(*exact);
  }

  allocation out;
  out.budget_bits = budget;
  out.total_weights = weights;
  out.choice.resize(layers.size());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    auto const& o = opts[l][pick[l]];
    out.choice[l] = o.index;
    out.total_bits += o.bits;
    out.error += layers[l].candidates[o.index].error;
    out.weighted_error += o.werr;
  }
  out.bits_per_weight = static_cast<double>(out.total_bits) / static_cast<double>(weights);
  MVQ_ASSERT(out.total_bits <= budget, "the allocation fits the budget");
  return out;
}

}  // namespace mvq::inline v0::quant
