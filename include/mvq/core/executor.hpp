#pragma once
/// @file
/// Executors: how a library loop's independent tasks (blocks of output rows of a kernel, chunks of points of
/// k-means) run. `serial_executor` runs them in order on the calling thread; `thread_pool` runs them on a fixed
/// set of worker threads plus the calling thread. Library code never creates threads itself: it takes an
/// executor, so a program builds one pool and reuses it for every layer and every iteration.
///
/// Tasks must not throw. The library builds with -fno-exceptions; in a program that uses exceptions, a task that
/// throws ends the program (`std::terminate`), because the pool calls tasks through a `noexcept` trampoline.

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "mvq/version.hpp"

namespace mvq::inline v0 {

namespace detail {
/// A task type the `Executor` concept probes with.
struct executor_probe_task {
  void operator()(std::size_t) const noexcept {}
};

/// One round of a spin-wait: the x86 `pause` hint (lets the sibling hyper-thread run, saves power).
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace detail

/// An executor runs `f(i)` for every i in [0, n), possibly concurrently, and returns when all calls have
/// returned; `concurrency()` is how many threads may run tasks at once (work splitting reads it; results of the
/// library never depend on it).
template <class E>
concept Executor = requires(E& e, std::size_t n, detail::executor_probe_task const& f) {
  { e.parallel_for(n, f) };
  { e.concurrency() } -> std::convertible_to<std::size_t>;
};

/// Runs every task in order on the calling thread.
struct serial_executor {
  /// Calls f(0), …, f(n − 1).
  template <class F>
  void parallel_for(std::size_t n, F&& f) const {
    for (std::size_t i = 0; i < n; ++i) f(i);
  }
  /// Always 1.
  [[nodiscard]] static constexpr std::size_t concurrency() noexcept { return 1; }
};

/// A fixed set of worker threads plus the calling thread.
///
/// One `parallel_for` costs no allocation and no lock: the caller publishes the task (a pointer to the callable
/// and a type-erased trampoline), bumps a generation counter and wakes sleeping workers only if there are any;
/// every thread claims task indices from one atomic counter (uneven task costs balance themselves), and the
/// caller waits until every worker has left the generation. Waiting spins for `spin` rounds (a constructor
/// argument), then sleeps on `std::atomic::wait`.
///
/// Not re-entrant: while a `parallel_for` is running on a pool, any other call on the same pool (from inside a
/// task, or from another thread) does not wait and does not deadlock: it runs its own tasks serially on its
/// calling thread. Tasks must not throw (see the file comment). The destructor must not run concurrently with a
/// `parallel_for` (destroying an idle pool wakes and joins its workers).
class thread_pool {
public:
  /// Busy-wait rounds (each one pause instruction) a thread spends watching for work or for completion before it
  /// sleeps on the atomic (a futex on Linux). Short calls in a row (GEMV after GEMV, Lloyd iteration after
  /// iteration) then never pay a wake-up system call; an idle pool sleeps after a few microseconds, so it costs
  /// no CPU time between layers. A value, not a macro, so two translation units cannot disagree on it.
  static constexpr std::uint32_t default_spin = 2048;

  /// Starts `threads − 1` workers (the caller is the last thread); 0 means `std::thread::hardware_concurrency()`.
  /// `spin`: busy-wait rounds before sleeping (`default_spin`).
  explicit thread_pool(std::size_t threads = 0, std::uint32_t spin = default_spin) : spin_(spin) {
    if (threads == 0) threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    workers_.reserve(threads - 1);
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  thread_pool(thread_pool const&) = delete;
  thread_pool& operator=(thread_pool const&) = delete;
  ~thread_pool() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);  // release: workers that see it also see stop_
    generation_.notify_all();
    for (auto& t : workers_) t.join();
  }

  /// Threads that run tasks, the caller included.
  [[nodiscard]] std::size_t concurrency() const noexcept { return workers_.size() + 1; }

  /// Runs f(0), …, f(n − 1) on the pool and the calling thread; returns when all have finished. `f` must be
  /// callable concurrently from several threads with distinct indices.
  template <class F>
  void parallel_for(std::size_t n, F&& f) {
    if (n == 0) return;
    if (workers_.empty() || n == 1 || busy_.exchange(true, std::memory_order_acquire)) {
      for (std::size_t i = 0; i < n; ++i) f(i);  // nothing to share, or a nested / concurrent call
      return;
    }
    using fn = std::remove_reference_t<F>;
    ctx_ = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
    invoke_ = [](void* c, std::size_t i) noexcept { (*static_cast<fn*>(c))(i); };
    count_ = n;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(static_cast<std::uint32_t>(workers_.size()), std::memory_order_relaxed);
    // seq_cst pairs with the workers' seq_cst `sleepers_` increment and re-check (a Dekker handshake): either
    // a worker sees the new generation, or this thread sees it sleeping and wakes it.
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();
    drain();
    // Wait until every worker has left this generation (after that, none touches ctx_/invoke_/count_).
    std::uint32_t left = pending_.load(std::memory_order_acquire);
    for (unsigned s = 0; left != 0 && s < spin_; ++s) {
      detail::spin_pause();
      left = pending_.load(std::memory_order_acquire);
    }
    if (left != 0) {
      caller_waiting_.store(true, std::memory_order_seq_cst);
      while ((left = pending_.load(std::memory_order_seq_cst)) != 0) pending_.wait(left, std::memory_order_seq_cst);
      caller_waiting_.store(false, std::memory_order_relaxed);
    }
    busy_.store(false, std::memory_order_release);
  }

private:
  void drain() noexcept {
    const std::size_t n = count_;
    for (std::size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next_.fetch_add(1, std::memory_order_relaxed))
      invoke_(ctx_, i);
  }

  void work() noexcept {
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t g = generation_.load(std::memory_order_acquire);
      for (unsigned s = 0; g == seen && s < spin_; ++s) {
        detail::spin_pause();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while ((g = generation_.load(std::memory_order_seq_cst)) == seen) generation_.wait(seen, std::memory_order_seq_cst);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      seen = g;
      if (stop_.load(std::memory_order_relaxed)) return;
      drain();
      // The last worker out wakes the caller if it went to sleep (Dekker handshake with caller_waiting_).
      if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 && caller_waiting_.load(std::memory_order_seq_cst))
        pending_.notify_one();
    }
  }

  std::uint32_t spin_ = default_spin;
  std::vector<std::thread> workers_;
  // Written by the caller before the generation bump, read by workers after they observe it.
  void* ctx_ = nullptr;
  void (*invoke_)(void*, std::size_t) noexcept = nullptr;
  std::size_t count_ = 0;
  alignas(64) std::atomic<std::uint32_t> generation_{0};  // 32 bits: a plain futex word
  std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<std::size_t> next_{0};
  alignas(64) std::atomic<std::uint32_t> pending_{0};
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> busy_{false};
};

}  // namespace mvq::inline v0
