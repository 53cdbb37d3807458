#include "tu.hpp"
std::vector<float> run_generic() MVQ_ODR_TU_BODY
