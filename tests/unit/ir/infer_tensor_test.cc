// Shape-function unit tests: inline cases, symbolic dims, and rejects_* for invalid nodes.
#include <gtest/gtest.h>

#include "graph_builder.h"

namespace mixq {
namespace {

using testing::GraphBuilder;

}  // namespace
}  // namespace mixq
