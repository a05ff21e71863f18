// Input data for running models: named arrays read from
//   - an .npz file (numpy savez or savez_compressed),
//   - a folder of <name>.npy files,
//   - an ONNX test_data_set_N folder of input_N.pb TensorProtos.
//
// Arrays are read in rows along axis 0, so a data set of any size streams through a bounded
// amount of memory: stored data is memory-mapped, compressed members are inflated as they are
// read, never as a whole.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/tensor.h"

namespace mixq::calib {

class ArrayReader {
 public:
  virtual ~ArrayReader() = default;

  const std::string& name() const { return name_; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  // Rows along axis 0 (1 for a scalar).
  int64_t rows() const { return dims_.empty() ? 1 : dims_[0]; }

  // Rows [begin, begin + count) as a tensor of dims {count} + dims()[1:] (for a scalar, row 0 is
  // the scalar itself). Reading rows in increasing order streams; going back restarts a
  // compressed member. Errors name the file and array.
  virtual Expected<ir::Tensor> read_rows(int64_t begin, int64_t count) = 0;
  Expected<ir::Tensor> read_all();

  // "calib.npz:ids", for messages.
  const std::string& label() const { return label_; }

 protected:
  std::string name_;
  DType dtype_ = DType::kUndefined;
  std::vector<int64_t> dims_;
  std::string label_;
};

class DataSource {
 public:
  // Opens `path`. For test_data_set folders, tensors without a name take `positional_names`
  // (the model's inputs, in order). Errors (bad input) name the path.
  static Expected<std::unique_ptr<DataSource>> open(
      const std::filesystem::path& path, const std::vector<std::string>& positional_names = {});

  // "calib.npz (npz, 2 arrays)".
  const std::string& description() const { return description_; }
  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::unique_ptr<ArrayReader>>& arrays() const { return arrays_; }
  ArrayReader* find(std::string_view name) const;

 private:
  std::filesystem::path path_;
  std::string description_;
  std::vector<std::unique_ptr<ArrayReader>> arrays_;
};

// Where a floating-point array first holds NaN or Inf.
struct NonFinite {
  std::string label;   // "eval.npz:input"
  int64_t sample = 0;  // row along axis 0
  double value = 0;    // the NaN or infinity found
};

// Scans every floating-point array of `data` (in chunks of rows) for NaN and Inf; nullopt when
// all values are finite. Read errors name the file and array.
Expected<std::optional<NonFinite>> find_nonfinite(const DataSource& data);

// Refuses (bad input) evaluation data holding NaN or Inf, naming the file, array and sample:
// metrics over such outputs mean nothing. (Calibration data may hold such samples: calibration
// leaves them out and counts them in RANGES.json.) Data that cannot be read passes: the command
// reports it where it reads it.
Status check_eval_data_finite(const std::filesystem::path& eval);

}  // namespace mixq::calib
