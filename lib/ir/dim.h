// Dim: one dimension of a tensor shape, as known before execution.
//
// A Dim is either a known size, a symbolic size, or unknown. Symbolic sizes are products of a
// positive coefficient and named symbols ("batch", "seq*4", "batch*seq*128"): ONNX `dim_param`
// names are symbols, and multiplying or exactly dividing symbolic dims stays symbolic, which is
// what Reshape(-1) after Shape/Gather/Concat chains needs. Sums of symbols are not tracked: they
// become unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mixq::ir {

class Dim {
 public:
  Dim() = default;  // unknown

  // Any integer: shapes hold sizes >= 0, but shape *data* (the values of a Reshape's shape
  // input, of axes) can be negative.
  static Dim known(int64_t value);
  // A single named symbol; an empty name gives an unknown Dim.
  static Dim symbol(std::string name);
  static Dim unknown() { return Dim(); }

  bool is_known() const { return kind_ == Kind::kKnown; }
  bool is_symbolic() const { return kind_ == Kind::kSymbolic; }
  bool is_unknown() const { return kind_ == Kind::kUnknown; }

  // The size; only meaningful when is_known().
  int64_t value() const { return coef_; }
  // For symbolic dims: coefficient and the sorted symbol factors (with repeats).
  int64_t coefficient() const { return coef_; }
  const std::vector<std::string>& symbols() const { return symbols_; }

  // "12", "batch", "batch*seq*4", or "?" for unknown. Symbolic text is what is written back to
  // ONNX as dim_param.
  std::string to_string() const;

  // Product; unknown if either side is unknown. Overflow of known sizes gives unknown.
  Dim operator*(const Dim& other) const;
  // Sum/difference: exact for known sizes, unknown otherwise (x + 0 = x).
  Dim operator+(const Dim& other) const;
  Dim operator-(const Dim& other) const;
  // Exact division: a known or symbolic quotient when `other` divides this exactly
  // (coefficients divide and every symbol of `other` cancels); nullopt otherwise.
  std::optional<Dim> exact_div(const Dim& other) const;

  // Structural equality (unknown == unknown). Use `same_size` to ask whether two dims are
  // provably equal.
  bool operator==(const Dim& other) const = default;

 private:
  enum class Kind : uint8_t { kUnknown, kKnown, kSymbolic };
  Kind kind_ = Kind::kUnknown;
  int64_t coef_ = 0;
  std::vector<std::string> symbols_;
};

// True when both dims are known and equal, or both symbolic and equal.
bool same_size(const Dim& a, const Dim& b);

using Shape = std::vector<Dim>;

Shape shape_from_ints(const std::vector<int64_t>& dims);
// The sizes when every dim is known; nullopt otherwise.
std::optional<std::vector<int64_t>> shape_to_ints(const Shape& shape);
// Product of all dims (known, symbolic or unknown). Empty shape gives 1.
Dim shape_numel(const Shape& shape);
// "[batch, seq, 128]"; "[]" for a scalar.
std::string shape_to_string(const Shape& shape);

}  // namespace mixq::ir
