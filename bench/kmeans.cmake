# k-means against FAISS (Debian libfaiss-dev, static; its exported target `faiss` links OpenMP and BLAS).
find_package(OpenMP REQUIRED)
find_package(faiss REQUIRED)
mvq_add_bench(bench_kmeans SOURCES bench_kmeans.cpp LIBS faiss OpenMP::OpenMP_CXX)
if(MVQ_BUILD_TESTS)
  # Seconds-long smoke run: 2^14 synthetic vectors, d = 8, FAISS, plain and masked k-means.
  add_test(NAME bench.kmeans.smoke COMMAND bench_kmeans --benchmark_filter=smoke/d:8/ --benchmark_min_time=0.01)
  set_tests_properties(bench.kmeans.smoke PROPERTIES LABELS "bench")
endif()
