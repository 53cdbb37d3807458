#include "tu.hpp"
namespace {
struct avx2_tu {};
}  // namespace
odr_result run_avx2() { return odr_body<avx2_tu>(); }
