// main() for tests that read the shared pretrained weights: exit 77 (ctest SKIP_RETURN_CODE) with a message
// when the folder is absent, otherwise run every Catch2 test case.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "models.hpp"

int main(int argc, char** argv) {
  auto dir = mvq_test::models_dir();
  if (!std::filesystem::is_directory(dir)) {
    std::printf("SKIPPED: the shared model folder '%s' is absent (set MVQ_MODELS_DIR)\n", dir.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
