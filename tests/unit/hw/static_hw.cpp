// Compile-time checks of the constexpr models: this file passes when it compiles.
#include "mvq/hw/systolic_array.hpp"

namespace {
using namespace mvq::hw;
constexpr layer resnet_conv = layer::conv_padded(56, 56, 3, 3, 64, 64, 1, 1);
constexpr array_config tpu_like{.rows = 256, .cols = 256, .ifmap_sram_kb = 6144, .filter_sram_kb = 6144,
                                .ofmap_sram_kb = 2048};
static_assert(cycles<scalesim_32x32_ws>(resnet_conv) <= 250'000, "a ResNet-18 3x3 conv fits its cycle budget");
static_assert(systolic_array<tpu_like>::cycles(resnet_conv) < cycles<scalesim_32x32_ws>(resnet_conv));
static_assert(systolic_array<ews_64x64>::pes == 4096);
static_assert(systolic_array<scalesim_32x32_ws>::fold_cycles(256) == 350);
static_assert(systolic_array<scalesim_32x32_os>::fold_cycles(256) == 318);
static_assert(map_layer(scalesim_32x32_ws, layer::gemm(256, 128, 256)).folds() == 32);
static_assert(compact_k(256, {2, 4}) == 128);
static_assert(compact_k(10, {2, 4}) == 6);  // 2 full groups → 4, trailing 2 → min(2, 2)
static_assert(compact_k(9, {2, 4}) == 5);   // trailing 1 → 1
static_assert(to_gemm(layer::depthwise_conv(7, 7, 3, 3, 32, 1, 1)).groups == 32);
static_assert(to_gemm(layer::depthwise_conv(7, 7, 3, 3, 32, 1, 1)).k == 9);
static_assert(check(array_config{.rows = 0})[0] != '\0');
static_assert(*check(ews_64x64) == '\0');
}  // namespace
