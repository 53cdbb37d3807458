// Built with -fno-exceptions: the umbrella header compiles, and errors travel as values.
#include <cstdio>

#include "mvq/mvq.hpp"

int main() {
  using namespace mvq;
  compressed_layout bad{.rows = 2, .cols = 10, .vq = {16, 4}};
  auto r = compressed_matrix::allocate(bad);
  if (r || r.error().code != errc::shape_mismatch) {
    std::puts("expected a shape_mismatch error for a row length that d does not divide");
    return 1;
  }
  std::printf("got the expected error: %s\n", r.error().what().c_str());
  return 0;
}
