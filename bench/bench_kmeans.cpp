// k-means speed and quality against FAISS (faiss::Clustering, IndexFlatL2), one thread, same data, same
// initial centroids, 20 Lloyd iterations, FAISS training on every point. Times are process CPU seconds (both
// sides are single-threaded), which stay meaningful when other jobs share the cores; wall seconds are reported
// as wall_s_per_iter.
//
// Data: "models" = every d-wide sub-vector of every float tensor of the shared pretrained models whose row
// length (elements / shape[0]) is a multiple of d; "laplace" = 2^20 Laplace(0, 1) vectors; "smoke" = 2^14 of
// them (for the ctest smoke run). Counters: s_per_iter (wall seconds / 20), mse (final centroids, every point
// assigned to its nearest centroid, error summed in double; the same evaluation for both), and on the mvq rows
// x_faiss (FAISS seconds per iteration / ours) and mse_vs_faiss (ours / FAISS's). The masked rows
// (BM_kmeans_mvq_masked, 2:4 masks from pruning each sub-vector by |x|) report x_plain = masked / plain time.

#include <benchmark/benchmark.h>
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <time.h>

#include "mvq/io/safetensors.hpp"
#include "mvq/quant/kmeans.hpp"
#include "mvq/quant/nearest.hpp"
#include "mvq/quant/nm_prune.hpp"

// OpenBLAS (FAISS's BLAS here) starts its own threads; pin it to one when that symbol is present.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace {

constexpr std::uint32_t k_codewords = 256;
constexpr int k_iterations = 20;

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::filesystem::path models_dir() {
  if (const char* e = std::getenv("MVQ_MODELS_DIR"); e && *e) return e;
  return "../shared/models";
}

struct dataset {
  std::string key;
  unsigned d = 0;
  std::size_t n = 0;
  std::vector<float> x;
  std::vector<float> init;
  std::vector<std::uint32_t> masks;  // 2:4 kept positions when d % 4 == 0
};

std::vector<float> load_models(unsigned d) {
  std::vector<float> out;
  for (const char* f : {"ppocr_det.safetensors", "ppocr_cls.safetensors", "faceapi_resnet34.safetensors"}) {
    auto file = mvq::io::safetensors_file::open(models_dir() / f);
    if (!file) continue;
    for (auto const& t : file->tensors()) {
      if (t.shape.empty() || t.elements() == 0) continue;
      auto ty = t.type;
      using mvq::io::dtype;
      if (ty != dtype::f32 && ty != dtype::f16 && ty != dtype::bf16 && ty != dtype::f64) continue;
      const std::uint64_t row = t.elements() / t.shape[0];
      if (row % d != 0) continue;
      auto v = file->read_f32(t.name);
      if (v) out.insert(out.end(), v->begin(), v->end());
    }
  }
  return out;
}

std::vector<float> laplace(std::size_t count, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = (rng() & 1) ? e(rng) : -e(rng);
  return v;
}

// One dataset at a time (the 2^20 × 16 set is 64 MiB); benchmarks are registered grouped by dataset.
dataset const& get(std::string const& name, unsigned d) {
  static dataset cache;
  const std::string key = name + "/" + std::to_string(d);
  if (cache.key == key) return cache;
  cache = dataset{};
  cache.key = key;
  cache.d = d;
  if (name == "models") cache.x = load_models(d);
  else cache.x = laplace((name == "smoke" ? std::size_t{1} << 14 : std::size_t{1} << 20) * d, 1234 + d);
  cache.n = cache.x.size() / d;
  mvq::matrix_view<const float> pts(cache.x.data(), cache.n, d);
  cache.init = mvq::quant::detail::kmeans_pp_seed<mvq::default_simd_arch>(cache.x.data(), std::vector<std::uint32_t>(cache.n, ~0u).data(),
                                                  cache.n, d, k_codewords, 42);
  if (d % 4 == 0) {
    auto m = mvq::quant::nm_prune(pts, mvq::nm_pattern{2, 4}).value();
    cache.masks.resize(cache.n);
    for (std::size_t i = 0; i < cache.n; ++i) cache.masks[i] = m.subvector(i, 0, d);
  }
  return cache;
}

// Final MSE per element of `centroids` on the data (masked when masks are given).
double evaluate(dataset const& ds, std::vector<float> const& centroids, bool masked) {
  mvq::quant::soa_codebook cb(centroids, k_codewords, ds.d, masked);
  std::vector<std::uint32_t> a(ds.n);
  if (masked) {
    const unsigned q = ds.d / 2;
    std::vector<std::uint8_t> pos(ds.n * q);
    for (std::size_t i = 0; i < ds.n; ++i) {
      unsigned s = 0;
      for (unsigned t = 0; t < ds.d; ++t)
        if ((ds.masks[i] >> t) & 1u) pos[i * q + s++] = static_cast<std::uint8_t>(t);
    }
    mvq::quant::nearest_codewords_masked(ds.x.data(), pos.data(), q, ds.n, cb, a.data());
  } else {
    mvq::quant::nearest_codewords(ds.x.data(), ds.n, cb, a.data());
  }
  double err = 0;
  for (std::size_t i = 0; i < ds.n; ++i)
    err += mvq::quant::detail::masked_dist2<mvq::default_simd_arch>(ds.x.data() + i * ds.d, centroids.data() + std::size_t{a[i]} * ds.d, ds.d,
                                            masked ? ds.masks[i] : ~0u);
  return err / static_cast<double>(ds.n * ds.d);
}

