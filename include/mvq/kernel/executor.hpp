#pragma once
/// @file
/// The kernels' executors are the library's one executor vocabulary (`core/executor.hpp`): a kernel never
/// creates threads itself; it runs its independent tasks (blocks of output rows) on the executor it is given.

#include "mvq/core/executor.hpp"

namespace mvq::inline v0::kernel {

using mvq::Executor;
using mvq::serial_executor;
using mvq::thread_pool;

}  // namespace mvq::inline v0::kernel
