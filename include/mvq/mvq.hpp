#pragma once
/// @file
/// Umbrella header for users: every area of the library. No header inside the library includes it.
/// The opt-in runtime-dispatch header `mvq/kernel/dispatch.hpp` is not included (see its documentation).

#include "mvq/version.hpp"
#include "mvq/core/core.hpp"
#include "mvq/io/io.hpp"
#include "mvq/io/mvq_format.hpp"
#include "mvq/quant/quant.hpp"
#include "mvq/kernel/kernel.hpp"
#include "mvq/hw/hw.hpp"