struct record {
  double s_per_iter = 0, wall = 0, mse = 0;
};
std::map<std::string, record> faiss_results, plain_results;

void bm_faiss(benchmark::State& state, std::string name, unsigned d) {
  auto const& ds = get(name, d);
  omp_set_num_threads(1);
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  std::vector<float> centroids;
  double secs = 0, wall = 0;
  for (auto _ : state) {
    faiss::ClusteringParameters cp;
    cp.niter = k_iterations;
    cp.nredo = 1;
    cp.verbose = false;
    cp.max_points_per_centroid = 1 << 24;  // train on every point (the default subsamples to 256·K)
    cp.min_points_per_centroid = 1;
    faiss::Clustering clus(static_cast<int>(d), static_cast<int>(k_codewords), cp);
    clus.centroids = ds.init;  // FAISS keeps provided centroids as the initial ones
    faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(d));
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    clus.train(static_cast<faiss::Index::idx_t>(ds.n), ds.x.data(), index);
    secs = cpu_seconds() - c0;
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    centroids = clus.centroids;
  }
  record r{secs / k_iterations, wall / k_iterations, evaluate(ds, centroids, false)};
  faiss_results[ds.key] = r;
  state.counters["s_per_iter"] = r.s_per_iter;
  state.counters["wall_s_per_iter"] = r.wall;
  state.counters["mse"] = r.mse;
  state.counters["n"] = static_cast<double>(ds.n);
}

void bm_mvq(benchmark::State& state, std::string name, unsigned d, bool masked) {
  auto const& ds = get(name, d);
  mvq::matrix_view<const float> pts(ds.x.data(), ds.n, d);
  mvq::quant::kmeans_options o{.k = k_codewords, .max_iter = k_iterations, .tol = 0, .seed = 0, .threads = 1};
  std::vector<float> centroids;
  double secs = 0, wall = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    auto r = masked ? mvq::quant::masked_kmeans(pts, ds.masks, o, ds.init) : mvq::quant::kmeans(pts, o, ds.init);
    secs = cpu_seconds() - c0;
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      return;
    }
    centroids = std::move(r->centroids);
  }
  record r{secs / k_iterations, wall / k_iterations, evaluate(ds, centroids, masked)};
  state.counters["s_per_iter"] = r.s_per_iter;
  state.counters["wall_s_per_iter"] = r.wall;
  state.counters["mse"] = r.mse;
  state.counters["n"] = static_cast<double>(ds.n);
  if (!masked) {
    plain_results[ds.key] = r;
    if (auto it = faiss_results.find(ds.key); it != faiss_results.end()) {
      state.counters["x_faiss"] = it->second.s_per_iter / r.s_per_iter;
      state.counters["mse_vs_faiss"] = r.mse / it->second.mse;
    }
  } else if (auto it = plain_results.find(ds.key); it != plain_results.end()) {
    state.counters["x_plain"] = r.s_per_iter / it->second.s_per_iter;
  }
}

void register_all() {
  std::vector<std::string> sets = {"smoke", "laplace"};
  if (std::filesystem::exists(models_dir() / "ppocr_det.safetensors")) sets.push_back("models");
  else std::fprintf(stderr, "bench_kmeans: no models under %s (set MVQ_MODELS_DIR); skipping the models data\n",
                    models_dir().string().c_str());
  for (auto const& s : sets)
    for (unsigned d = 1; d <= mvq::quant::max_kmeans_dim; ++d) {
      // The models hold fewer than 33 K sub-vectors for d = 5, 7, 10, 11, 13, 14, 15 (few row lengths are
      // multiples of those), too few to time 256-codeword k-means meaningfully; they are skipped.
      if (s == "models" && d != 1 && d != 2 && d != 3 && d != 4 && d != 6 && d != 8 && d != 9 && d != 12 && d != 16)
        continue;
      const std::string args = "/" + s + "/d:" + std::to_string(d) + "/K:256";
      benchmark::RegisterBenchmark(("BM_kmeans_faiss" + args).c_str(), bm_faiss, s, d)
          ->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
      benchmark::RegisterBenchmark(("BM_kmeans_mvq" + args).c_str(), bm_mvq, s, d, false)
          ->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
      if (d % 4 == 0)
        benchmark::RegisterBenchmark(("BM_kmeans_mvq_masked" + args + "/nm:2:4").c_str(), bm_mvq, s, d, true)
            ->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
    }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
