// bench_kernels: GEMV/GEMM on compressed weights against OpenBLAS (one thread) and Eigen, with a STREAM-like read
// benchmark as the memory roofline. Results and the command line: bench/kernels.md.
//
// Every benchmark is <subject>/<n>/b<batch>/<regime>: an n × n weight matrix, `batch` activation rows, and either
// one matrix in cache ("warm") or enough distinct copies to stream at least 4 × the 32 MiB L3 from DRAM per cycle
// through them ("streamed", how a model's layers arrive). All rates use the thread's CPU time (the machine is
// shared; wall time would count other processes' time slices). Counters:
//   Gweights/s  n² / time per call (matrix weights consumed per second)
//   GOPS        2 · n² · batch / time
//   GB/s        packed weight bytes / time
//   roofline    GB/s over the read bandwidth a STREAM-like sum reaches on the same bytes and copies
//   x_blas      OpenBLAS time / our time for the same shape, batch and regime (cblas_sgemv for batch 1,
//               cblas_sgemm for batch 64), both measured in this binary and run
//   x_int8      our dense int8 time / our time (same shape, batch, regime)

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <Eigen/Dense>

#include <ctime>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "bench_data.hpp"
#include "mvq/kernel/kernel.hpp"

namespace {

using namespace mvq;
using namespace mvq::kernel;

constexpr std::size_t l3_bytes = std::size_t{32} << 20;  // this machine's L3 (lscpu)
constexpr std::size_t streamed_bytes = 4 * l3_bytes;
double peer_seconds = 0.3;  // time spent measuring each peer / roofline (--peer_time=)

enum class regime { warm, streamed };
const char* to_string(regime r) { return r == regime::warm ? "warm" : "streamed"; }

std::size_t copies_for(regime r, std::size_t bytes) {
  return r == regime::warm ? 1 : std::max<std::size_t>(1, (streamed_bytes + bytes - 1) / bytes);
}

// One benchmark subject: `copies` distinct weight matrices; call(i) runs one GEMV/GEMM on copy i.
struct subject {
  virtual ~subject() = default;
  virtual void call(std::size_t i) = 0;
  std::size_t bytes = 0;   // weight bytes one call reads
  std::size_t copies = 1;
};

using mvq_bench::random_floats;
// A random n × n compressed matrix.
compressed_matrix random_compressed(std::size_t n, std::uint32_t k, std::uint32_t d, nm_pattern nm) {
  return mvq_bench::random_compressed(n, n, k, d, nm);
}

// CPU time of the calling thread: the machine is shared, and wall time would count other processes' slices.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double seconds_per_call(subject& s, double min_seconds) {
  for (std::size_t i = 0; i < s.copies; ++i) s.call(i);  // touch every copy once
  std::size_t calls = 0;
  const double t0 = thread_seconds();
  double el = 0;
  do {
    s.call(calls % s.copies);
    ++calls;
    el = thread_seconds() - t0;
  } while (el < min_seconds || calls < s.copies);
  return el / double(calls);
}

// ---- subjects ------------------------------------------------------------------------------------------------

struct openblas_subject : subject {
  std::size_t n, batch;
  std::vector<std::vector<float>> w;
  std::vector<float> x, y;
  openblas_subject(std::size_t n_, std::size_t b, regime r) : n(n_), batch(b) {
    bytes = n * n * 4;
    copies = copies_for(r, bytes);
    auto base = random_floats(n * n, 1);
    w.assign(copies, base);
    x = random_floats(b * n, 2);
    y.resize(b * n);
  }
  void call(std::size_t i) override {
    if (batch == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(n), int(n), 1.0f, w[i].data(), int(n), x.data(), 1, 0.0f, y.data(), 1);
    else  // Y (B × n) = X (B × n) · Wᵀ
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(batch), int(n), int(n), 1.0f, x.data(), int(n),
                  w[i].data(), int(n), 0.0f, y.data(), int(n));
    benchmark::DoNotOptimize(y.data());
  }
};

