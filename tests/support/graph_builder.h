// Building small ir::Models in tests: declare inputs, add nodes with attributes, run inference.
//
//   GraphBuilder b(17);
//   auto* x = b.input("x", DType::kFloat32, {"N", 3, 224, 224});
//   auto* w = b.constant("w", Tensor::from_floats({8, 3, 3, 3}, std::vector<float>(216)));
//   auto* y = b.node("Conv", {x, w}, 1, [](ir::Node& n) { set_ints(n, "pads", {1, 1, 1, 1}); })[0];
//   auto types = b.infer();  // Expected<InferenceResult>
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "mixq/ir/model.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::testing {

// A dim for GraphBuilder::input: a size, a symbol name, or "?" for unknown.
using DimSpec = std::variant<int64_t, std::string>;

class GraphBuilder {
 public:
  explicit GraphBuilder(int64_t opset = 21);

  // A graph input. `dims` empty with `rank_known` false gives unknown rank.
  ir::Value* input(const std::string& name, DType dtype, std::vector<DimSpec> dims,
                   bool rank_known = true);
  // An initializer.
  ir::Value* constant(const std::string& name, ir::Tensor t);
  // Adds a node; nullptr inputs are omitted optional inputs. Returns its outputs.
  std::vector<ir::Value*> node(const std::string& op, std::vector<ir::Value*> inputs,
                               size_t num_outputs = 1,
                               const std::function<void(ir::Node&)>& attrs = nullptr,
                               const std::string& domain = "");
  void output(ir::Value* v) { model_->graph().add_output(v); }

  Expected<ir::InferenceResult> infer(const ir::InferOptions& options = {}) const;
  ir::Model& model() { return *model_; }
  ir::Graph& graph() { return model_->graph(); }

 private:
  std::unique_ptr<ir::Model> model_;
  int counter_ = 0;
};

// Attribute setters for GraphBuilder::node callbacks.
void set_int(ir::Node& n, const std::string& name, int64_t v);
void set_float(ir::Node& n, const std::string& name, float v);
void set_string(ir::Node& n, const std::string& name, const std::string& v);
void set_ints(ir::Node& n, const std::string& name, const std::vector<int64_t>& v);
void set_floats(ir::Node& n, const std::string& name, const std::vector<float>& v);
void set_tensor(ir::Node& n, const std::string& name, ir::Tensor t);
// Moves `g` into a graph attribute (If/Loop/Scan bodies).
void set_graph(ir::Node& n, const std::string& name, std::unique_ptr<ir::Graph> g);

// "float32[N, 3, 112, 112]" — the form ValueType::to_string() prints.
std::string type_string(const Expected<ir::InferenceResult>& r, const ir::Value* v);

}  // namespace mixq::testing
