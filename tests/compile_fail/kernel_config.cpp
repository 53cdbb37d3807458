// ok/ko pair for kernel policies and kernel_config NTTPs: each ko case fails with its sentence from the table.
#include "mvq/kernel/mvq.hpp"
#include "mvq/kernel/nm_sparse.hpp"
#include "mvq/kernel/vq_byte.hpp"

using namespace mvq;
using namespace mvq::kernel;

#if !defined(MVQ_KO_CASE)
using traits = mvq_byte<16, sparse_2_4>::traits;
#elif MVQ_KO_CASE == 1
using traits = vq_byte<5>::traits;
#elif MVQ_KO_CASE == 2
using traits = mvq_byte<4, sparse_2_8>::traits;
#elif MVQ_KO_CASE == 3
using traits = nm_sparse<nm_pattern{2, 6}>::traits;
#elif MVQ_KO_CASE == 4
using traits = kernel_traits<kernel_config{.vq = {0, 8}}>;
#elif MVQ_KO_CASE == 5
using traits = kernel_traits<kernel_config{.operand_bits = 8, .accumulator_bits = 12}>;
#endif

int main() { return traits::kept_per_subvector == 8 ? 0 : 1; }
