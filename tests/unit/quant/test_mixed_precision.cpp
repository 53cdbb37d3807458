// Mixed-precision allocation: the DP against brute force, the greedy against the DP and at hull vertices,
// the budget, the below-minimum sentence, ties, determinism, input errors, and a realistic-size instance.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "mvq/quant/mixed_precision.hpp"

using namespace mvq;
using namespace mvq::quant;

namespace {

// prefix + i, spelled so that GCC 12 does not warn (-Wrestrict) about `"literal" + std::string`.
std::string label(const char* prefix, std::size_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

struct best_choice {
  std::vector<std::size_t> choice;
  std::uint64_t bits = 0;
  double werr = 0.0;
};

// Every combination; the least weighted error, then the fewest bits, then the lexicographically smallest
// choice. Sums in layer order, as the allocator documents.
best_choice brute_force(std::vector<allocation_layer> const& layers, std::uint64_t budget) {
  best_choice best;
  bool found = false;
  std::vector<std::size_t> c(layers.size(), 0);
  for (;;) {
    std::uint64_t bits = 0;
    double werr = 0.0;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      bits += layers[l].candidates[c[l]].bits;
      werr += layers[l].importance * layers[l].candidates[c[l]].error;
    }
    if (bits <= budget) {
      // Enumeration runs in lexicographic order, so only a strictly better (error, bits) replaces the best.
      if (!found || werr < best.werr || (werr == best.werr && bits < best.bits)) best = {c, bits, werr};
      found = true;
    }
    std::size_t l = layers.size();
    while (l-- > 0) {
      if (++c[l] < layers[l].candidates.size()) break;
      c[l] = 0;
    }
    if (l == std::size_t(-1)) break;
  }
  REQUIRE(found);
  return best;
}

std::uint64_t total_weights(std::vector<allocation_layer> const& layers) {
  std::uint64_t n = 0;
  for (auto const& l : layers) n += l.weights;
  return n;
}

std::uint64_t min_bits(std::vector<allocation_layer> const& layers) {
  std::uint64_t b = 0;
  for (auto const& l : layers) {
    std::uint64_t m = UINT64_MAX;
    for (auto const& c : l.candidates) m = std::min(m, c.bits);
    b += m;
  }
  return b;
}

std::uint64_t max_bits(std::vector<allocation_layer> const& layers) {
  std::uint64_t b = 0;
  for (auto const& l : layers) {
    std::uint64_t m = 0;
    for (auto const& c : l.candidates) m = std::max(m, c.bits);
    b += m;
  }
  return b;
}

// Consistency of an allocation with its input.
void check_consistent(std::vector<allocation_layer> const& layers, allocation const& a) {
  REQUIRE(a.choice.size() == layers.size());
  std::uint64_t bits = 0;
  double err = 0.0, werr = 0.0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    REQUIRE(a.choice[l] < layers[l].candidates.size());
    auto const& c = layers[l].candidates[a.choice[l]];
    bits += c.bits;
    err += c.error;
    werr += layers[l].importance * c.error;
  }
  CHECK(a.total_bits == bits);
  CHECK(a.error == err);
  CHECK(a.weighted_error == werr);
  CHECK(a.total_weights == total_weights(layers));
  CHECK(a.bits_per_weight == double(bits) / double(a.total_weights));
  CHECK(a.total_bits <= a.budget_bits);
}

// 3–6 layers × 2–5 candidates. `exact` draws dyadic errors (k/8) and importances, so sums are exact and ties
// are common; otherwise errors are random doubles. Bits repeat often, so dominated candidates and equal-bit
// candidates appear.
std::vector<allocation_layer> small_instance(std::mt19937& rng, bool exact) {
  std::uniform_int_distribution<int> nl(3, 6), nc(2, 5), bits(0, 40), k(0, 16), w(1, 64), imp(0, 4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<allocation_layer> layers(static_cast<std::size_t>(nl(rng)));
  for (std::size_t l = 0; l < layers.size(); ++l) {
    auto& layer = layers[l];
    layer.name = label("l", l);
    layer.weights = static_cast<std::uint64_t>(w(rng));
    if (exact && imp(rng) == 0) layer.importance = 0.5 * imp(rng);
    const int count = nc(rng);
    for (int c = 0; c < count; ++c)
      layer.candidates.push_back({label("c", std::size_t(c)), static_cast<std::uint64_t>(5 * bits(rng)),
                                  exact ? k(rng) / 8.0 : u(rng)});
  }
  return layers;
}

}  // namespace

