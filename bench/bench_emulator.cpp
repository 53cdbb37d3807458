// The emulator's speed: the analytic model on whole networks, the cycle-stepped model's PE-update rate, and
// ResNet-18 on a 32×32 WS array (SCALE-Sim's topologies/conv_nets/Resnet18.csv shapes, no padding) cycle-stepped,
// the configuration SCALE-Sim v2 takes about 13.5 minutes for. Results: bench/emulator.md.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "mvq/hw/analytic.hpp"
#include "mvq/hw/cycle_sim.hpp"
#include "mvq/hw/topologies.hpp"

namespace {

namespace hw = mvq::hw;

// ResNet-18 as SCALE-Sim lists it (Resnet18.csv): name, H, W, R, S, C, N, stride, in its convention.
const std::vector<hw::layer> scalesim_resnet18 = {
    hw::layer::conv(224, 224, 7, 7, 3, 64, 2),   hw::layer::conv(56, 56, 3, 3, 64, 64, 1),
    hw::layer::conv(56, 56, 3, 3, 64, 64, 1),    hw::layer::conv(56, 56, 3, 3, 64, 64, 1),
    hw::layer::conv(56, 56, 3, 3, 64, 64, 1),    hw::layer::conv(56, 56, 3, 3, 64, 128, 2),
    hw::layer::conv(28, 28, 3, 3, 128, 128, 1),  hw::layer::conv(56, 56, 1, 1, 64, 128, 2),
    hw::layer::conv(28, 28, 3, 3, 128, 128, 1),  hw::layer::conv(28, 28, 3, 3, 128, 128, 1),
    hw::layer::conv(28, 28, 3, 3, 128, 256, 2),  hw::layer::conv(14, 14, 3, 3, 256, 256, 1),
    hw::layer::conv(28, 28, 1, 1, 128, 256, 2),  hw::layer::conv(14, 14, 3, 3, 256, 256, 1),
    hw::layer::conv(14, 14, 3, 3, 256, 256, 1),  hw::layer::conv(14, 14, 3, 3, 256, 512, 2),
    hw::layer::conv(7, 7, 3, 3, 512, 512, 1),    hw::layer::conv(14, 14, 1, 1, 256, 512, 2),
    hw::layer::conv(7, 7, 3, 3, 512, 512, 1),    hw::layer::conv(7, 7, 3, 3, 512, 512, 1),
    hw::layer::conv(1, 1, 1, 1, 512, 1000, 1)};

constexpr hw::array_config ws32 = hw::scalesim_32x32_ws;

void analytic_resnet50(benchmark::State& state) {
  const auto* t = hw::find_builtin_topology("resnet50");
  const auto layers = hw::to_named_layers(t->rows);
  const hw::array_config cfgs[] = {ws32, hw::scalesim_32x32_os, hw::scalesim_32x32_is, hw::ews_64x64};
  const hw::array_config c = cfgs[state.range(0)];
  std::uint64_t cycles = 0;
  for (auto _ : state) {
    cycles = 0;
    for (auto const& l : layers) cycles += hw::analyze(c, l.shape).total_cycles();
    benchmark::DoNotOptimize(cycles);
  }
  state.counters["layers"] = static_cast<double>(layers.size());
  state.counters["network_cycles"] = static_cast<double>(cycles);
  state.SetLabel(std::string(hw::to_string(c.flow)));
}
BENCHMARK(analytic_resnet50)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);

void analytic_resnet18_scalesim(benchmark::State& state) {
  std::uint64_t cycles = 0;
  for (auto _ : state) {
    cycles = 0;
    for (auto const& l : scalesim_resnet18) cycles += hw::analyze(ws32, l).total_cycles();
    benchmark::DoNotOptimize(cycles);
  }
  state.counters["network_cycles"] = static_cast<double>(cycles);
}
BENCHMARK(analytic_resnet18_scalesim)->Unit(benchmark::kMicrosecond);

// One layer, cycle-stepped: PE updates per second (one thread).
void cycle_stepped_layer(benchmark::State& state, hw::array_config c, hw::layer l) {
  std::uint64_t updates = 0, cycles = 0;
  for (auto _ : state) {
    auto s = hw::simulate_layer(c, l, 1);
    if (!s) {
      state.SkipWithError(s.error().message.c_str());
      return;
    }
    updates += s->pe_updates;
    cycles = s->cycles;
  }
  state.counters["pe_updates_per_s"] = benchmark::Counter(static_cast<double>(updates), benchmark::Counter::kIsRate);
  state.counters["cycles"] = static_cast<double>(cycles);
  state.counters["analytic_cycles"] = static_cast<double>(hw::analyze(c, l).cycles);
}
BENCHMARK_CAPTURE(cycle_stepped_layer, small, hw::array_config{.rows = 8, .cols = 8}, hw::layer::gemm(64, 32, 48))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cycle_stepped_layer, ws32_conv3x3_28x28x128, ws32, hw::layer::conv(28, 28, 3, 3, 128, 128, 1))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cycle_stepped_layer, os32_conv3x3_28x28x128, hw::scalesim_32x32_os,
                  hw::layer::conv(28, 28, 3, 3, 128, 128, 1))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cycle_stepped_layer, is32_conv3x3_28x28x128, hw::scalesim_32x32_is,
                  hw::layer::conv(28, 28, 3, 3, 128, 128, 1))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cycle_stepped_layer, ews64_conv3x3_14x14x256, hw::ews_64x64, hw::layer::conv(14, 14, 3, 3, 256, 256, 1))
    ->Unit(benchmark::kMillisecond);

// The whole of ResNet-18 on SCALE-Sim's 32×32 WS array, cycle-stepped (SCALE-Sim v2: ~13.5 min here).
void cycle_stepped_resnet18_ws32(benchmark::State& state) {
  std::uint64_t updates = 0, cycles = 0;
  double seconds = 0;
  for (auto _ : state) {
    cycles = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto const& l : scalesim_resnet18) {
      auto s = hw::simulate_layer(ws32, l, 1);
      if (!s) {
        state.SkipWithError(s.error().message.c_str());
        return;
      }
      updates += s->pe_updates;
      cycles += s->cycles;
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::uint64_t analytic = 0;
  for (auto const& l : scalesim_resnet18) analytic += hw::analyze(ws32, l).cycles;
  state.counters["pe_updates_per_s"] = benchmark::Counter(static_cast<double>(updates), benchmark::Counter::kIsRate);
  state.counters["network_cycles"] = static_cast<double>(cycles);
  state.counters["analytic_cycles"] = static_cast<double>(analytic);
  // SCALE-Sim v2 on the same configuration: about 13.5 min = 810 s on this machine class. Wall-clock ratio.
  state.counters["wall_s"] = seconds / static_cast<double>(state.iterations());
  state.counters["speedup_vs_scalesim"] = 810.0 / (seconds / static_cast<double>(state.iterations()));
}
BENCHMARK(cycle_stepped_resnet18_ws32)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
