#include "kernels/common.h"

#include <algorithm>

namespace mixq::exec {

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
  return s;
}

Expected<Broadcast> Broadcast::make(const KernelContext& ctx,
                                    const std::vector<std::vector<int64_t>>& input_dims) {
  Broadcast b;
  size_t rank = 0;
  for (const auto& d : input_dims) rank = std::max(rank, d.size());
  b.out_dims_.assign(rank, 1);
  // Right-aligned dims of every input (1 where an input has fewer dims).
  std::vector<std::vector<int64_t>> aligned(input_dims.size(), std::vector<int64_t>(rank, 1));
  for (size_t k = 0; k < input_dims.size(); ++k) {
    const auto& d = input_dims[k];
    std::copy(d.begin(), d.end(), aligned[k].begin() + static_cast<int64_t>(rank - d.size()));
  }
  for (size_t a = 0; a < rank; ++a) {
    int64_t out = 1;
    for (const auto& d : aligned) {
      if (d[a] == 1) continue;
      if (out != 1 && d[a] != out) {
        std::string shapes;
        for (const auto& in : input_dims)
          shapes += (shapes.empty() ? "" : " and ") + ir::dims_to_string(in);
        return ctx.fail("cannot broadcast ", shapes);
      }
      out = d[a];
    }
    // A dim of 0 anywhere makes the output dim 0 (every input must be 0 or 1 there).
    for (const auto& d : aligned) {
      if (d[a] == 0) out = 0;
    }
    b.out_dims_[a] = out;
  }
  b.out_numel_ = 1;
  for (int64_t d : b.out_dims_) b.out_numel_ *= d;

  // Merge adjacent dims where every input either follows the output or is broadcast on both.
  // Each merged dim keeps, per input, whether the input varies along it.
  std::vector<int64_t> dims;
  std::vector<std::vector<char>> varies(input_dims.size());
  for (size_t a = 0; a < rank; ++a) {
    if (b.out_dims_[a] == 1) continue;  // size-1 output dims contribute nothing
    bool merge = !dims.empty();
    for (size_t k = 0; merge && k < aligned.size(); ++k) {
      const bool v = aligned[k][a] != 1;
      merge = varies[k].back() == v;
    }
    if (merge) {
      dims.back() *= b.out_dims_[a];
    } else {
      dims.push_back(b.out_dims_[a]);
      for (size_t k = 0; k < aligned.size(); ++k) varies[k].push_back(aligned[k][a] != 1);
    }
  }
  if (dims.empty()) {  // scalar output
    dims.push_back(1);
    for (auto& v : varies) v.push_back(1);
  }
  b.inner_ = dims.back();
  b.outer_dims_.assign(dims.begin(), dims.end() - 1);
  b.outer_count_ = 1;
  for (int64_t d : b.outer_dims_) b.outer_count_ *= d;
  b.steps_.resize(input_dims.size());
  b.outer_strides_.assign(input_dims.size(), std::vector<int64_t>(b.outer_dims_.size(), 0));
  for (size_t k = 0; k < input_dims.size(); ++k) {
    // Strides of input k over the merged dims: the product of the sizes of the later dims it
    // varies along.
    int64_t stride = 1;
    b.steps_[k] = varies[k].back() ? 1 : 0;
    if (varies[k].back()) stride = b.inner_;
    for (size_t a = b.outer_dims_.size(); a-- > 0;) {
      if (varies[k][a]) {
        b.outer_strides_[k][a] = stride;
        stride *= b.outer_dims_[a];
      }
    }
  }
  return b;
}

void Broadcast::offsets_for_row(int64_t row, int64_t* offs) const {
  const size_t n = steps_.size();
  for (size_t k = 0; k < n; ++k) offs[k] = 0;
  for (size_t a = outer_dims_.size(); a-- > 0;) {
    const int64_t i = row % outer_dims_[a];
    row /= outer_dims_[a];
    for (size_t k = 0; k < n; ++k) offs[k] += i * outer_strides_[k][a];
  }
}

}  // namespace mixq::exec
