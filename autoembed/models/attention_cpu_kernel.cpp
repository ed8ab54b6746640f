// AutoInt's multi-head self-attention core on CPU: softmax(q k^T * scale) v, one (sample, head)
// at a time in cache, read straight from the qkv projection's output and written straight in the
// layout the next layer reads (no per-head copies, no batched products of 8x16 matrices).
//
// qkv: [B, F, 3 * H * d] float32 (q, k, v, each H heads of d); out: [B, F, H * d];
// prob: [B, H, F, F], the softmax, saved for the backward:
//   dV_j = sum_i P_ij dO_i;  dP_ij = dO_i . v_j;  dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij') scale
//   dQ_i = sum_j dS_ij k_j;  dK_j = sum_i dS_ij q_i
// Any F and d (a last partial vector where d is not a multiple of the vector width).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/cpu/vec/functional.h>
#include <cmath>
#include <limits>
#include <vector>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t kW = Vec::size();

// n <= kW floats: a full vector, or a partial one (zero-filled past n)
inline Vec ld(const float* p, int64_t n) { return n == kW ? Vec::loadu(p) : Vec::loadu(p, n); }
inline void st(const Vec& v, float* p, int64_t n) {
  if (n == kW) v.store(p); else v.store(p, n);
}

struct Shape {
  int64_t B, F, H, d, Fp, width, row;
  Shape(int64_t B_, int64_t F_, int64_t H_, int64_t d_)
      : B(B_), F(F_), H(H_), d(d_), Fp((F_ + kW - 1) / kW * kW), width(H_ * d_), row(3 * H_ * d_) {}
};

// k and v of one (sample, head), transposed and zero-padded to [d][Fp].
inline void transpose_kv(const float* base, const Shape& s, float* kt, float* vt) {
  for (int64_t i = 0; i < s.F; ++i) {
    const float* r = base + i * s.row;
    for (int64_t t = 0; t < s.d; ++t) {
      kt[t * s.Fp + i] = r[s.width + t];
      vt[t * s.Fp + i] = r[2 * s.width + t];
    }
  }
}

// y[0:Fp] = sum_t a[t] * bt[t][0:Fp]
inline void row_times(const float* a, const float* bt, const Shape& s, float* y) {
  for (int64_t j = 0; j < s.Fp; j += kW) {
    Vec acc(0.f);
    for (int64_t t = 0; t < s.d; ++t) acc = at::vec::fmadd(Vec(a[t]), Vec::loadu(bt + t * s.Fp + j), acc);
    acc.store(y + j);
  }
}

void forward_impl(const float* qkv, float* out, float* prob, const Shape& s, float scale) {
  at::parallel_for(0, s.B, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> buf(3 * s.d * s.Fp, 0.f);
    float *kt = buf.data(), *vt = kt + s.d * s.Fp, *e = vt + s.d * s.Fp;
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t h = 0; h < s.H; ++h) {
        const float* base = qkv + b * s.F * s.row + h * s.d;
        transpose_kv(base, s, kt, vt);
        float* p = prob + ((b * s.H + h) * s.F) * s.F;
        for (int64_t i = 0; i < s.F; ++i) {
          row_times(base + i * s.row, kt, s, e);
          float mx = e[0];
          for (int64_t j = 1; j < s.F; ++j) mx = std::max(mx, e[j]);
          Vec sum(0.f);
          for (int64_t j = 0; j < s.Fp; j += kW) {
            Vec x = ((Vec::loadu(e + j) - Vec(mx)) * Vec(scale)).exp();
            x.store(e + j);
          }
          float total = 0.f;
          for (int64_t j = 0; j < s.F; ++j) total += e[j];
          const float inv = 1.f / total;
          float* pi = p + i * s.F;
          for (int64_t j = 0; j < s.F; ++j) pi[j] = e[j] * inv;
          float* o = out + (b * s.F + i) * s.width + h * s.d;
          for (int64_t t = 0; t < s.d; t += kW) {
            const int64_t n = std::min(kW, s.d - t);
            Vec acc(0.f);
            for (int64_t j = 0; j < s.F; ++j)
              acc = at::vec::fmadd(Vec(pi[j]), ld(base + 2 * s.width + j * s.row + t, n), acc);
            st(acc, o + t, n);
          }
        }
      }
    }
  });
}

