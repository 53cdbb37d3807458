#pragma once
/// @file
/// Aggregate header of the io area: element types, safetensors and .npy.

#include "mvq/io/dtype.hpp"
#include "mvq/io/safetensors.hpp"
#include "mvq/io/npy.hpp"
