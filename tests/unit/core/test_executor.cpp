// core/executor.hpp: every index runs exactly once on serial_executor and thread_pool (many sizes, many short
// calls in a row, uneven task costs), nested and concurrent calls run serially instead of deadlocking, and idle
// pools of every size are destroyed cleanly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include "mvq/core/executor.hpp"

using namespace mvq;

static_assert(Executor<serial_executor>);
static_assert(Executor<thread_pool>);
static_assert(!Executor<int>);

namespace {
// Runs `n` tasks on `ex` and returns how often each index ran.
template <class E>
std::vector<int> hits(E& ex, std::size_t n) {
  std::vector<std::atomic<int>> h(n);
  ex.parallel_for(n, [&](std::size_t i) { h[i].fetch_add(1, std::memory_order_relaxed); });
  std::vector<int> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = h[i].load();
  return out;
}
}  // namespace

TEST_CASE("serial_executor runs every index once, in order", "[core][executor]") {
  serial_executor ex;
  std::vector<std::size_t> order;
  ex.parallel_for(5, [&](std::size_t i) { order.push_back(i); });
  CHECK(order == std::vector<std::size_t>{0, 1, 2, 3, 4});
  CHECK(ex.concurrency() == 1);
}

TEST_CASE("thread_pool runs every index exactly once", "[core][executor]") {
  for (std::size_t threads : {1u, 2u, 3u, 7u}) {
    thread_pool pool(threads);
    CHECK(pool.concurrency() == threads);
    for (std::size_t n : {0u, 1u, 2u, 3u, 7u, 64u, 1000u, 4097u}) {
      INFO("threads " << threads << " n " << n);
      CHECK(hits(pool, n) == std::vector<int>(n, 1));
    }
  }
  thread_pool automatic;  // 0: one thread per hardware thread
  CHECK(automatic.concurrency() == std::max<std::size_t>(1, std::thread::hardware_concurrency()));
}

TEST_CASE("thread_pool survives many short calls in a row and uneven tasks", "[core][executor]") {
  thread_pool pool(3);
  bool all_once = true;
  for (int call = 0; call < 20000; ++call) {
    const std::size_t n = 1 + static_cast<std::size_t>(call % 7);
    std::vector<int> h(n, 0);  // plain ints: each index is written by exactly one task
    pool.parallel_for(n, [&](std::size_t i) { ++h[i]; });
    for (int v : h) all_once = all_once && v == 1;
  }
  CHECK(all_once);
  // Uneven costs: a few long tasks among short ones; every result lands.
  std::vector<double> out(257, 0.0);
  pool.parallel_for(out.size(), [&](std::size_t i) {
    double s = 0;
    const std::size_t reps = i % 31 == 0 ? 200000 : 10;
    for (std::size_t r = 0; r < reps; ++r) s += static_cast<double>(r % 3);
    out[i] = s + static_cast<double>(i);
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t reps = i % 31 == 0 ? 200000 : 10;
    double want = 0;
    for (std::size_t r = 0; r < reps; ++r) want += static_cast<double>(r % 3);
    CHECK(out[i] == want + static_cast<double>(i));
  }
}

TEST_CASE("a nested parallel_for on the same pool runs serially on its thread", "[core][executor]") {
  thread_pool pool(2);
  std::vector<std::atomic<int>> inner(8 * 16);
  std::vector<std::thread::id> outer_thread(8), inner_thread(8 * 16);
  pool.parallel_for(8, [&](std::size_t i) {
    outer_thread[i] = std::this_thread::get_id();
    pool.parallel_for(16, [&](std::size_t j) {
      inner[i * 16 + j].fetch_add(1);
      inner_thread[i * 16 + j] = std::this_thread::get_id();
    });
  });
  for (std::size_t i = 0; i < 8; ++i)
    for (std::size_t j = 0; j < 16; ++j) {
      CHECK(inner[i * 16 + j].load() == 1);
      CHECK(inner_thread[i * 16 + j] == outer_thread[i]);
    }
  CHECK(hits(pool, 100) == std::vector<int>(100, 1));  // the pool is usable afterwards
}

TEST_CASE("calls from two threads on one pool both complete", "[core][executor]") {
  thread_pool pool(2);
  std::vector<std::atomic<int>> a(5000), b(5000);
  std::thread other([&] {
    for (int rep = 0; rep < 50; ++rep) pool.parallel_for(100, [&](std::size_t i) { a[rep * 100 + i].fetch_add(1); });
  });
  for (int rep = 0; rep < 50; ++rep) pool.parallel_for(100, [&](std::size_t i) { b[rep * 100 + i].fetch_add(1); });
  other.join();
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].load() == 1);
    CHECK(b[i].load() == 1);
  }
}

TEST_CASE("idle pools are destroyed cleanly, used or not, after sleeping or spinning", "[core][executor]") {
  for (int rep = 0; rep < 50; ++rep) {
    thread_pool unused(static_cast<std::size_t>(1 + rep % 4));
  }
  for (int rep = 0; rep < 20; ++rep) {
    thread_pool pool(3);
    CHECK(hits(pool, 10) == std::vector<int>(10, 1));  // destroyed while its workers still spin
  }
  thread_pool slept(2);
  CHECK(hits(slept, 10) == std::vector<int>(10, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // long enough for the workers to go to sleep
  CHECK(hits(slept, 10) == std::vector<int>(10, 1));        // woken by the call
}