struct eigen_subject : subject {
  using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::size_t n, batch;
  std::vector<mat> w;
  mat x, y;
  eigen_subject(std::size_t n_, std::size_t b, regime r) : n(n_), batch(b) {
    bytes = n * n * 4;
    copies = copies_for(r, bytes);
    auto base = random_floats(n * n, 1);
    w.assign(copies, Eigen::Map<mat>(base.data(), Eigen::Index(n), Eigen::Index(n)));
    auto xv = random_floats(b * n, 2);
    x = Eigen::Map<mat>(xv.data(), Eigen::Index(b), Eigen::Index(n));
    y.resize(Eigen::Index(b), Eigen::Index(n));
  }
  void call(std::size_t i) override {
    y.noalias() = x * w[i].transpose();
    benchmark::DoNotOptimize(y.data());
  }
};

// Our kernels. `Int8`: quantize the activations (inside the timed call) and run the int8 path.
template <class K, bool Int8>
struct mvq_subject : subject {
  std::size_t n, batch;
  std::vector<packed<K>> w;
  std::vector<float> x, y;
  template <class Make>
  mvq_subject(std::size_t n_, std::size_t b, regime r, Make&& make) : n(n_), batch(b) {
    packed<K> p = make(n);
    bytes = weight_bytes(p);
    copies = copies_for(r, bytes);
    w.assign(copies, p);
    x = random_floats(b * n, 2);
    y.resize(b * n);
  }
  // what one call streams: indices/codes/values + masks (codebooks stay in L1)
  static std::size_t weight_bytes(packed<K> const& p) {
    if constexpr (requires { p.bytes_i8(); })  // nm_sparse: fp32 or int8 values + offsets
      return Int8 ? p.bytes_i8() : p.bytes();
    else if constexpr (requires { p.bytes(); })
      return p.bytes();
    else if constexpr (std::is_same_v<K, dense_f32>)
      return p.rows() * p.cols() * 4;
    else
      return p.rows() * p.cols();
  }
  void call(std::size_t i) override {
    matrix_view<const float> xv(x.data(), batch, n);
    matrix_view<float> yv(y.data(), batch, n);
    if constexpr (Int8) {
      auto q = quantize_activations(xv);
      auto r = gemm(w[i], q->view(), yv);
      benchmark::DoNotOptimize(r);
    } else {
      auto r = gemm(w[i], xv, yv);
      benchmark::DoNotOptimize(r);
    }
    benchmark::DoNotOptimize(y.data());
  }
};

// STREAM-like read: sum `bytes` bytes of copy i as 4 concurrent streams (the quarters of the buffer, read
// side by side, as a GEMV reads several rows at once), 4 independent 256-bit accumulators.
struct read_subject : subject {
  std::vector<mvq::aligned_buffer<float>> buf;
  read_subject(std::size_t bytes_, std::size_t copies_) {
    bytes = bytes_ / 512 * 512;
    copies = copies_;
    for (std::size_t i = 0; i < copies; ++i) {
      buf.emplace_back(bytes / 4);
      std::memset(buf.back().data(), 1, bytes);
    }
  }
  void call(std::size_t i) override {
    using batch = xsimd::batch<float, default_arch>;
    constexpr std::size_t W = batch::size;
    batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
    const std::size_t q = bytes / 16;  // floats per quarter
    const float* p = buf[i].data();
    for (std::size_t j = 0; j + W <= q; j += W) {
      a0 += batch::load_aligned(p + j);
      a1 += batch::load_aligned(p + q + j);
      a2 += batch::load_aligned(p + 2 * q + j);
      a3 += batch::load_aligned(p + 3 * q + j);
    }
    float s = xsimd::hadd((a0 + a1) + (a2 + a3));
    benchmark::DoNotOptimize(s);
  }
};

// ---- cached peer and roofline measurements -------------------------------------------------------------------

