#include "mixq/calibration/data/batcher.h"

#include <algorithm>
#include <cstring>

namespace mixq::calib {
namespace {

std::string expected_text(const InputSpec& s) { return s.type.to_string(); }

// Checks that `dims` fit the declared shape (rank and known dims).
Status check_dims(const InputSpec& s, const std::vector<int64_t>& dims, const std::string& what) {
  if (!s.type.is_tensor() || !s.type.shape) return Status::ok_status();
  const ir::Shape& shape = *s.type.shape;
  bool ok = shape.size() == dims.size();
  for (size_t k = 0; ok && k < dims.size(); ++k) {
    if (shape[k].is_known() && shape[k].value() != dims[k]) ok = false;
  }
  if (!ok) {
    return bad_input("input '", s.name, "': ", what, " ", ir::dims_to_string(dims),
                     " does not match the model's ", expected_text(s));
  }
  return Status::ok_status();
}

}  // namespace

Expected<Batcher> Batcher::create(const DataSource& data, std::vector<InputSpec> inputs) {
  Batcher b;
  int64_t runs = -1;
  std::string runs_from;
  for (auto& spec : inputs) {
    Binding bind;
    bind.array = data.find(spec.name);
    if (bind.array == nullptr) {
      if (spec.optional) continue;
      std::string names;
      for (const auto& a : data.arrays()) names += (names.empty() ? "" : ", ") + a->name();
      return bad_input(data.path().string(), ": no array for model input '", spec.name, "' (",
                       expected_text(spec), "); the data has: ", names.empty() ? "nothing" : names);
    }
    const ArrayReader& a = *bind.array;
    // Zero samples (or an empty sample) would reach kernels with empty tensors.
    if (std::find(a.dims().begin(), a.dims().end(), 0) != a.dims().end()) {
      return bad_input(a.label(), ": the array for input '", spec.name, "' is empty (shape ",
                       ir::dims_to_string(a.dims()), "); the data set has no samples");
    }
    if (spec.type.is_tensor() && spec.type.dtype != DType::kUndefined &&
        a.dtype() != spec.type.dtype) {
      return bad_input("input '", spec.name, "': ", a.label(), " is ", dtype_name(a.dtype()),
                       ", the model expects ", expected_text(spec));
    }
    int64_t n = 1;
    if (spec.type.is_tensor() && spec.type.shape) {
      const size_t rank = spec.type.shape->size();
      if (a.dims().size() == rank + 1) {
        bind.mode = Binding::Mode::kSample;
        n = a.dims()[0];
        MIXQ_RETURN_IF_ERROR(check_dims(spec,
                                        std::vector<int64_t>(a.dims().begin() + 1, a.dims().end()),
                                        "each sample has shape"));
      } else if (a.dims().size() == rank) {
        const ir::Dim& d0 = rank > 0 ? (*spec.type.shape)[0] : ir::Dim();
        if (d0.is_known() && d0.value() > 0 && a.dims()[0] != d0.value() &&
            a.dims()[0] % d0.value() == 0) {
          bind.mode = Binding::Mode::kChunk;
          bind.chunk = d0.value();
          n = a.dims()[0] / d0.value();
          std::vector<int64_t> one = a.dims();
          one[0] = d0.value();
          MIXQ_RETURN_IF_ERROR(check_dims(spec, one, "each chunk has shape"));
        } else {
          MIXQ_RETURN_IF_ERROR(check_dims(spec, a.dims(), "array shape"));
        }
      } else {
        return bad_input("input '", spec.name, "': ", a.label(), " has rank ", a.dims().size(),
                         " (shape ", ir::dims_to_string(a.dims()), "); the model expects ",
                         expected_text(spec), ": rank ", rank, ", or ", rank + 1,
                         " with samples along axis 0");
      }
    }
    if (runs < 0) {
      runs = n;
      runs_from = spec.name;
    } else if (n != runs) {
      return bad_input("input '", spec.name, "' gives ", n, " runs but input '", runs_from,
                       "' gives ", runs, ": the arrays must hold the same number of samples");
    }
    if (bind.mode == Binding::Mode::kSample) b.layout_ = Layout::kSamples;
    if (bind.mode == Binding::Mode::kChunk) {
      b.layout_ = Layout::kChunks;
      b.run_size_ = bind.chunk;
    }
    bind.spec = std::move(spec);
    b.bindings_.push_back(std::move(bind));
  }
  b.runs_ = runs < 0 ? 1 : runs;
  if (b.runs_ == 0) return bad_input(data.path().string(), ": the data set is empty (0 samples)");
  return b;
}

int64_t Batcher::samples_per_run() const {
  if (layout_ == Layout::kChunks) return run_size_;
  if (bindings_.empty()) return 1;
  const Binding& b = bindings_.front();
  const std::vector<int64_t>& dims = b.array->dims();
  if (layout_ == Layout::kSingle) return dims.empty() ? 1 : dims[0];
  const auto& shape = b.spec.type.shape;
  const bool batched = shape && !shape->empty() && !(*shape)[0].is_known();
  return batched && dims.size() > 1 ? dims[1] : 1;
}

std::map<std::string, std::vector<int64_t>> Batcher::run_dims() const {
  std::map<std::string, std::vector<int64_t>> dims;
  for (const Binding& b : bindings_) {
    std::vector<int64_t> d = b.array->dims();
    if (b.mode == Binding::Mode::kSample) d.erase(d.begin());
    if (b.mode == Binding::Mode::kChunk) d[0] = b.chunk;
    dims[b.spec.name] = std::move(d);
  }
  return dims;
}

Expected<Feeds> Batcher::run(int64_t i) const {
  Feeds feeds;
  for (const Binding& b : bindings_) {
    ir::Tensor t;
    switch (b.mode) {
      case Binding::Mode::kWhole: {
        MIXQ_ASSIGN_OR_RETURN(t, b.array->read_all());
        break;
      }
      case Binding::Mode::kSample: {
        MIXQ_ASSIGN_OR_RETURN(ir::Tensor row, b.array->read_rows(i, 1));
        std::vector<int64_t> dims(row.dims().begin() + 1, row.dims().end());
        MIXQ_ASSIGN_OR_RETURN(t, ir::Tensor::from_buffer(row.dtype(), dims, row.buffer()));
        break;
      }
      case Binding::Mode::kChunk: {
        MIXQ_ASSIGN_OR_RETURN(t, b.array->read_rows(i * b.chunk, b.chunk));
        break;
      }
    }
    feeds.emplace_back(b.spec.name, std::move(t));
  }
  return feeds;
}

Expected<ir::Tensor> Batcher::join(Layout layout, const std::vector<ir::Tensor>& parts,
                                   const std::string& output_name) {
  if (parts.empty()) return bad_input("output '", output_name, "': no results to join");
  if (layout == Layout::kSingle || (parts.size() == 1 && layout != Layout::kSamples)) {
    return parts[0];
  }
  const ir::Tensor& first = parts[0];
  if (first.dtype() == DType::kString || dtype_bits(first.dtype()) < 8) {
    return unsupported("output '", output_name, "': cannot join ", dtype_name(first.dtype()),
                       " results");
  }
  std::vector<int64_t> dims = first.dims();
  int64_t axis0 = 0;
  for (const auto& p : parts) {
    const bool same_tail =
        layout == Layout::kSamples
            ? p.dims() == first.dims()
            : (p.rank() == first.rank() && p.rank() > 0 &&
               std::equal(p.dims().begin() + 1, p.dims().end(), first.dims().begin() + 1));
    if (p.dtype() != first.dtype() || !same_tail) {
      return bad_input("output '", output_name, "' has shape ", ir::dims_to_string(p.dims()),
                       " in one run and ", ir::dims_to_string(first.dims()),
                       " in another: the results cannot be joined");
    }
    axis0 += layout == Layout::kSamples ? 1 : p.dims()[0];
  }
  if (layout == Layout::kSamples) {
    dims.insert(dims.begin(), axis0);
  } else {
    dims[0] = axis0;
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor out, ir::Tensor::uninitialized(first.dtype(), dims));
  size_t off = 0;
  for (const auto& p : parts) {
    std::memcpy(out.mutable_raw_data() + off, p.raw_data(), p.nbytes());
    off += p.nbytes();
  }
  return out;
}

}  // namespace mixq::calib