TEST_CASE("the DP equals brute force on random small instances", "[quant][mixed]") {
  std::mt19937 rng(7);
  int ties_seen = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const bool exact = trial % 2 == 0;
    auto layers = small_instance(rng, exact);
    const std::uint64_t lo = min_bits(layers), hi = max_bits(layers), n = total_weights(layers);
    std::uniform_int_distribution<std::uint64_t> pick(lo, hi + 10);
    const std::uint64_t target = trial % 7 == 0 ? lo : pick(rng);
    const double budget = double(target) / double(n);
    INFO("trial " << trial << " target " << target << " bits");
    auto dp = allocate(layers, budget, allocator::dp);
    REQUIRE(dp);
    check_consistent(layers, *dp);
    CHECK(dp->budget_bits == std::min(target, hi));  // T/Σn bits/weight allows exactly T bits
    auto ref = brute_force(layers, dp->budget_bits);
    CHECK(dp->weighted_error == ref.werr);
    CHECK(dp->total_bits == ref.bits);
    if (exact) {
      CHECK(dp->choice == ref.choice);  // the documented tie order
      ties_seen += std::count_if(layers.begin(), layers.end(), [](auto const& L) {
        for (std::size_t a = 0; a < L.candidates.size(); ++a)
          for (std::size_t b = a + 1; b < L.candidates.size(); ++b)
            if (L.candidates[a].error == L.candidates[b].error) return true;
        return false;
      }) > 0;
    }
    auto greedy = allocate(layers, budget, allocator::greedy);
    REQUIRE(greedy);
    check_consistent(layers, *greedy);
    CHECK(dp->weighted_error <= greedy->weighted_error);
  }
  CHECK(ties_seen > 100);  // the instances do exercise ties
}

TEST_CASE("greedy is optimal on convex layers when the budget ends one of its steps", "[quant][mixed]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0.05, 1.0);
  std::uniform_int_distribution<int> db(1, 30), nc(2, 5), nl(3, 6);
  for (int trial = 0; trial < 80; ++trial) {
    // Each layer: bits increasing, errors decreasing with strictly decreasing reductions per bit (strictly
    // convex), so every candidate is a hull vertex. Random real rates make cross-layer ties improbable.
    std::vector<allocation_layer> layers(static_cast<std::size_t>(nl(rng)));
    struct seg { double rate; std::uint64_t bits; };
    std::vector<seg> segs;
    std::uint64_t base = 0;
    for (auto& layer : layers) {
      layer.weights = 37;  // Σn not a power of two: T/Σn must still give exactly T bits
      std::uint64_t bits = 10u * static_cast<std::uint64_t>(db(rng));
      double err = 200.0, rate = 1.0;
      layer.candidates.push_back({"", bits, err});
      base += bits;
      const int count = nc(rng);
      for (int c = 1; c < count; ++c) {
        rate *= u(rng);
        const std::uint64_t step = static_cast<std::uint64_t>(db(rng));
        bits += step;
        err -= rate * double(step);
        layer.candidates.push_back({"", bits, err});
        segs.push_back({rate, step});
      }
      // Present the candidates in a scrambled order: the allocator must not rely on the caller's order.
      std::shuffle(layer.candidates.begin(), layer.candidates.end(), rng);
    }
    std::sort(segs.begin(), segs.end(), [](seg a, seg b) { return a.rate > b.rate; });
    std::uint64_t t = base;
    for (std::size_t k = 0; k <= segs.size(); ++k) {
      if (k > 0) t += segs[k - 1].bits;
      INFO("trial " << trial << " after " << k << " greedy steps, " << t << " bits");
      const double budget = double(t) / double(total_weights(layers));
      auto g = allocate(layers, budget, allocator::greedy);
      auto d = allocate(layers, budget, allocator::dp);
      REQUIRE(g);
      REQUIRE(d);
      CHECK(g->budget_bits == t);
      CHECK(g->total_bits == t);  // the greedy spends exactly the prefix of its steps
      auto ref = brute_force(layers, t);
      CHECK(g->weighted_error == Approx(ref.werr).epsilon(1e-12).margin(1e-12));
      CHECK(d->weighted_error == ref.werr);
      CHECK(d->weighted_error <= g->weighted_error);
    }
  }
}

