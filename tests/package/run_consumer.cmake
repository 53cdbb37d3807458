# Builds and runs an out-of-tree consumer of mvq.
#   MODE=find_package:      cmake --install the build tree into a scratch prefix, then find_package(mvq)
#   MODE=add_subdirectory:  add_subdirectory(<mvq source>) — tests, benchmarks and install rules stay off
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()

# Sanitizer flags of the parent build (asan preset) are inherited through the environment by nobody:
# the consumer is a plain build, which is what a user does.
if(MODE STREQUAL "find_package")
  run("${CMAKE_COMMAND}" --install "${MVQ_BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
  # the CLI is installed with the headers (when the build tree built it)
  if(EXISTS "${MVQ_BUILD_DIR}/examples/mvq_cli/mvq")
    execute_process(COMMAND "${WORK_DIR}/prefix/bin/mvq" --help RESULT_VARIABLE cli_rc OUTPUT_QUIET ERROR_QUIET)
    if(NOT cli_rc EQUAL 0)
      message(FATAL_ERROR "the installed mvq CLI is missing or does not run (${cli_rc})")
    endif()
  endif()
  set(src "${MVQ_SOURCE_DIR}/tests/package/consumer")
  set(extra "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
else()
  set(src "${MVQ_SOURCE_DIR}/tests/package/subdir")
  set(extra "-DMVQ_SOURCE=${MVQ_SOURCE_DIR}")
endif()
run("${CMAKE_COMMAND}" -S "${src}" -B "${WORK_DIR}/build" -G Ninja -DCMAKE_CXX_COMPILER=${CXX}
    -DCMAKE_BUILD_TYPE=Release ${extra})
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
execute_process(COMMAND "${WORK_DIR}/build/app" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer app failed (${rc})")
endif()
