// Seeded random inputs of a model's declared shapes, for benchmarks and tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mixq/calibration/data/batcher.h"

namespace mixq::calib {

// One tensor per input: floats uniform in [-1, 1), integers uniform in [0, int_high] (valid
// indices for most lookups), bools with probability 1/2. Symbolic dims take their value from
// `dims`; a symbolic dim without a value, or a dim with no name, is refused (usage error) naming
// the input and the dim.
Expected<Feeds> random_inputs(const std::vector<InputSpec>& inputs,
                              const std::map<std::string, int64_t>& dims, uint32_t seed,
                              int int_high = 9);

}  // namespace mixq::calib
