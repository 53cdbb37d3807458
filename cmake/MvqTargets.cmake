# Helpers for the project's own executables (tests, benchmarks, examples). The INTERFACE target never gets
# warnings or -march flags: those are the consumer's choice.

# Warnings for project code; -Werror when MVQ_WARNINGS_AS_ERRORS (the dev preset).
function(mvq_project_options target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow)
    if(MVQ_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
  target_link_libraries(${target} PRIVATE mvq::mvq)
endfunction()

# Instruction-set flags for a variant: "generic" is baseline x86-64 (SSE2), "avx2" adds AVX2 and FMA,
# "native" is the build machine (benchmarks and examples only).
function(mvq_arch_flags target arch)
  if(arch STREQUAL "avx2")
    target_compile_options(${target} PRIVATE -mavx2 -mfma)
  elseif(arch STREQUAL "native")
    target_compile_options(${target} PRIVATE -march=native)
  endif()
endfunction()
