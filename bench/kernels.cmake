# bench_kernels: the compressed-weight kernels against OpenBLAS (cblas_sgemv/sgemm, one thread) and Eigen 3.4.
# Debian bookworm: libopenblas-dev (pkg-config module "openblas", the pthread build) and libeigen3-dev.
find_package(Eigen3 3.4 QUIET NO_MODULE)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(MVQ_OPENBLAS QUIET IMPORTED_TARGET openblas)
endif()
if(TARGET Eigen3::Eigen AND TARGET PkgConfig::MVQ_OPENBLAS)
  mvq_add_bench(bench_kernels SOURCES bench_kernels.cpp LIBS Eigen3::Eigen PkgConfig::MVQ_OPENBLAS)
  # GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics when inlining Eigen with -march=native.
  target_compile_options(bench_kernels PRIVATE -Wno-maybe-uninitialized)
  if(MVQ_BUILD_TESTS)
    # Smoke run: the 1024 × 1024 warm cases, briefly (seconds); checks that every kernel and peer runs.
    add_test(NAME bench.kernels.smoke
             COMMAND bench_kernels --benchmark_filter=/1024/.*/warm --benchmark_min_time=0.01 --peer_time=0.01)
  endif()
else()
  message(STATUS "bench_kernels skipped: needs Eigen3 (libeigen3-dev) and OpenBLAS (libopenblas-dev, pkg-config)")
endif()