TEST_CASE("the DP beats the greedy where the best rate blocks a better upgrade", "[quant][mixed]") {
  // A: 6 bits remove 6 (rate 1.0); B: 10 bits remove 9.5 (rate 0.95). With 10 bits the greedy takes A and
  // then B no longer fits (9.5 left); the optimum upgrades B alone (6 left).
  std::vector<allocation_layer> layers{
      {"a", 10, {{"a4", 0, 6.0}, {"a8", 6, 0.0}}},
      {"b", 10, {{"b4", 0, 9.5}, {"b8", 10, 0.0}}},
  };
  auto g = allocate(layers, 0.5, allocator::greedy).value();
  auto d = allocate(layers, 0.5, allocator::dp).value();
  CHECK(g.choice == std::vector<std::size_t>{1, 0});
  CHECK(g.error == 9.5);
  CHECK(d.choice == std::vector<std::size_t>{0, 1});
  CHECK(d.error == 6.0);
  CHECK(d.total_bits == 10);
  CHECK(d.bits_per_weight == 0.5);
}

TEST_CASE("the greedy walks the lower convex hull and breaks equal rates towards the lower layer", "[quant][mixed]") {
  // A's middle candidate lies above the chord from its first to its last: the hull step 0 → 20 bits removes
  // 0.5 per bit and beats B's 0.25 per bit; a greedy over the raw list would see A's 0.01 per bit first.
  std::vector<allocation_layer> hull{
      {"a", 10, {{"a2", 0, 10.0}, {"a3", 10, 9.9}, {"a4", 20, 0.0}}},
      {"b", 10, {{"b2", 0, 5.0}, {"b4", 20, 0.0}}},
  };
  auto g = allocate(hull, 1.0, allocator::greedy).value();
  CHECK(g.choice == std::vector<std::size_t>{2, 0});
  CHECK(g.error == 5.0);
  // Equal rates (0.5 per bit), room for one: the lower layer index moves.
  std::vector<allocation_layer> tie{
      {"a", 10, {{"a2", 0, 4.0}, {"a4", 8, 0.0}}},
      {"b", 10, {{"b2", 0, 2.0}, {"b4", 4, 0.0}}},
      {"c", 10, {{"c2", 0, 4.0}, {"c4", 8, 0.0}}},
  };
  CHECK(allocate(tie, 8.0 / 30.0, allocator::greedy).value().choice == std::vector<std::size_t>{1, 0, 0});
  CHECK(allocate(tie, 12.0 / 30.0, allocator::greedy).value().choice == std::vector<std::size_t>{1, 1, 0});
  // 16 bits: after a and b, c's 8 bits no longer fit (error 4); the DP upgrades a and c instead (error 2).
  CHECK(allocate(tie, 16.0 / 30.0, allocator::greedy).value().choice == std::vector<std::size_t>{1, 1, 0});
  CHECK(allocate(tie, 16.0 / 30.0, allocator::dp).value().choice == std::vector<std::size_t>{1, 0, 1});
}

TEST_CASE("a budget below the cheapest configuration is an error that states the minimum", "[quant][mixed]") {
  std::vector<allocation_layer> layers{
      {"fc1", 100, {{"k16", 226, 0.2}, {"dense", 3200, 0.0}}},
      {"fc2", 100, {{"k4", 300, 0.5}, {"k16", 200, 0.3}}},  // the cheapest is not listed first
  };
  auto r = allocate(layers, 1.5);
  REQUIRE(!r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(r.error().message ==
        "mixed precision: budget 1.50 bits/weight is below the 2.13 bits/weight of the cheapest configuration of every layer");
  CHECK(!allocate(layers, 1.5, allocator::greedy));
  CHECK(allocate(layers, 2.13).value().total_bits == 426);  // the stated minimum is enough
  CHECK(!allocate(layers, 2.1299));

  // The minimum is rounded up and printed with as many decimals as it takes to differ from the budget.
  std::vector<allocation_layer> fine{{"x", 10000, {{"", 21370, 0.0}}}};
  CHECK(allocate(fine, 2.136).error().message ==
        "mixed precision: budget 2.136 bits/weight is below the 2.137 bits/weight of the cheapest configuration of every layer");
  std::vector<allocation_layer> odd{{"x", 1000, {{"", 2134, 0.0}}}};
  CHECK(allocate(odd, 1.0).error().message ==
        "mixed precision: budget 1.00 bits/weight is below the 2.14 bits/weight of the cheapest configuration of every layer");
  CHECK(allocate(odd, 2.14));
}

TEST_CASE("a budget above the most expensive choice gives every layer its best candidate", "[quant][mixed]") {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 100; ++trial) {
    auto layers = small_instance(rng, trial % 2 == 0);
    for (auto& l : layers) l.importance = 1.0;
    for (allocator how : {allocator::dp, allocator::greedy}) {
      auto a = allocate(layers, 1e6, how).value();
      CHECK(a.budget_bits == max_bits(layers));
      for (std::size_t l = 0; l < layers.size(); ++l) {
        auto const& cs = layers[l].candidates;
        // Least error, then fewest bits, then first listed.
        std::size_t best = 0;
        for (std::size_t c = 1; c < cs.size(); ++c)
          if (cs[c].error < cs[best].error || (cs[c].error == cs[best].error && cs[c].bits < cs[best].bits)) best = c;
        INFO("trial " << trial << " " << to_string(how) << " layer " << l);
        CHECK(a.choice[l] == best);
      }
    }
  }
}

