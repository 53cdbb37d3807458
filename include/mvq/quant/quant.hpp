#pragma once
/// @file
/// Aggregate header of the quant area: k-means, N:M pruning, masked k-means, codebook rounding, compression,
/// output-aware compression (GPTVQ).

#include "mvq/quant/codebook.hpp"
#include "mvq/quant/compress.hpp"
#include "mvq/quant/gptvq.hpp"
#include "mvq/quant/kmeans.hpp"
#include "mvq/quant/masked_gradient.hpp"
#include "mvq/quant/nearest.hpp"
#include "mvq/quant/nm_prune.hpp"
#include "mvq/quant/subvectors.hpp"
