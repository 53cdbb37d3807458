#include <cstdio>

#include "tu.hpp"

int main() {
  auto a = run_generic();
  auto b = run_avx2();
  if (a.empty() || a != b) {
    std::puts("the baseline and AVX2 translation units disagree");
    return 1;
  }
  std::printf("both translation units agree on %zu values\n", a.size());
  return 0;
}
