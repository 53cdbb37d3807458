#include "tu.hpp"
std::vector<float> run_avx2() MVQ_ODR_TU_BODY
