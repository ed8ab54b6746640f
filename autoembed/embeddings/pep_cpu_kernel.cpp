// PEP's soft threshold on CPU, fused into one pass forward and one pass backward.
// The same arithmetic as the unfused torch ops in pep_threshold.py (ATen's vectorised sigmoid,
// clamp, sigmoid_backward), in the same order, so results match them.
//
// s has one entry per entry of v ([R, D]) or one per row ([R, 1]).
// forward(v, s) -> (out, g): g = sigmoid(s); out = v - clamp(v, -g, g)
// backward_(grad, out, g): in place, grad <- grad * [out != 0]                       (dV)
//                                     g    <- -(grad * sign(out) [summed per row]) * (1 - g) * g
//                                                                                        (ds)
// lookup_forward(v, s, ids) -> (out, g, slot), lookup_backward_(grad, v, s, g, slot): the same
// for the table rows ids names, read in place from the whole table (no pass over the rows it does
// not name; ds is zeroed there); sigmoid once per named row, shared by both directions.
// shared_forward(v, g, ids, s_index) -> out, shared_backward(grad, out, ids, s_index, g)
// -> (dV per id, ds): thresholds shared by many rows (global, dimension, field, field_dim;
// g = sigmoid(s) taken by the caller), per id: no distinct-row pass, no pass over the table;
// shared_table_backward_(dv, v, g, s_index) -> ds: the backward by the table (in place on the
// batch's gradients summed per row) for a batch with more ids than the table has rows.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kGrain = 32768;

inline Vec sigmoid(const Vec& s) { return ((Vec(0.0f) - s).exp() + Vec(1.0f)).reciprocal(); }

void check(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == at::kFloat, name, " must be float32");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

inline float sigmoid(float s) { return 1.0f / (1.0f + std::exp(-s)); }

// v - clamp(v, -g, g)
inline Vec shrink(const Vec& v, const Vec& g) {
  return v - at::vec::minimum(at::vec::maximum(v, Vec(0.0f) - g), g);
}
inline float shrink(float v, float g) { return v - std::min(std::max(v, -g), g); }

// From the incoming gradient d and the forward's output o: d where o != 0 (dV, returned) and
// d * sign(o) (into signed_grad).
inline Vec split(const Vec& d, const Vec& o, Vec& signed_grad) {
  const Vec zero(0.0f);
  Vec pos = d & (o > zero), neg = d & (o < zero);
  signed_grad = pos - neg;
  return pos | neg;
}
inline float split(float d, float o, float& signed_grad) {
  float sign = o > 0.0f ? 1.0f : (o < 0.0f ? -1.0f : 0.0f);
  signed_grad = d * sign;
  return sign != 0.0f ? d : 0.0f;
}

// ds from the summed d * sign(o) and g: -(signed * (1 - g)) * g (ATen's sigmoid_backward order)
inline Vec threshold_grad(const Vec& signed_grad, const Vec& g) {
  return ((signed_grad * (Vec(1.0f) - g)) * g).neg();
}
inline float threshold_grad(float signed_grad, float g) {
  return -((signed_grad * (1.0f - g)) * g);
}

std::vector<at::Tensor> forward_entries(const at::Tensor& v, const at::Tensor& s) {
  auto out = at::empty_like(v);
  auto g = at::empty_like(s);
  const float* pv = v.data_ptr<float>();
  const float* ps = s.data_ptr<float>();
  float* po = out.data_ptr<float>();
  float* pg = g.data_ptr<float>();
  at::parallel_for(0, v.numel(), kGrain, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + Vec::size() <= end; i += Vec::size()) {
      Vec gv = sigmoid(Vec::loadu(ps + i));
      shrink(Vec::loadu(pv + i), gv).store(po + i);
      gv.store(pg + i);
    }
    for (; i < end; ++i) {
      pg[i] = sigmoid(ps[i]);
      po[i] = shrink(pv[i], pg[i]);
    }
  });
  return {out, g};
}

