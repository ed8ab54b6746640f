// PEP's per-entry soft threshold on CPU, fused into one pass forward and one pass backward.
// The same arithmetic as the unfused torch ops in pep_threshold.py (ATen's vectorised sigmoid,
// clamp, sigmoid_backward), in the same order, so results match them.
//
// s has one entry per entry of v ([R, D]) or one per row ([R, 1]).
// forward(v, s) -> (out, g): g = sigmoid(s); out = v - clamp(v, -g, g)
// backward_(grad, out, g): in place, grad <- grad * [out != 0]                       (dV)
//                                     g    <- -(grad * sign(out) [summed per row]) * (1 - g) * g
//                                                                                        (ds)
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
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

std::vector<at::Tensor> forward_entries(const at::Tensor& v, const at::Tensor& s) {
  check(v, "v");
  check(s, "s");
  auto out = at::empty_like(v);
  auto g = at::empty_like(s);
  const float* pv = v.data_ptr<float>();
  const float* ps = s.data_ptr<float>();
  float* po = out.data_ptr<float>();
  float* pg = g.data_ptr<float>();
  at::parallel_for(0, v.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const Vec zero(0.0f), one(1.0f);
    int64_t i = begin;
    for (; i + Vec::size() <= end; i += Vec::size()) {
      Vec gv = sigmoid(Vec::loadu(ps + i));
      Vec vv = Vec::loadu(pv + i);
      Vec clamped = at::vec::minimum(at::vec::maximum(vv, zero - gv), gv);
      (vv - clamped).store(po + i);
      gv.store(pg + i);
    }
    for (; i < end; ++i) {
      float gi = sigmoid(ps[i]);
      float clamped = std::min(std::max(pv[i], -gi), gi);
      po[i] = pv[i] - clamped;
      pg[i] = gi;
    }
  });
  return {out, g};
}

void backward_entries_(at::Tensor& grad, const at::Tensor& out, at::Tensor& g) {
  check(grad, "grad");
  check(out, "out");
  check(g, "g");
  float* pd = grad.data_ptr<float>();
  const float* po = out.data_ptr<float>();
  float* pg = g.data_ptr<float>();
  at::parallel_for(0, grad.numel(), kGrain, [&](int64_t begin, int64_t end) {
    const Vec zero(0.0f), one(1.0f);
    int64_t i = begin;
    for (; i + Vec::size() <= end; i += Vec::size()) {
      Vec d = Vec::loadu(pd + i);
      Vec o = Vec::loadu(po + i);
      Vec gv = Vec::loadu(pg + i);
      Vec pos = d & (o > zero);
      Vec neg = d & (o < zero);
      Vec signed_grad = pos - neg;  // grad * sign(out)
      ((signed_grad * (one - gv)) * gv).neg().store(pg + i);
      (pos | neg).store(pd + i);  // grad where |v| > g, else 0
    }
    for (; i < end; ++i) {
      float sign = po[i] > 0.0f ? 1.0f : (po[i] < 0.0f ? -1.0f : 0.0f);
      float signed_grad = pd[i] * sign;
      pg[i] = -((signed_grad * (1.0f - pg[i])) * pg[i]);
      pd[i] = sign != 0.0f ? pd[i] : 0.0f;
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
      const Vec gv(pg[r]), neg_g(-pg[r]);
      int64_t d = 0;
      for (; d + Vec::size() <= dim; d += Vec::size()) {
        Vec vv = Vec::loadu(row + d);
        (vv - at::vec::minimum(at::vec::maximum(vv, neg_g), gv)).store(dst + d);
      }
      for (; d < dim; ++d) dst[d] = row[d] - std::min(std::max(row[d], -pg[r]), pg[r]);
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
    const Vec zero(0.0f);
    for (int64_t r = lo; r < hi; ++r) {
      float* drow = pd + r * dim;
      const float* orow = po + r * dim;
      Vec acc(0.0f);
      float tail = 0.0f;
      int64_t d = 0;
      for (; d + Vec::size() <= dim; d += Vec::size()) {
        Vec dv = Vec::loadu(drow + d);
        Vec ov = Vec::loadu(orow + d);
        Vec pos = dv & (ov > zero);
        Vec neg = dv & (ov < zero);
        acc = acc + (pos - neg);
        (pos | neg).store(drow + d);
      }
      for (; d < dim; ++d) {
        float sign = orow[d] > 0.0f ? 1.0f : (orow[d] < 0.0f ? -1.0f : 0.0f);
        tail += drow[d] * sign;
        drow[d] = sign != 0.0f ? drow[d] : 0.0f;
      }
      float lanes[Vec::size()];
      acc.store(lanes);
      float sum = tail;
      for (int64_t k = 0; k < Vec::size(); ++k) sum += lanes[k];
      pg[r] = -((sum * (1.0f - pg[r])) * pg[r]);
    }
  });
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

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &pep_forward, "g = sigmoid(s); out = v - clamp(v, -g, g)");
  m.def("backward_", &pep_backward_, "in place: grad <- dV, g <- ds");
}