void backward_impl(const float* gout, const float* qkv, const float* prob, float* gqkv, const Shape& s,
                   float scale) {
  at::parallel_for(0, s.B, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> buf(2 * s.d * s.Fp + 2 * s.F * s.d + s.Fp, 0.f);
    float *kt = buf.data(), *vt = kt + s.d * s.Fp, *dk = vt + s.d * s.Fp, *dv = dk + s.F * s.d,
          *ds = dv + s.F * s.d;
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t h = 0; h < s.H; ++h) {
        const int64_t off = b * s.F * s.row + h * s.d;
        const float* base = qkv + off;
        transpose_kv(base, s, kt, vt);
        const float* p = prob + ((b * s.H + h) * s.F) * s.F;
        std::fill(dk, dk + 2 * s.F * s.d, 0.f);
        float* gb = gqkv + off;
        for (int64_t i = 0; i < s.F; ++i) {
          const float* go = gout + (b * s.F + i) * s.width + h * s.d;
          const float* pi = p + i * s.F;
          row_times(go, vt, s, ds);  // dP_i
          float r = 0.f;
          for (int64_t j = 0; j < s.F; ++j) r += pi[j] * ds[j];
          for (int64_t j = 0; j < s.F; ++j) ds[j] = pi[j] * (ds[j] - r) * scale;  // dS_i
          const float* qi = base + i * s.row;
          float* dq = gb + i * s.row;
          for (int64_t t = 0; t < s.d; t += kW) {
            const int64_t n = std::min(kW, s.d - t);
            const Vec got = ld(go + t, n), qit = ld(qi + t, n);
            Vec acc(0.f);
            for (int64_t j = 0; j < s.F; ++j) {
              const Vec g(ds[j]);
              acc = at::vec::fmadd(g, ld(base + s.width + j * s.row + t, n), acc);
              st(at::vec::fmadd(g, qit, ld(dk + j * s.d + t, n)), dk + j * s.d + t, n);
              st(at::vec::fmadd(Vec(pi[j]), got, ld(dv + j * s.d + t, n)), dv + j * s.d + t, n);
            }
            st(acc, dq + t, n);
          }
        }
        for (int64_t i = 0; i < s.F; ++i)
          for (int64_t t = 0; t < s.d; t += kW) {
            const int64_t n = std::min(kW, s.d - t);
            st(ld(dk + i * s.d + t, n), gb + i * s.row + s.width + t, n);
            st(ld(dv + i * s.d + t, n), gb + i * s.row + 2 * s.width + t, n);
          }
      }
    }
  });
}

void check(const at::Tensor& qkv, int64_t heads) {
  TORCH_CHECK(qkv.device().is_cpu() && qkv.scalar_type() == at::kFloat && qkv.is_contiguous(),
              "qkv must be a contiguous float32 CPU tensor");
  TORCH_CHECK(qkv.dim() == 3 && heads > 0 && qkv.size(2) % (3 * heads) == 0,
              "qkv must be [B, F, 3 * heads * d]");
}

}  // namespace

std::vector<at::Tensor> forward(const at::Tensor& qkv, int64_t heads, double scale) {
  check(qkv, heads);
  const Shape s(qkv.size(0), qkv.size(1), heads, qkv.size(2) / 3 / heads);
  auto out = at::empty({s.B, s.F, s.width}, qkv.options());
  auto prob = at::empty({s.B, heads, s.F, s.F}, qkv.options());
  forward_impl(qkv.data_ptr<float>(), out.data_ptr<float>(), prob.data_ptr<float>(), s, scale);
  return {out, prob};
}

at::Tensor backward(const at::Tensor& gout, const at::Tensor& qkv, const at::Tensor& prob, int64_t heads, double scale) {
  check(qkv, heads);
  const Shape s(qkv.size(0), qkv.size(1), heads, qkv.size(2) / 3 / heads);
  auto g = gout.to(at::kFloat).contiguous();
  TORCH_CHECK(g.sizes() == at::IntArrayRef({s.B, s.F, s.width}), "grad must be [B, F, H * d]");
  TORCH_CHECK(prob.is_contiguous() && prob.scalar_type() == at::kFloat &&
              prob.sizes() == at::IntArrayRef({s.B, heads, s.F, s.F}), "prob must be [B, H, F, F]");
  auto gqkv = at::empty_like(qkv);
  backward_impl(g.data_ptr<float>(), qkv.data_ptr<float>(), prob.data_ptr<float>(), gqkv.data_ptr<float>(), s, scale);
  return gqkv;
}

// How many of torch's threads ATen's parallel_for used here over n items (1 if this extension
// was compiled without OpenMP: its parallel regions then run on the calling thread alone).
int64_t parallel_threads(int64_t n) {
  std::vector<int> used(at::get_num_threads() + 1, 0);
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    const int id = at::get_thread_num();
    if (id >= 0 && id < static_cast<int>(used.size())) used[id] = 1;
  });
  int64_t count = 0;
  for (int u : used) count += u;
  return count;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward);
  m.def("backward", &backward);
  m.def("parallel_threads", &parallel_threads);
}
