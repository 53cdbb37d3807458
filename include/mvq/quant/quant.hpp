#pragma once
/// @file
/// Aggregate header of the quant area: k-means, N:M pruning, masked k-means, codebook rounding, compression,
/// GPTQ and GPTVQ, round-to-nearest scalar quantization, output-aware codebook fine-tuning and VQ4DiT calibration,
/// mixed-precision allocation.

#include "mvq/quant/codebook.hpp"
#include "mvq/quant/codebook_finetune.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/gptq.hpp"
#include "mvq/quant/gptvq.hpp"
#include "mvq/quant/kmeans.hpp"
#include "mvq/quant/masked_gradient.hpp"
#include "mvq/quant/mixed_precision.hpp"
#include "mvq/quant/nearest.hpp"
#include "mvq/quant/nm_prune.hpp"
#include "mvq/quant/subvectors.hpp"
#include "mvq/quant/vq4dit.hpp"
