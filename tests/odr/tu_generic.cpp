#include "tu.hpp"
namespace {
struct generic_tu {};
}  // namespace
odr_result run_generic() { return odr_body<generic_tu>(); }
