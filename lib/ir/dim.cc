#include "mixq/ir/dim.h"

#include <algorithm>
#include <limits>

namespace mixq::ir {
namespace {

bool mul_overflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

Dim Dim::known(int64_t value) {
  Dim d;
  d.kind_ = Kind::kKnown;
  d.coef_ = value;
  return d;
}

Dim Dim::symbol(std::string name) {
  Dim d;
  if (name.empty()) return d;
  d.kind_ = Kind::kSymbolic;
  d.coef_ = 1;
  d.symbols_.push_back(std::move(name));
  return d;
}

std::string Dim::to_string() const {
  switch (kind_) {
    case Kind::kUnknown:
      return "?";
    case Kind::kKnown:
      return std::to_string(coef_);
    case Kind::kSymbolic:
      break;
  }
  std::string out;
  for (const auto& s : symbols_) {
    if (!out.empty()) out += '*';
    out += s;
  }
  if (coef_ != 1) out += "*" + std::to_string(coef_);
  return out;
}

Dim Dim::operator*(const Dim& other) const {
  if ((is_known() && coef_ == 0) || (other.is_known() && other.coef_ == 0)) return Dim::known(0);
  if (is_unknown() || other.is_unknown()) return Dim();
  int64_t coef = 0;
  if (mul_overflows(coef_, other.coef_, &coef)) return Dim();
  if (is_known() && other.is_known()) return Dim::known(coef);
  Dim d;
  d.kind_ = Kind::kSymbolic;
  d.coef_ = coef;
  d.symbols_ = symbols_;
  d.symbols_.insert(d.symbols_.end(), other.symbols_.begin(), other.symbols_.end());
  std::sort(d.symbols_.begin(), d.symbols_.end());
  return d;
}

Dim Dim::operator+(const Dim& other) const {
  if (other.is_known() && other.coef_ == 0) return *this;
  if (is_known() && coef_ == 0) return other;
  if (!is_known() || !other.is_known()) return Dim();
  int64_t sum = 0;
  if (__builtin_add_overflow(coef_, other.coef_, &sum)) return Dim();
  return Dim::known(sum);
}

Dim Dim::operator-(const Dim& other) const {
  if (other.is_known() && other.coef_ == 0) return *this;
  if (!is_known() || !other.is_known()) return Dim();
  int64_t diff = 0;
  if (__builtin_sub_overflow(coef_, other.coef_, &diff)) return Dim();
  return Dim::known(diff);
}

std::optional<Dim> Dim::exact_div(const Dim& other) const {
  if (is_unknown() || other.is_unknown()) return std::nullopt;
  if (other.coef_ == 0) return std::nullopt;
  if (coef_ % other.coef_ != 0) return std::nullopt;
  // Remove every symbol of `other` from ours (multiset difference); all must be present.
  std::vector<std::string> rest;
  size_t j = 0;
  for (const auto& s : symbols_) {
    if (j < other.symbols_.size() && other.symbols_[j] == s) {
      ++j;
    } else {
      rest.push_back(s);
    }
  }
  if (j != other.symbols_.size()) return std::nullopt;
  const int64_t coef = coef_ / other.coef_;
  if (rest.empty()) return Dim::known(coef);
  Dim d;
  d.kind_ = Kind::kSymbolic;
  d.coef_ = coef;
  d.symbols_ = std::move(rest);
  return d;
}

bool same_size(const Dim& a, const Dim& b) { return !a.is_unknown() && a == b; }

Shape shape_from_ints(const std::vector<int64_t>& dims) {
  Shape s;
  s.reserve(dims.size());
  for (int64_t d : dims) s.push_back(Dim::known(d));
  return s;
}

std::optional<std::vector<int64_t>> shape_to_ints(const Shape& shape) {
  std::vector<int64_t> out;
  out.reserve(shape.size());
  for (const auto& d : shape) {
    if (!d.is_known()) return std::nullopt;
    out.push_back(d.value());
  }
  return out;
}

Dim shape_numel(const Shape& shape) {
  Dim n = Dim::known(1);
  for (const auto& d : shape) n = n * d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += shape[i].to_string();
  }
  return out + "]";
}

}  // namespace mixq::ir