double blas_seconds(std::size_t n, std::size_t batch, regime r) {
  static std::map<std::tuple<std::size_t, std::size_t, regime>, double> cache;
  auto key = std::tuple(n, batch, r);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  openblas_subject s(n, batch, r);
  return cache[key] = seconds_per_call(s, peer_seconds);
}

double read_gbps(std::size_t bytes, std::size_t copies) {
  static std::map<std::pair<std::size_t, std::size_t>, double> cache;
  auto key = std::pair(bytes, copies);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  read_subject s(bytes, copies);
  return cache[key] = double(s.bytes) / seconds_per_call(s, peer_seconds) * 1e-9;
}

double int8_seconds(std::size_t n, std::size_t batch, regime r);

// ---- registration --------------------------------------------------------------------------------------------

using factory = std::function<std::unique_ptr<subject>(std::size_t n, std::size_t batch, regime r)>;

void run(benchmark::State& state, std::string const& name, factory const& make, std::size_t n, std::size_t batch,
         regime r, bool is_read) {
  static std::unique_ptr<subject> current;  // one subject alive at a time (streamed sets are large)
  static std::string current_name;
  if (current_name != name) {
    current.reset();
    current = make(n, batch, r);
    current_name = name;
    for (std::size_t i = 0; i < current->copies; ++i) current->call(i);
  }
  subject& s = *current;
  std::size_t i = 0;
  const double t0 = thread_seconds();
  for (auto _ : state) {
    s.call(i);
    if (++i == s.copies) i = 0;
  }
  const double t = (thread_seconds() - t0) / double(std::max<benchmark::IterationCount>(1, state.iterations()));
  const double gbps = double(s.bytes) / t * 1e-9;
  state.counters["Gweights/s"] = double(n) * double(n) / t * 1e-9;
  state.counters["GOPS"] = 2.0 * double(n) * double(n) * double(batch) / t * 1e-9;
  state.counters["GB/s"] = gbps;
  state.counters["copies"] = double(s.copies);
  if (!is_read) {
    const std::size_t bytes = s.bytes, copies = s.copies;
    current.reset();  // free the set before the peers allocate theirs
    current_name.clear();
    state.counters["roofline"] = gbps / read_gbps(bytes, copies);
    state.counters["x_blas"] = blas_seconds(n, batch, r) / t;
    state.counters["x_int8"] = int8_seconds(n, batch, r) / t;
  }
}

template <class K, bool Int8>
factory kernel_factory() {
  return [](std::size_t n, std::size_t b, regime r) -> std::unique_ptr<subject> {
    return std::make_unique<mvq_subject<K, Int8>>(n, b, r, [](std::size_t m) -> packed<K> {
      if constexpr (std::is_same_v<K, dense_f32> || std::is_same_v<K, dense_i8>) {
        auto w = random_floats(m * m, 1);
        return pack_for<K>(matrix_view<const float>(w.data(), m, m)).value();
      } else if constexpr (requires { K::traits::config; }) {
        constexpr kernel_config c = K::traits::config;
        if constexpr (K::traits::family == index_family::dense) {  // nm_sparse: a pruned dense matrix
          auto cm = random_compressed(m, 256, c.nm.m, c.nm);
          return pack_for<K>(cm.view()).value();
        } else {
          auto cm = random_compressed(m, K::traits::max_k, c.vq.subvector_dim, c.nm);
          return pack_for<K>(cm.view()).value();
        }
      }
    });
  };
}

double int8_seconds(std::size_t n, std::size_t batch, regime r) {
  static std::map<std::tuple<std::size_t, std::size_t, regime>, double> cache;
  auto key = std::tuple(n, batch, r);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto s = kernel_factory<dense_i8, true>()(n, batch, r);
  return cache[key] = seconds_per_call(*s, peer_seconds);
}

struct entry {
  std::string name;
  factory make;
  bool batched;  // also run batch 64
};

