#pragma once
// Where tests find the shared pretrained weights and the source tree.

#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <string>

namespace mvq_test {

/// The shared model folder: $MVQ_MODELS_DIR (set by ctest), else ../shared/models beside the source tree.
inline std::filesystem::path models_dir() {
  if (const char* e = std::getenv("MVQ_MODELS_DIR"); e && *e) return e;
  return "../shared/models";
}

/// The source tree: $MVQ_SOURCE_DIR (set by ctest), else the current directory.
inline std::filesystem::path source_dir() {
  if (const char* e = std::getenv("MVQ_SOURCE_DIR"); e && *e) return e;
  return ".";
}

/// A fresh, empty scratch folder under the system temp directory, unique per call.
inline std::filesystem::path scratch_dir(const std::string& tag) {
  static int counter = 0;
  auto p = std::filesystem::temp_directory_path() /
           ("mvq_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

}  // namespace mvq_test
