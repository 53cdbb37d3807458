#pragma once
/// @file
/// The systolic-array emulator, all of it: configuration, layers and mapping, the analytic and cycle-stepped
/// models, the compile-time `systolic_array<C>`, SCALE-Sim compatibility, energy/area tables and models,
/// built-in topologies and the accelerator comparison. docs/emulator.md describes the models.

#include "mvq/hw/accelerators.hpp"
#include "mvq/hw/analytic.hpp"
#include "mvq/hw/area.hpp"
#include "mvq/hw/array_config.hpp"
#include "mvq/hw/cycle_sim.hpp"
#include "mvq/hw/energy.hpp"
#include "mvq/hw/layer.hpp"
#include "mvq/hw/mapping.hpp"
#include "mvq/hw/processing_element.hpp"
#include "mvq/hw/scalesim_io.hpp"
#include "mvq/hw/systolic_array.hpp"
#include "mvq/hw/tables.hpp"
#include "mvq/hw/topologies.hpp"