void backward_entries_(at::Tensor& grad, const at::Tensor& out, at::Tensor& g) {
  float* pd = grad.data_ptr<float>();
  const float* po = out.data_ptr<float>();
  float* pg = g.data_ptr<float>();
  at::parallel_for(0, grad.numel(), kGrain, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + Vec::size() <= end; i += Vec::size()) {
      Vec signed_grad;
      Vec passed = split(Vec::loadu(pd + i), Vec::loadu(po + i), signed_grad);
      threshold_grad(signed_grad, Vec::loadu(pg + i)).store(pg + i);
      passed.store(pd + i);
    }
    for (; i < end; ++i) {
      float signed_grad;
      pd[i] = split(pd[i], po[i], signed_grad);
      pg[i] = threshold_grad(signed_grad, pg[i]);
    }
  });
}

// One threshold per row: g[r] = sigmoid(s[r]) for every entry of row r.
std::vector<at::Tensor> forward_rows(const at::Tensor& v, const at::Tensor& s) {
  auto out = at::empty_like(v);
  auto g = at::sigmoid(s);
  const int64_t dim = v.size(1);
  const float* pv = v.data_ptr<float>();
  const float* pg = g.data_ptr<float>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, v.size(0), std::max<int64_t>(1, kGrain / dim), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* row = pv + r * dim;
      float* dst = po + r * dim;
      const Vec gv(pg[r]);
      int64_t d = 0;
      for (; d + Vec::size() <= dim; d += Vec::size()) shrink(Vec::loadu(row + d), gv).store(dst + d);
      for (; d < dim; ++d) dst[d] = shrink(row[d], pg[r]);
    }
  });
  return {out, g};
}

void backward_rows_(at::Tensor& grad, const at::Tensor& out, at::Tensor& g) {
  const int64_t dim = grad.size(1);
  float* pd = grad.data_ptr<float>();
  const float* po = out.data_ptr<float>();
  float* pg = g.data_ptr<float>();
  at::parallel_for(0, grad.size(0), std::max<int64_t>(1, kGrain / dim), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      float* drow = pd + r * dim;
      const float* orow = po + r * dim;
      Vec acc(0.0f);
      float sum = 0.0f;
      int64_t d = 0;
      for (; d + Vec::size() <= dim; d += Vec::size()) {
        Vec signed_grad;
        split(Vec::loadu(drow + d), Vec::loadu(orow + d), signed_grad).store(drow + d);
        acc = acc + signed_grad;
      }
      for (; d < dim; ++d) {
        float signed_grad;
        drow[d] = split(drow[d], orow[d], signed_grad);
        sum += signed_grad;
      }
      float lanes[Vec::size()];
      acc.store(lanes);
      for (int64_t k = 0; k < Vec::size(); ++k) sum += lanes[k];
      pg[r] = threshold_grad(sum, pg[r]);
    }
  });
}

