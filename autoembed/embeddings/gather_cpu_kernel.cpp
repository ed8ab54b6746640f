// The backward of a row gather on CPU: grad rows summed into the table rows an index names.
// index_add_ does this on one thread, one row slice at a time (~28 ns a row for CTR shapes).
// Here each thread owns a contiguous range of table rows: it zeroes them, then reads the whole
// index in order and adds the gradient rows that land in its range. Every table row is summed
// by one thread in index order, as index_add_ sums it, so the result is bit-identical to
// index_add_ for any number of threads.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kMinParallel = 32768;  // gradient entries below which one thread sums them

// out[r] += src (width floats)
inline void add_row(float* out, const float* src, int64_t width) {
  int64_t d = 0;
  for (; d + Vec::size() <= width; d += Vec::size()) {
    (Vec::loadu(out + d) + Vec::loadu(src + d)).store(out + d);
  }
  for (; d < width; ++d) out[d] += src[d];
}

at::Tensor accumulate_rows(const at::Tensor& grad, const at::Tensor& index, int64_t num_rows) {
  TORCH_CHECK(grad.device().is_cpu() && grad.scalar_type() == at::kFloat && grad.is_contiguous(),
              "grad must be contiguous float32 on the CPU");
  TORCH_CHECK(index.device().is_cpu() && index.scalar_type() == at::kLong && index.is_contiguous(),
              "index must be contiguous int64 on the CPU");
  TORCH_CHECK(grad.dim() == 2 && index.dim() == 1 && index.size(0) == grad.size(0),
              "grad must be [n, width] and index [n]");
  TORCH_CHECK(num_rows >= 0, "num_rows must be >= 0");
  const int64_t n = index.size(0), width = grad.size(1);
  auto out = at::empty({num_rows, width}, grad.options());
  const int64_t* pi = index.data_ptr<int64_t>();
  const float* pg = grad.data_ptr<float>();
  float* po = out.data_ptr<float>();
  int64_t bad = -1;  // the first out-of-range position (task 0 reads every id and checks it)
  // one task per thread (a row range each); small work in one task (threads cost more there:
  // an FM's first-order [8192, 1] gradient took 35 us on 2 threads against 18 us on one)
  const bool small = n * width < kMinParallel || num_rows < 64;
  const int64_t tasks = small ? 1 : std::min<int64_t>(at::get_num_threads(), num_rows / 64);
  at::parallel_for(0, tasks, 1, [&](int64_t t_lo, int64_t t_hi) {
    for (int64_t t = t_lo; t < t_hi; ++t) {
      const int64_t lo = num_rows * t / tasks, hi = num_rows * (t + 1) / tasks;
      std::memset(po + lo * width, 0, sizeof(float) * (hi - lo) * width);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = pi[i];
        if (r >= lo && r < hi) {
          add_row(po + r * width, pg + i * width, width);
        } else if (t == 0 && bad < 0 && (r < 0 || r >= num_rows)) {
          bad = i;
        }
      }
    }
  });
  TORCH_CHECK(bad < 0, "index ", pi[std::max<int64_t>(bad, 0)], " at position ", bad,
              " out of range for ", num_rows, " rows");
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("accumulate_rows", &accumulate_rows,
        "out [num_rows, width]: grad rows summed per index, in index order (index_add_'s sums)");
}
