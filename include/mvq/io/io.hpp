#pragma once
/// @file
/// Aggregate header of the io area: element types and the safetensors format.

#include "mvq/io/dtype.hpp"
#include "mvq/io/safetensors.hpp"