// Rows named by ids, thresholded, without a table-sized pass: out[i] = shrink(v[r], g[r]) for
// r = ids[i], g = sigmoid(s[r]). Each named row's g is computed once (per distinct row, not per
// id) into a [distinct rows, s_dim] buffer that the backward reuses (no second sigmoid), found
// through slot ([table rows], int32: the row's place in that buffer, -1 if not named; with one
// s per row, g is torch's sigmoid of the whole [rows, 1] s, indexed by row). Every row
// is computed in vector chunks (a short last chunk with partial loads), so each entry gets the
// same vector arithmetic as forward_entries.
// Returns (out [ids, D], g [distinct rows, D] or [rows, 1], slot [table rows]).
std::vector<at::Tensor> lookup_forward(const at::Tensor& v, const at::Tensor& s, const at::Tensor& ids) {
  const int64_t rows = v.size(0), dim = v.size(1), n = ids.numel(), s_dim = s.size(1);
  const bool per_row = s_dim == 1;
  TORCH_CHECK(ids.device().is_cpu() && ids.scalar_type() == at::kLong && ids.is_contiguous(),
              "ids must be contiguous int64 on the CPU");
  TORCH_CHECK(rows < (int64_t(1) << 31), "the table has too many rows for the lookup kernel");
  auto slot = at::empty({rows}, ids.options().dtype(at::kInt));
  int32_t* pslot = slot.data_ptr<int32_t>();
  std::fill(pslot, pslot + rows, -1);
  const int64_t* pi = ids.data_ptr<int64_t>();
  std::vector<int64_t> named;  // distinct rows, in order of first appearance
  named.reserve(std::min(n, rows));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = pi[i];
    TORCH_CHECK(r >= 0 && r < rows, "id ", r, " out of range for ", rows, " rows");
    if (pslot[r] < 0) {
      pslot[r] = static_cast<int32_t>(named.size());
      named.push_back(r);
    }
  }
  const int64_t distinct = static_cast<int64_t>(named.size());
  // per row: torch's sigmoid of the whole [rows, 1] (as forward_rows; cheap), indexed by row
  auto g = per_row ? at::sigmoid(s) : at::empty({distinct, s_dim}, v.options());
  float* pg = g.data_ptr<float>();
  if (!per_row) {
    const float* ps = s.data_ptr<float>();
    at::parallel_for(0, distinct, std::max<int64_t>(1, kGrain / dim), [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        const float* src = ps + named[k] * dim;
        float* dst = pg + k * dim;
        for (int64_t d = 0; d < dim; d += Vec::size()) {
          const int64_t c = std::min<int64_t>(Vec::size(), dim - d);
          sigmoid(Vec::loadu(src + d, c)).store(dst + d, c);
        }
      }
    });
  }
  auto out = at::empty({n, dim}, v.options());
  const float* pv = v.data_ptr<float>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, n, std::max<int64_t>(1, kGrain / dim), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t r = pi[i];
      const float* row = pv + r * dim;
      const float* grow = per_row ? pg + r : pg + int64_t(pslot[r]) * dim;
      float* dst = po + i * dim;
      for (int64_t d = 0; d < dim; d += Vec::size()) {
        const int64_t k = std::min<int64_t>(Vec::size(), dim - d);
        const Vec gv = per_row ? Vec(grow[0]) : Vec::loadu(grow + d, k);
        shrink(Vec::loadu(row + d, k), gv).store(dst + d, k);
      }
    }
  });
  return {out, g, slot};
}

// grad: the batch's gradients summed per table row ([N, D], zero on rows no id names), in place
// -> dV. Returns ds (s's shape): the reference's gradient on the named rows, 0 elsewhere. Only
// the named rows are read (v; g and slot from lookup_forward); the rest of ds is zeroed.
at::Tensor lookup_backward_(at::Tensor& grad, const at::Tensor& v, const at::Tensor& s,
                            const at::Tensor& g, const at::Tensor& slot) {
  const int64_t rows = v.size(0), dim = v.size(1), s_dim = s.size(1);
  const bool per_row = s_dim == 1;
  auto ds = at::empty_like(s);
  const float* pv = v.data_ptr<float>();
  const float* pg = g.data_ptr<float>();
  const int32_t* pslot = slot.data_ptr<int32_t>();
  float* pd = grad.data_ptr<float>();
  float* pds = ds.data_ptr<float>();
  at::parallel_for(0, rows, std::max<int64_t>(1, kGrain / dim), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      float* ds_row = pds + r * s_dim;
      if (pslot[r] < 0) {
        std::fill(ds_row, ds_row + s_dim, 0.0f);
        continue;
      }
      const float* grow = per_row ? pg + r : pg + int64_t(pslot[r]) * dim;
      const float* vrow = pv + r * dim;
      float* drow = pd + r * dim;
      Vec acc(0.0f);
      for (int64_t d = 0; d < dim; d += Vec::size()) {
        const int64_t k = std::min<int64_t>(Vec::size(), dim - d);
        const Vec gv = per_row ? Vec(grow[0]) : Vec::loadu(grow + d, k);
        const Vec out = shrink(Vec::loadu(vrow + d, k), gv);
        Vec signed_grad;
        split(Vec::loadu(drow + d, k), out, signed_grad).store(drow + d, k);
        if (per_row) {
          acc = acc + signed_grad;  // partial loads zero the unused lanes
        } else {
          threshold_grad(signed_grad, gv).store(ds_row + d, k);
        }
      }
      if (per_row) {
        float lanes[Vec::size()];
        acc.store(lanes);
        float sum = 0.0f;
        for (int64_t k = 0; k < Vec::size(); ++k) sum += lanes[k];
        ds_row[0] = threshold_grad(sum, grow[0]);
      }
    }
  });
  return ds;
}

