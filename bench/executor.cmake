# bench_executor: 2 threads against 1 on one thread_pool (GEMV 256 × 1152 with three kernels, k-means of 64 K points).
mvq_add_bench(bench_executor SOURCES bench_executor.cpp)
if(MVQ_BUILD_TESTS)
  add_test(NAME bench.executor.smoke COMMAND bench_executor --benchmark_min_time=0.01 --peer_time=0.01 --kmeans_iter=1)
  set_tests_properties(bench.executor.smoke PROPERTIES LABELS "bench")
endif()
