# bench_emulator: the systolic-array emulator's analytic and cycle-stepped models (results in bench/emulator.md).
mvq_add_bench(bench_emulator SOURCES bench_emulator.cpp)
if(MVQ_BUILD_TESTS)
  # Smoke run: the analytic benchmarks and one small cycle-stepped layer, briefly.
  add_test(NAME bench.emulator.smoke
           COMMAND bench_emulator --benchmark_filter=analytic|cycle_stepped_layer/small --benchmark_min_time=0.01)
endif()
