// bench_executor: what the thread pool buys. Each row runs one workload on a thread_pool of 1 or 2 threads in the
// same binary and run; times are wall clock (the threads overlap). Counter x_1thread = time with 1 thread / time
// of this row (> 1: the pool pays off). Workloads: y = Ŵx with a 256 × 1152 matrix (dense_f32, vq_byte<8>,
// mvq_byte<16, 2:4>, fp32 activations), and k-means of 65 536 points, d = 8, K = 256 (fixed iterations).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "mvq/kernel/kernel.hpp"
#include "mvq/quant/kmeans.hpp"

namespace {

using namespace mvq;
using namespace mvq::kernel;

double peer_seconds = 0.3;  // how long the 1-thread reference of each row is timed (--peer_time=)
unsigned kmeans_iter = 5;   // Lloyd iterations per k-means call (--kmeans_iter=)
constexpr std::size_t rows = 256, cols = 1152;

using mvq_bench::random_floats;
compressed_matrix random_compressed(std::uint32_t k, std::uint8_t d, nm_pattern nm) {
  return mvq_bench::random_compressed(rows, cols, k, d, nm);
}

// Seconds per call of f, timed for about `budget` seconds.
double seconds_per_call(const std::function<void()>& f, double budget) {
  f();
  std::size_t calls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double t = 0;
  do {
    f();
    ++calls;
    t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (t < budget);
  return t / static_cast<double>(calls);
}

template <class K>
void bm_gemv(benchmark::State& state, packed<K> const* w) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  const auto x = random_floats(cols, 3);
  std::vector<float> y(rows);
  thread_pool pool(threads), one(1);
  auto call = [&](thread_pool& p) {
    if (!gemv(*w, std::span<const float>(x), std::span<float>(y), p)) std::abort();
    benchmark::DoNotOptimize(y.data());
  };
  for (auto _ : state) call(pool);
  const double mine = seconds_per_call([&] { call(pool); }, peer_seconds);
  const double ref = seconds_per_call([&] { call(one); }, peer_seconds);
  state.counters["x_1thread"] = ref / mine;
  state.counters["us_1thread"] = ref * 1e6;
  state.counters["us"] = mine * 1e6;
}

void bm_kmeans(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t n = 65536, d = 8, k = 256;
  static const auto x = random_floats(n * d, 5);
  static const std::vector<float> init(x.begin(), x.begin() + k * d);
  const matrix_view<const float> pts(x.data(), n, d);
  const quant::kmeans_options o{.k = k, .max_iter = kmeans_iter, .tol = 0, .bounds = false};
  thread_pool pool(threads), one(1);
  auto call = [&](thread_pool& p) {
    auto r = quant::kmeans(pts, o, init, p);
    if (!r) std::abort();
    benchmark::DoNotOptimize(r->centroids.data());
  };
  for (auto _ : state) call(pool);
  const double mine = seconds_per_call([&] { call(pool); }, peer_seconds);
  const double ref = seconds_per_call([&] { call(one); }, peer_seconds);
  state.counters["x_1thread"] = ref / mine;
  state.counters["ms_1thread"] = ref * 1e3;
  state.counters["ms"] = mine * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--peer_time=", 12) == 0) peer_seconds = std::atof(argv[i] + 12);
    else if (std::strncmp(argv[i], "--kmeans_iter=", 14) == 0) kmeans_iter = static_cast<unsigned>(std::atoi(argv[i] + 14));
    else args.push_back(argv[i]);
  }
  static const auto wd = random_floats(rows * cols, 1);
  static const auto dense = pack_for<dense_f32>(matrix_view<const float>(wd.data(), rows, cols)).value();
  static const auto vq = pack_for<vq_byte<8>>(random_compressed(256, 8, mvq::dense).view()).value();
  static const auto mv = pack_for<mvq_byte<16, sparse_2_4>>(random_compressed(256, 16, sparse_2_4).view()).value();
  for (auto* b : {benchmark::RegisterBenchmark("gemv/256x1152/dense_f32", bm_gemv<dense_f32>, &dense),
                  benchmark::RegisterBenchmark("gemv/256x1152/vq_k256_d8_f32", bm_gemv<vq_byte<8>>, &vq),
                  benchmark::RegisterBenchmark("gemv/256x1152/mvq_k256_d16_2_4_f32", bm_gemv<mvq_byte<16, sparse_2_4>>, &mv),
                  benchmark::RegisterBenchmark("kmeans/n65536/d8/k256", bm_kmeans)})
    b->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
  int ac = static_cast<int>(args.size());
  benchmark::Initialize(&ac, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