TEST_CASE("dominated candidates are ignored and a dense candidate is taken when it fits", "[quant][mixed]") {
  std::vector<allocation_layer> layers{
      {"conv", 64,
       {{"k256", 200, 0.10}, {"worse", 300, 0.10}, {"worse2", 250, 0.30}, {"dense", 2048, 0.0}, {"int8", 512, 0.01}}},
      {"fc", 64, {{"k16", 128, 0.2}, {"k256", 256, 0.05}}},
  };
  for (allocator how : {allocator::dp, allocator::greedy}) {
    INFO(to_string(how));
    auto a = allocate(layers, 768.0 / 128.0, how).value();
    CHECK(a.choice == std::vector<std::size_t>{4, 1});  // int8 + k256 = 768 bits, 0.06
    auto b = allocate(layers, 2303.0 / 128.0, how).value();
    CHECK(b.choice == std::vector<std::size_t>{4, 1});  // dense + k256 is one bit too many
    auto c = allocate(layers, 2304.0 / 128.0, how).value();
    CHECK(c.choice == std::vector<std::size_t>{3, 1});  // dense + k256 = 2304 bits, 0.05
    CHECK(c.error == 0.05);
    auto d = allocate(layers, 456.0 / 128.0, how).value();
    CHECK(d.choice[0] == 0);  // never "worse" (same error, more bits) nor "worse2"
  }
}

TEST_CASE("ties are broken by fewer bits, then by the first listed candidate", "[quant][mixed]") {
  std::vector<allocation_layer> layers{
      {"a", 8, {{"x", 16, 0.25}, {"x-again", 16, 0.25}, {"y", 24, 0.125}}},
      {"b", 8, {{"p", 16, 0.125}, {"q", 24, 0.0}}},
  };
  // 40 bits: a=y + b=p (0.25, 40 bits) ties with a=x + b=q (0.25, 40 bits); lexicographic: a=x (index 0) wins.
  auto d = allocate(layers, 40.0 / 16.0).value();
  CHECK(d.choice == std::vector<std::size_t>{0, 1});
  // 32 bits: only the cheapest of each; of the duplicates the first listed.
  CHECK(allocate(layers, 2.0).value().choice == std::vector<std::size_t>{0, 0});
  // An equal-error choice with fewer bits beats a lexicographically smaller one.
  std::vector<allocation_layer> fewer{
      {"a", 8, {{"big", 40, 0.0}, {"small", 16, 0.0}}},
  };
  CHECK(allocate(fewer, 10.0).value().choice == std::vector<std::size_t>{1});
}

TEST_CASE("allocation is deterministic", "[quant][mixed]") {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    auto layers = small_instance(rng, true);
    const double budget = double(min_bits(layers) + max_bits(layers)) / 2.0 / double(total_weights(layers));
    for (allocator how : {allocator::dp, allocator::greedy}) {
      auto a = allocate(layers, budget, how).value();
      auto b = allocate(layers, budget, how).value();
      CHECK(a.choice == b.choice);
      CHECK(a.total_bits == b.total_bits);
      CHECK(a.weighted_error == b.weighted_error);
    }
  }
}