void register_all() {
  std::vector<entry> entries = {
      {"openblas", [](std::size_t n, std::size_t b, regime r) { return std::unique_ptr<subject>(new openblas_subject(n, b, r)); }, true},
      {"eigen", [](std::size_t n, std::size_t b, regime r) { return std::unique_ptr<subject>(new eigen_subject(n, b, r)); }, true},
      {"dense_f32", kernel_factory<dense_f32, false>(), true},
      {"dense_i8", kernel_factory<dense_i8, true>(), true},
      {"vq_k256_d4_i8", kernel_factory<vq_byte<4>, true>(), false},
      {"vq_k256_d8_i8", kernel_factory<vq_byte<8>, true>(), true},
      {"vq_k256_d16_i8", kernel_factory<vq_byte<16>, true>(), false},
      {"vq_k256_d8_f32", kernel_factory<vq_byte<8>, false>(), true},
      {"lut_k16_d4_u8", kernel_factory<vq_nibble<4, lut_variant::u8>, false>(), false},
      {"lut_k16_d4_exact", kernel_factory<vq_nibble<4, lut_variant::exact>, true>(), false},
      {"lut_k16_d2_u8", kernel_factory<vq_nibble<2, lut_variant::u8>, false>(), false},
      {"sparse_2_4_f32", kernel_factory<nm_sparse<sparse_2_4>, false>(), false},
      {"sparse_2_4_i8", kernel_factory<nm_sparse<sparse_2_4>, true>(), false},
      {"sparse_1_4_f32", kernel_factory<nm_sparse<sparse_1_4>, false>(), false},
      {"sparse_2_8_f32", kernel_factory<nm_sparse<sparse_2_8>, false>(), false},
      {"mvq_k256_d16_2_4_i8", kernel_factory<mvq_byte<16, sparse_2_4>, true>(), false},
      {"mvq_k256_d16_2_4_f32", kernel_factory<mvq_byte<16, sparse_2_4>, false>(), false},
  };
  for (std::size_t n : {std::size_t{4096}, std::size_t{1024}})
    for (std::size_t b : {std::size_t{1}, std::size_t{64}})
      for (regime r : {regime::streamed, regime::warm}) {
        for (auto const& e : entries) {
          if (b > 1 && !e.batched) continue;
          const std::string name = e.name + "/" + std::to_string(n) + "/b" + std::to_string(b) + "/" + to_string(r);
          benchmark::RegisterBenchmark(name.c_str(), [name, make = e.make, n, b, r](benchmark::State& st) {
            run(st, name, make, n, b, r, false);
          })->Unit(benchmark::kMicrosecond);
        }
      }
  // the roofline itself, at the working sets of fp32 dense (64 MiB / 4 MiB per matrix) and of a 2 MiB matrix
  for (std::size_t bytes : {std::size_t{64} << 20, std::size_t{4} << 20, std::size_t{2} << 20, std::size_t{1} << 20})
    for (regime r : {regime::streamed, regime::warm}) {
      const std::string name = "read/" + std::to_string(bytes >> 20) + "MiB/b1/" + to_string(r);
      benchmark::RegisterBenchmark(name.c_str(), [name, bytes, r](benchmark::State& st) {
        run(st, name, [bytes](std::size_t, std::size_t, regime rr) -> std::unique_ptr<subject> {
              return std::make_unique<read_subject>(bytes, copies_for(rr, bytes));
            }, 0, 1, r, true);
        st.counters.erase("Gweights/s");
        st.counters.erase("GOPS");
      })->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
  openblas_set_num_threads(1);
  Eigen::setNbThreads(1);
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--peer_time=", 12) == 0)
      peer_seconds = std::atof(argv[i] + 12);
    else
      args.push_back(argv[i]);
  }
  int n = int(args.size());
  register_all();
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::AddCustomContext("kernel_arch", default_arch::name());
  benchmark::AddCustomContext("openblas", openblas_get_config());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
