#pragma once
/// @file
/// Umbrella header for users. No header inside the library includes it.

#include "mvq/version.hpp"
#include "mvq/core/core.hpp"