TEST_CASE("invalid inputs are named errors", "[quant][mixed]") {
  const std::vector<allocation_layer> good{{"fc", 10, {{"k4", 20, 0.5}}}};
  auto msg = [](std::vector<allocation_layer> const& l, double b = 8.0) {
    auto r = allocate(l, b);
    REQUIRE(!r);
    return r.error().what();
  };
  CHECK(msg({}) == "invalid argument: mixed precision: no layers to allocate");
  auto none = good;
  none[0].candidates.clear();
  CHECK(msg(none) == "invalid argument: mixed precision: layer 0 ('fc') has no candidates");
  auto zero = good;
  zero.push_back({"", 0, {{"k4", 1, 0.1}}});
  CHECK(msg(zero) == "invalid argument: mixed precision: layer 1 has zero weights");
  auto nan = good;
  nan[0].candidates.push_back({"k16", 40, std::nan("")});
  CHECK(msg(nan) == "invalid argument: mixed precision: layer 0 ('fc'), candidate 1 ('k16'): the error is not finite");
  auto inf = good;
  inf[0].candidates[0].error = INFINITY;
  CHECK(msg(inf).find("candidate 0 ('k4'): the error is not finite") != std::string::npos);
  auto neg = good;
  neg[0].candidates[0].error = -0.25;
  CHECK(msg(neg).find("candidate 0 ('k4'): the error -0.250000 is negative") != std::string::npos);
  auto imp = good;
  imp[0].importance = -1.0;
  CHECK(msg(imp).find("layer 0 ('fc') has importance") != std::string::npos);
  imp[0].importance = NAN;
  CHECK(msg(imp).find("layer 0 ('fc') has importance") != std::string::npos);
  CHECK(msg(good, -1.0).find("the budget must be a finite number") != std::string::npos);
  CHECK(msg(good, NAN).find("the budget must be a finite number") != std::string::npos);
  auto overflow = good;
  overflow[0].candidates[0].error = 1e300;
  overflow[0].importance = 1e10;
  CHECK(msg(overflow) == "invalid argument: mixed precision: layer 0 ('fc'): the summed importance × error overflows a double");
  auto huge = good;
  huge[0].candidates[0].bits = std::uint64_t{1} << 62;
  CHECK(allocate(huge, 8.0).error().code == errc::too_large);
  // A frontier larger than the limit is refused, never approximated.
  std::mt19937 rng(9);
  auto many = small_instance(rng, false);
  auto capped = allocate(many, double(max_bits(many)) / double(total_weights(many)), allocator::dp,
                         allocate_options{.max_states = 2});
  REQUIRE(!capped);
  CHECK(capped.error().code == errc::too_large);
}

TEST_CASE("60 layers of 12 realistic candidates", "[quant][mixed]") {
  // Layers of 10^4..10^6 weights; candidates from ~1.5 to 32 bits/weight, errors falling roughly like
  // 4^-bits with noise (not convex), plus int8 and dense.
  std::mt19937 rng(13);
  std::uniform_int_distribution<std::uint64_t> nw(10'000, 300'000);
  std::uniform_real_distribution<double> noise(0.6, 1.6), scale(0.2, 5.0);
  std::vector<allocation_layer> layers(60);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    auto& layer = layers[l];
    layer.name = label("layer", l);
    layer.weights = nw(rng);
    const double s = scale(rng);
    for (int c = 0; c < 10; ++c) {
      const double bpw = 1.5 + 0.35 * c + 0.1 * noise(rng);
      layer.candidates.push_back({label("vq", std::size_t(c)), static_cast<std::uint64_t>(bpw * double(layer.weights)),
                                  s * std::pow(4.0, -bpw) * noise(rng)});
    }
    layer.candidates.push_back({"int8", 8 * layer.weights, s * 1e-5 * noise(rng)});
    layer.candidates.push_back({"dense", 32 * layer.weights, 0.0});
  }
  int dp_better = 0;
  for (double budget : {1.8, 2.5, 3.0, 4.0, 6.0, 12.0}) {
    INFO("budget " << budget);
    auto d = allocate(layers, budget, allocator::dp);
    auto g = allocate(layers, budget, allocator::greedy);
    REQUIRE(d);
    REQUIRE(g);
    check_consistent(layers, *d);
    check_consistent(layers, *g);
    CHECK(d->bits_per_weight <= budget);
    CHECK(d->weighted_error <= g->weighted_error);
    dp_better += d->weighted_error < g->weighted_error;
  }
  CHECK(dp_better > 0);  // the instance is not one the greedy already solves
}