// Row k of the shared thresholds for table row r: s_index[r] (field), else 0 (global, dimension).
inline int64_t shared_row(const int64_t* index, int64_t r) { return index ? index[r] : 0; }

// Lowers first to i (the first bad position seen by any thread).
inline void note_bad(std::atomic<int64_t>& first, int64_t i) {
  int64_t seen = first.load();
  while (i < seen && !first.compare_exchange_weak(seen, i)) {
  }
}

// out[i] = shrink(v[ids[i]], g[k]) for k = shared_row(ids[i]); g [S, 1] (broadcast) or [S, D].
// An id out of range (or a row whose threshold row is) is reported by its first position.
at::Tensor shared_forward(const at::Tensor& v, const at::Tensor& g, const at::Tensor& ids,
                          const at::Tensor& s_index) {
  TORCH_CHECK(ids.device().is_cpu() && ids.scalar_type() == at::kLong && ids.is_contiguous(),
              "ids must be contiguous int64 on the CPU");
  const int64_t rows = v.size(0), dim = v.size(1), n = ids.numel(), S = g.size(0);
  const bool per_row = g.size(1) == 1;
  auto out = at::empty({n, dim}, v.options());
  const float* pv = v.data_ptr<float>();
  const float* pg = g.data_ptr<float>();
  const int64_t* pi = ids.data_ptr<int64_t>();
  const int64_t* px = s_index.numel() ? s_index.data_ptr<int64_t>() : nullptr;
  float* po = out.data_ptr<float>();
  std::atomic<int64_t> first_bad{n};
  at::parallel_for(0, n, std::max<int64_t>(1, kGrain / dim), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t r = pi[i];
      const int64_t k = (r >= 0 && r < rows) ? shared_row(px, r) : -1;
      if (k < 0 || k >= S) {
        note_bad(first_bad, i);
        continue;
      }
      const float* row = pv + r * dim;
      const float* grow = pg + k * (per_row ? 1 : dim);
      float* dst = po + i * dim;
      int64_t d = 0;
      for (; d + Vec::size() <= dim; d += Vec::size()) {
        const Vec gv = per_row ? Vec(grow[0]) : Vec::loadu(grow + d);
        shrink(Vec::loadu(row + d), gv).store(dst + d);
      }
      if (d < dim) {  // a short last chunk, same arithmetic
        const int64_t c = dim - d;
        const Vec gv = per_row ? Vec(grow[0]) : Vec::loadu(grow + d, c);
        shrink(Vec::loadu(row + d, c), gv).store(dst + d, c);
      }
    }
  });
  const int64_t bad = first_bad.load();
  if (bad < n) {
    const int64_t r = pi[bad];
    TORCH_CHECK(r >= 0 && r < rows, "id ", r, " at position ", bad, " out of range for ", rows,
                " rows");
    TORCH_CHECK(false, "row ", r, " maps to threshold row ", shared_row(px, r), " of ", S);
  }
  return out;
}

