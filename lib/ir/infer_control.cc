#include "mixq/ir/op_schema.h"

namespace mixq::ir {

void register_control_schemas(std::vector<OpSchema>& /*out*/) {}

}  // namespace mixq::ir
