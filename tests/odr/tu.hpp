#pragma once
// The same function body compiled in two TUs with different instruction sets.
#include <cstdint>
#include <vector>

#include "mvq/mvq.hpp"

#define MVQ_ODR_TU_BODY                                                                           \
  {                                                                                              \
    using namespace mvq;                                                                         \
    compressed_layout l{.rows = 3, .cols = 16, .vq = {16, 8}, .nm = {2, 4},                    \
                        .masks = mask_encoding::pattern};                                        \
    auto m = compressed_matrix::allocate(l).value();                                             \
    for (std::size_t i = 0; i < m.codebook.size(); ++i) m.codebook[i] = static_cast<float>(i);   \
    for (std::size_t i = 0; i < m.indices.size(); ++i)                                           \
      m.indices[i] = static_cast<std::uint8_t>(i * 37u);                                         \
    for (std::size_t i = 0; i < m.masks.size(); ++i)                                             \
      m.masks[i] = static_cast<std::uint8_t>((i * 11u) % 6u);                                    \
    return decompress(m.view());                                                                 \
  }

std::vector<float> run_generic();
std::vector<float> run_avx2();