// ds [S, gd] from per-block partial sums [blocks, S, D] of grad * sign(out): the blocks added in
// order, then (gd == 1) the D columns in order; ds = -(signed * (1 - g)) * g.
at::Tensor reduce_shared(const at::Tensor& partial, const at::Tensor& g) {
  const int64_t blocks = partial.size(0), dim = partial.size(2), S = g.size(0), gd = g.size(1);
  const float* pacc = partial.data_ptr<float>();
  const float* pg = g.data_ptr<float>();
  auto ds = at::empty({S, gd}, g.options());
  float* pds = ds.data_ptr<float>();
  std::vector<float> total(dim);
  for (int64_t k = 0; k < S; ++k) {
    std::fill(total.begin(), total.end(), 0.0f);
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t d = 0; d < dim; ++d) total[d] += pacc[(b * S + k) * dim + d];
    if (gd == 1) {
      float sum = 0.0f;
      for (int64_t d = 0; d < dim; ++d) sum += total[d];
      pds[k] = threshold_grad(sum, pg[k]);
    } else {
      for (int64_t d = 0; d < dim; ++d) pds[k * dim + d] = threshold_grad(total[d], pg[k * dim + d]);
    }
  }
  return ds;
}

constexpr int64_t kSharedBlock = 1024;  // ids per partial sum: fixed, so sums do not depend on threads

// From the incoming gradient grad [n, D], the forward's out and g = sigmoid(s) [S, gd]: (dV per
// id: grad where out != 0, else 0; ds [S, gd]: -(signed * (1 - g)) * g, where signed sums
// grad * sign(out) over the ids of each threshold row, and over d too where gd == 1). Each block
// of kSharedBlock ids sums into its own [S, D] partial; partials are added in block order, then
// over d in order: the same bits on any thread count.
std::vector<at::Tensor> shared_backward(const at::Tensor& grad, const at::Tensor& out,
                                        const at::Tensor& ids, const at::Tensor& s_index,
                                        const at::Tensor& g) {
  const int64_t n = grad.size(0), dim = grad.size(1), S = g.size(0), gd = g.size(1);
  const int64_t blocks = (n + kSharedBlock - 1) / kSharedBlock;
  auto passed = at::empty_like(grad);
  auto partial = at::zeros({std::max<int64_t>(blocks, 1), S, dim}, grad.options());
  const float* pd = grad.data_ptr<float>();
  const float* po = out.data_ptr<float>();
  const int64_t* pi = ids.data_ptr<int64_t>();
  const int64_t* px = s_index.numel() ? s_index.data_ptr<int64_t>() : nullptr;
  float* pp = passed.data_ptr<float>();
  float* pacc = partial.data_ptr<float>();
  at::parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      float* acc = pacc + b * S * dim;
      for (int64_t i = b * kSharedBlock; i < std::min(n, (b + 1) * kSharedBlock); ++i) {
        float* sums = acc + shared_row(px, pi[i]) * dim;
        for (int64_t d = 0; d < dim; d += Vec::size()) {
          const int64_t c = std::min<int64_t>(Vec::size(), dim - d);
          Vec signed_grad;
          split(Vec::loadu(pd + i * dim + d, c), Vec::loadu(po + i * dim + d, c), signed_grad)
              .store(pp + i * dim + d, c);
          (Vec::loadu(sums + d, c) + signed_grad).store(sums + d, c);
        }
      }
    }
  });
  auto ds = reduce_shared(partial, g);
  return {passed, ds};
}

constexpr int64_t kSharedRowBlock = 2048;  // table rows per partial sum (fixed, as above)

