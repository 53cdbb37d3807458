#pragma once
/// @file
/// Executors: how a kernel's independent tasks (blocks of output rows) run. The default is serial; a small
/// fixed-size thread pool is provided. A kernel never creates threads itself.

#include <algorithm>
#include <atomic>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mvq::inline v0::kernel {

/// An executor runs `f(i)` for every i in [0, n), possibly concurrently, and returns when all calls have returned.
template <class E>
concept Executor = requires(E& e, std::size_t n, std::function<void(std::size_t)> const& f) {
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

/// A fixed set of worker threads plus the calling thread; tasks are claimed from a shared atomic counter, so
/// uneven task costs balance themselves. Not re-entrant: one `parallel_for` at a time per pool.
class thread_pool {
public:
  /// Starts `threads − 1` workers (the caller is the last one); 0 means `std::thread::hardware_concurrency()`.
  explicit thread_pool(std::size_t threads = 0) {
    if (threads == 0) threads = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  thread_pool(thread_pool const&) = delete;
  thread_pool& operator=(thread_pool const&) = delete;
  ~thread_pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  /// Threads that run tasks, the caller included.
  [[nodiscard]] std::size_t concurrency() const noexcept { return workers_.size() + 1; }

  /// Runs f(0), …, f(n − 1) on the pool and the calling thread; returns when all have finished.
  template <class F>
  void parallel_for(std::size_t n, F&& f) {
    if (n == 0) return;
    if (workers_.empty() || n == 1) {
      for (std::size_t i = 0; i < n; ++i) f(i);
      return;
    }
    std::function<void(std::size_t)> task = [&f](std::size_t i) { f(i); };
    {
      std::lock_guard lock(mutex_);
      task_ = &task;
      count_ = n;
      next_.store(0);
      busy_ = workers_.size();
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
    task_ = nullptr;
  }

private:
  void drain() {
    for (std::size_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) (*task_)(i);
  }
  void work() {
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      drain();
      {
        std::lock_guard lock(mutex_);
        --busy_;
      }
      done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::function<void(std::size_t)>* task_ = nullptr;
  std::size_t count_ = 0, busy_ = 0, generation_ = 0;
  std::atomic<std::size_t> next_{0};
  bool stop_ = false;
};

}  // namespace mvq::inline v0::kernel
