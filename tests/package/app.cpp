// A user's program: includes the umbrella header and uses the library.
#include <cstdio>

#include <mvq/mvq.hpp>

int main() {
  using namespace mvq;
  constexpr compressed_layout l{.rows = 2, .cols = 8, .vq = {4, 4}};
  auto m = compressed_matrix::allocate(l);
  if (!m) return 1;
  m->codebook[0] = 1.5f;
  auto dense = decompress(m->view());
  if (dense.size() != 16 || dense[0] != 1.5f) return 1;
  std::printf("consumer OK: mvq %s, %zu weights decoded\n", MVQ_VERSION_STRING, dense.size());
  return 0;
}
