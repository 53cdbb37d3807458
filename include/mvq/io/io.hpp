#pragma once
/// @file
/// Aggregate header of the io area: element types, safetensors, .npy and the `.mvq.safetensors` format.

#include "mvq/io/dtype.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/io/npy.hpp"
#include "mvq/io/safetensors.hpp"