// The backward by the table, for a batch with more ids than the table has rows: dv holds the
// batch's gradients summed per row (accumulate_rows of the incoming gradient); in place,
// dv <- dv where out != 0 (out = shrink(v, g), recomputed per row: the same for every id of a
// row), and returns ds as shared_backward does, summing dv * sign(out) over the rows of each
// threshold row in fixed blocks of kSharedRowBlock rows, then in block order.
at::Tensor shared_table_backward_(at::Tensor& dv, const at::Tensor& v, const at::Tensor& g,
                                  const at::Tensor& s_index) {
  const int64_t rows = v.size(0), dim = v.size(1), S = g.size(0), gd = g.size(1);
  const bool per_row = gd == 1;
  const int64_t blocks = (rows + kSharedRowBlock - 1) / kSharedRowBlock;
  auto partial = at::zeros({std::max<int64_t>(blocks, 1), S, dim}, v.options());
  const float* pv = v.data_ptr<float>();
  const float* pg = g.data_ptr<float>();
  const int64_t* px = s_index.numel() ? s_index.data_ptr<int64_t>() : nullptr;
  float* pd = dv.data_ptr<float>();
  float* pacc = partial.data_ptr<float>();
  std::atomic<int64_t> first_bad{rows};
  at::parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      float* acc = pacc + b * S * dim;
      for (int64_t r = b * kSharedRowBlock; r < std::min(rows, (b + 1) * kSharedRowBlock); ++r) {
        const int64_t k = shared_row(px, r);
        if (k < 0 || k >= S) {
          note_bad(first_bad, r);
          continue;
        }
        const float* grow = pg + k * (per_row ? 1 : dim);
        float* sums = acc + k * dim;
        for (int64_t d = 0; d < dim; d += Vec::size()) {
          const int64_t c = std::min<int64_t>(Vec::size(), dim - d);
          const Vec gv = per_row ? Vec(grow[0]) : Vec::loadu(grow + d, c);
          const Vec out = shrink(Vec::loadu(pv + r * dim + d, c), gv);
          Vec signed_grad;
          split(Vec::loadu(pd + r * dim + d, c), out, signed_grad).store(pd + r * dim + d, c);
          (Vec::loadu(sums + d, c) + signed_grad).store(sums + d, c);
        }
      }
    }
  });
  const int64_t bad = first_bad.load();
  TORCH_CHECK(bad == rows, "row ", bad, " maps to threshold row ", shared_row(px, bad), " of ", S);
  return reduce_shared(partial, g);
}

}  // namespace

std::vector<at::Tensor> pep_forward(const at::Tensor& v, const at::Tensor& s) {
  check(v, "v");
  check(s, "s");
  TORCH_CHECK(v.dim() == 2, "v must be 2-D [rows, dim]");
  if (s.sizes() == v.sizes()) return forward_entries(v, s);
  TORCH_CHECK(s.dim() == 2 && s.size(0) == v.size(0) && s.size(1) == 1,
              "s must be [rows, dim] or [rows, 1]");
  return forward_rows(v, s);
}

void pep_backward_(at::Tensor& grad, const at::Tensor& out, at::Tensor& g) {
  check(grad, "grad");
  check(out, "out");
  check(g, "g");
  TORCH_CHECK(grad.sizes() == out.sizes(), "grad and out must have one shape");
  if (g.sizes() == grad.sizes()) return backward_entries_(grad, out, g);
  TORCH_CHECK(g.dim() == 2 && g.size(0) == grad.size(0) && g.size(1) == 1,
              "g must be [rows, dim] or [rows, 1]");
  backward_rows_(grad, out, g);
}

void check_lookup(const at::Tensor& v, const at::Tensor& s) {
  check(v, "v");
  check(s, "s");
  TORCH_CHECK(v.dim() == 2 && s.dim() == 2 && s.size(0) == v.size(0) &&
              (s.size(1) == v.size(1) || s.size(1) == 1), "s must be [rows, dim] or [rows, 1]");
}

std::vector<at::Tensor> pep_lookup_forward(const at::Tensor& v, const at::Tensor& s,
                                           const at::Tensor& ids) {
  check_lookup(v, s);
  return lookup_forward(v, s, ids);
}

