// ONNX Transpose-1/13/21: y = x with its dims permuted by `perm` (default: reversed), any dtype.
// Dims of size 1 are dropped and runs of dims that stay adjacent are merged first; then a
// permutation that keeps the innermost dim copies contiguous runs, and any other one is a
// (batched) 2-D transpose done in cache-sized tiles.
#include <algorithm>
#include <numeric>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

// Dims and permutation after dropping size-1 dims and merging adjacent runs.
void simplify(const std::vector<int64_t>& dims, const std::vector<int64_t>& perm,
              std::vector<int64_t>& out_dims, std::vector<int64_t>& out_perm) {
  const size_t rank = dims.size();
  // Renumber the input axes that remain after dropping size-1 dims.
  std::vector<int64_t> renum(rank, -1);
  int64_t kept = 0;
  for (size_t k = 0; k < rank; ++k) {
    if (dims[k] != 1) renum[k] = kept++;
  }
  std::vector<int64_t> p;  // permutation over the kept axes
  std::vector<int64_t> d;  // their dims
  for (size_t k = 0; k < rank; ++k) {
    if (dims[k] != 1) d.push_back(dims[k]);
  }
  for (int64_t a : perm) {
    if (renum[static_cast<size_t>(a)] >= 0) p.push_back(renum[static_cast<size_t>(a)]);
  }
  // Runs of output positions whose input axes are consecutive become one axis.
  std::vector<std::vector<int64_t>> groups;  // input axes of each group, in output order
  for (int64_t a : p) {
    if (!groups.empty() && groups.back().back() + 1 == a) {
      groups.back().push_back(a);
    } else {
      groups.push_back({a});
    }
  }
  // Merged input axes are numbered by the input position of their first axis.
  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return groups[x][0] < groups[y][0]; });
  std::vector<int64_t> new_index(groups.size());
  out_dims.clear();
  for (size_t m = 0; m < order.size(); ++m) {
    new_index[order[m]] = static_cast<int64_t>(m);
    int64_t size = 1;
    for (int64_t a : groups[order[m]]) size *= d[static_cast<size_t>(a)];
    out_dims.push_back(size);
  }
  out_perm.clear();
  for (size_t g = 0; g < groups.size(); ++g) out_perm.push_back(new_index[g]);
}

// out[i * ta + j] = in[i + j * sj] for i < ni, j < nj, for every position of the remaining dims.
// Full tiles go through a small buffer: contiguous reads along i, contiguous writes along j, so
// neither side walks a power-of-two stride through one cache set.
template <typename T>
void blocked_transpose(ThreadPool& pool, const T* x, T* y, int64_t ni, int64_t nj, int64_t sj,
                       int64_t ta, const std::vector<int64_t>& rest_dims,
                       const std::vector<int64_t>& rest_src, const std::vector<int64_t>& rest_dst) {
  constexpr int64_t kTile = sizeof(T) <= 4 ? 32 : 16;
  int64_t rest = 1;
  for (int64_t d : rest_dims) rest *= d;
  const int64_t iblocks = (ni + kTile - 1) / kTile;
  const int64_t tasks = rest * iblocks;
  const int64_t grain =
      ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, kTile * nj)));
  pool.parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
    Odometer src(rest_dims.data(), rest_src.data(), rest_dims.size());
    Odometer dst(rest_dims.data(), rest_dst.data(), rest_dims.size());
    T buf[kTile * kTile];
    for (int64_t t = b; t < e; ++t) {
      src.seek(t / iblocks);
      dst.seek(t / iblocks);
      const int64_t i0 = (t % iblocks) * kTile;
      const int64_t i1 = std::min(ni, i0 + kTile);
      const T* xs = x + src.offset();
      T* yd = y + dst.offset();
      for (int64_t j0 = 0; j0 < nj; j0 += kTile) {
        const int64_t j1 = std::min(nj, j0 + kTile);
        if (i1 - i0 == kTile && j1 - j0 == kTile) {
          for (int64_t j = 0; j < kTile; ++j) {
            const T* from = xs + (j0 + j) * sj + i0;
            for (int64_t i = 0; i < kTile; ++i) buf[i * kTile + j] = from[i];
          }
          for (int64_t i = 0; i < kTile; ++i) {
            std::memcpy(yd + (i0 + i) * ta + j0, buf + i * kTile, sizeof(T) * kTile);
          }
          continue;
        }
        for (int64_t i = i0; i < i1; ++i) {
          const T* from = xs + i;
          T* to = yd + i * ta;
          for (int64_t j = j0; j < j1; ++j) to[j] = from[j * sj];
        }
      }
    }
  });
}

Status transpose(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, transpose);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const auto rank = static_cast<int64_t>(x.rank());
  MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.node().attr_ints("perm"));
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  for (int64_t k = 0; k < rank; ++k) perm[static_cast<size_t>(k)] = rank - 1 - k;
  if (attr) perm = *attr;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  if (static_cast<int64_t>(perm.size()) != rank) {
    return ctx.fail("perm has ", perm.size(), " entries for rank ", rank);
  }
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[static_cast<size_t>(p)]) {
      return ctx.fail("perm is not a permutation of 0..", rank - 1);
    }
    seen[static_cast<size_t>(p)] = true;
  }
  std::vector<int64_t> out_dims;
  for (int64_t p : perm) out_dims.push_back(x.dims()[static_cast<size_t>(p)]);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), out_dims));
  if (x.numel() == 0) return Status::ok_status();
  const size_t es = element_size(x.dtype());

  std::vector<int64_t> d, p;
  simplify(x.dims(), perm, d, p);
  const size_t r = d.size();
  if (r <= 1 || p.back() == static_cast<int64_t>(r) - 1) {
    // The innermost dim stays innermost: contiguous runs.
    const std::vector<int64_t> in_strides = strides_of(d);
    std::vector<int64_t> od, os;
    for (int64_t a : p) {
      od.push_back(d[static_cast<size_t>(a)]);
      os.push_back(in_strides[static_cast<size_t>(a)]);
    }
    strided_copy(ctx.pool(), es, x.raw_data(), od, os, y->mutable_raw_data());
    return Status::ok_status();
  }
  const std::vector<int64_t> in_strides = strides_of(d);
  std::vector<int64_t> od;
  for (int64_t a : p) od.push_back(d[static_cast<size_t>(a)]);
  const std::vector<int64_t> out_strides = strides_of(od);
  // Output position a holds the input's innermost dim; the output's innermost dim is r - 1.
  const size_t a = static_cast<size_t>(std::find(p.begin(), p.end(), r - 1) - p.begin());
  const size_t b = r - 1;
  std::vector<int64_t> rest_dims, rest_src, rest_dst;
  for (size_t k = 0; k < r; ++k) {
    if (k == a || k == b) continue;
    rest_dims.push_back(od[k]);
    rest_src.push_back(in_strides[static_cast<size_t>(p[k])]);
    rest_dst.push_back(out_strides[k]);
  }
  visit_size(es, [&](auto tag) {
    using T = decltype(tag);
    blocked_transpose<T>(ctx.pool(), x.data<T>(), y->mutable_data<T>(), od[a], od[b],
                         in_strides[static_cast<size_t>(p[b])], out_strides[a], rest_dims, rest_src,
                         rest_dst);
  });
  return Status::ok_status();
}

}  // namespace

void register_transpose_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Transpose", 1, 21, TypeSet::any(), 0, transpose});
}

}  // namespace mixq::exec
