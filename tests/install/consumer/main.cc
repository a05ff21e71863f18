// Loads a model with an installed mixq and prints what it found.
#include <iostream>

#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "mixq/version.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer MODEL\n";
    return 1;
  }
  auto model = mixq::onnx::load_model(argv[1]);
  if (!model.ok()) {
    std::cerr << model.status().to_string() << "\n";
    return 2;
  }
  auto types = mixq::ir::infer_shapes(**model);
  if (!types.ok()) {
    std::cerr << types.status().to_string() << "\n";
    return 2;
  }
  const auto* out = (*model)->graph().outputs().at(0);
  std::cout << "mixq " << MIXQ_VERSION << ": " << (*model)->graph().num_nodes()
            << " nodes, output '" << out->name() << "' " << types->type_of(out).to_string() << "\n";
  return 0;
}