at::Tensor pep_lookup_backward_(at::Tensor& grad, const at::Tensor& v, const at::Tensor& s,
                                const at::Tensor& g, const at::Tensor& slot) {
  check_lookup(v, s);
  check(grad, "grad");
  check(g, "g");
  TORCH_CHECK(grad.sizes() == v.sizes(), "grad must have v's shape");
  TORCH_CHECK(slot.scalar_type() == at::kInt && slot.is_contiguous() && slot.numel() == v.size(0),
              "slot must be lookup_forward's int32 [rows]");
  TORCH_CHECK(g.dim() == 2 && g.size(1) == s.size(1), "g must be lookup_forward's");
  return lookup_backward_(grad, v, s, g, slot);
}

void check_shared(const at::Tensor& v, const at::Tensor& g, const at::Tensor& s_index) {
  check(v, "v");
  check(g, "g");
  TORCH_CHECK(v.dim() == 2 && g.dim() == 2 && (g.size(1) == 1 || g.size(1) == v.size(1)),
              "g must be [S, 1] or [S, dim]");
  TORCH_CHECK(s_index.numel() == 0 || (s_index.scalar_type() == at::kLong &&
              s_index.is_contiguous() && s_index.numel() == v.size(0)),
              "s_index must be empty or contiguous int64 [rows]");
  TORCH_CHECK(s_index.numel() > 0 || g.size(0) == 1, "g has several rows but no s_index");
}

at::Tensor pep_shared_forward(const at::Tensor& v, const at::Tensor& g, const at::Tensor& ids,
                              const at::Tensor& s_index) {
  check_shared(v, g, s_index);
  return shared_forward(v, g, ids, s_index);
}

std::vector<at::Tensor> pep_shared_backward(const at::Tensor& grad, const at::Tensor& out,
                                            const at::Tensor& ids, const at::Tensor& s_index,
                                            const at::Tensor& g) {
  check(grad, "grad");
  check(out, "out");
  check(g, "g");
  TORCH_CHECK(grad.dim() == 2 && grad.sizes() == out.sizes() && ids.numel() == grad.size(0),
              "grad and out must be [ids, dim]");
  TORCH_CHECK(ids.scalar_type() == at::kLong && ids.is_contiguous(), "ids must be contiguous int64");
  TORCH_CHECK(g.dim() == 2 && (g.size(1) == 1 || g.size(1) == grad.size(1)),
              "g must be [S, 1] or [S, dim]");
  return shared_backward(grad, out, ids, s_index, g);
}

at::Tensor pep_shared_table_backward_(at::Tensor& dv, const at::Tensor& v, const at::Tensor& g,
                                      const at::Tensor& s_index) {
  check_shared(v, g, s_index);
  check(dv, "dv");
  TORCH_CHECK(dv.sizes() == v.sizes(), "dv must have v's shape");
  return shared_table_backward_(dv, v, g, s_index);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("shared_table_backward_", &pep_shared_table_backward_,
        "in place: dv (the batch's gradients summed per row) <- dV; returns ds (shared s)");
  m.def("shared_forward", &pep_shared_forward,
        "out[i] = shrink(v[ids[i]], g[s_index[ids[i]] or 0]) for thresholds shared by rows");
  m.def("shared_backward", &pep_shared_backward,
        "(dV per id, ds) from the incoming gradient, the forward's output and g");
  m.def("lookup_forward", &pep_lookup_forward,
        "(out, g, slot): out[i] = shrink(v[ids[i]], sigmoid(s[ids[i]])), g once per named row");
  m.def("lookup_backward_", &pep_lookup_backward_,
        "in place: grad (summed per row) <- dV; returns ds (0 on rows ids does not name)");
  m.def("forward", &pep_forward, "g = sigmoid(s); out = v - clamp(v, -g, g)");
  m.def("backward_", &pep_backward_, "in place: grad <- dV, g <- ds");
}
