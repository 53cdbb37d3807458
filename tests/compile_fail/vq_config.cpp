// ok/ko pair for invalid vq_config / nm_pattern NTTPs; MVQ_KO_CASE selects the invalid configuration.
#include "mvq/core/config.hpp"

#ifndef MVQ_KO_CASE
#  define MVQ_KO_CASE 0
#endif

using namespace mvq;

#if MVQ_KO_CASE == 0
using traits = vq_traits<k256_d16, sparse_2_4>;
#elif MVQ_KO_CASE == 1
using traits = vq_traits<vq_config{.codebook_size = 100, .subvector_dim = 8}>;
#elif MVQ_KO_CASE == 2
using traits = vq_traits<vq_config{.codebook_size = 131072, .subvector_dim = 8}>;
#elif MVQ_KO_CASE == 3
using traits = vq_traits<vq_config{.codebook_size = 256, .subvector_dim = 0}>;
#elif MVQ_KO_CASE == 4
using traits = vq_traits<k256_d4, sparse_2_8>;
#elif MVQ_KO_CASE == 5
using traits = vq_traits<k256_d8, nm_pattern{.n = 3, .m = 2}>;
#endif

int main() { return traits::kept_per_subvector == 0 ? 1 : 0; }
