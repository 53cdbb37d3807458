// ok/ko pair: built as is it compiles; with MVQ_KO_CASE=n it must fail with case n's sentence.
#include "mvq/hw/systolic_array.hpp"

using namespace mvq::hw;
#if !defined(MVQ_KO_CASE)
constexpr array_config cfg{.rows = 16, .cols = 8};
#elif MVQ_KO_CASE == 1
constexpr array_config cfg{.rows = 0};
#elif MVQ_KO_CASE == 2
constexpr array_config cfg{.pe = pe_kind::sparse_nm};
#elif MVQ_KO_CASE == 3
constexpr array_config cfg{.wrf_depth = 0};
#elif MVQ_KO_CASE == 4
constexpr array_config cfg{.accumulator_bits = 8};
#endif

int main() { return systolic_array<cfg>::cycles(layer::gemm(4, 4, 4)) > 0 ? 0 : 1; }
