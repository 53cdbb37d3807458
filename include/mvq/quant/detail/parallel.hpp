#pragma once
/// @file
/// Fixed-chunk parallel loops and a seeded random generator for the quantizers. The work split never depends on
/// the thread count, so every result computed per chunk and reduced in chunk order is bit-identical for any
/// number of threads.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "mvq/version.hpp"

namespace mvq::inline v0::quant::detail {

/// Calls `fn(task)` for every task in [0, n_tasks) on up to `threads` threads (the calling thread included).
/// Tasks are handed out by an atomic counter; callers make each task write only its own outputs.
template <class Fn>
void parallel_for(std::size_t n_tasks, unsigned threads, Fn&& fn) {
  const std::size_t workers = std::min<std::size_t>(threads == 0 ? 1 : threads, n_tasks);
  if (workers <= 1) {
    for (std::size_t t = 0; t < n_tasks; ++t) fn(t);
    return;
  }
  std::atomic<std::size_t> next{0};
  auto body = [&] {
    for (std::size_t t = next.fetch_add(1, std::memory_order_relaxed); t < n_tasks;
         t = next.fetch_add(1, std::memory_order_relaxed))
      fn(t);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(body);
  body();
  for (auto& th : pool) th.join();
}

/// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): a tiny
/// generator whose output is the same on every standard library, unlike the std distributions.
struct splitmix64 {
  std::uint64_t state;

  /// Next 64 random bits.
  constexpr std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform double in [0, 1) with 53 random bits.
  constexpr double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1p-53; }
  /// Uniform integer in [0, n) (n > 0); the modulo bias is below 2^-40 for n < 2^24.
  constexpr std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
};

}  // namespace mvq::inline v0::quant::detail
