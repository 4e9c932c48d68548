// CorInfoMax: the Gauss-Seidel sweeps of one phase as one C++ op (compiled on first use by
// circuits/corinfomax/kernels.py with torch.utils.cpp_extension).
//
// Same arguments, same arithmetic and the same order as `sweeps_py` in kernels.py (read that first: it is
// the definition). Why C++: in the TorchScript version each sweep costs ~20 us of op overhead on top of a
// ~40 us GEMM (batch rows 10, N_1 = 500); here the element-wise work of a layer is one fused loop
// (leak + feedback/lateral + basal - interneuron, then the clamp) and only the GEMMs are ATen calls.
// torch.ops calls from Python release the GIL, so the lanes of the split layout still run in parallel.
// `fused` (the trainer's BLAS path): C[k] is the weight storage [B_k | W_ff{k}] itself, G[k] = r[k] C[k] with
// no E and no scale, and the loops add E, c gamma, g, 1/eps (and at the output gamma B_P + (g - beta) I) where
// the terms are used (see sweeps_py).

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace {

using at::Tensor;

// oneDNN linear with a pre-packed weight and a fused "add": E + r C (what kernels.py calls
// torch.ops.mkldnn._linear_pointwise.binary)
Tensor onednn_linear_add(const Tensor& r, const Tensor& e, const Tensor& packed) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "binary")
                       .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const std::optional<Tensor>&,
                                     c10::string_view)>();
  return op.call(r, e, packed, std::nullopt, "add");
}

void check_rows(const Tensor& t, const char* what) {
  TORCH_CHECK(t.dim() == 2 && t.stride(1) == 1, "corinfomax sweeps: ", what,
              " must be a 2-D tensor with unit column stride");
}

template <typename T>
void sweeps_impl(std::vector<Tensor>& u, std::vector<Tensor>& r, std::vector<Tensor>& G, const std::vector<Tensor>& E,
                 const std::vector<Tensor>& Wfbs, const std::vector<Tensor>& C, const Tensor& latp,
                 const std::vector<double>& mus, const std::vector<int64_t>& sizes, double c_h, double c_o,
                 bool onednn, bool sparse, std::vector<Tensor>& a, std::vector<Tensor>& q, double mu_a_h,
                 double mu_a_o, bool fused, double lat_a, double lat_g, double bas_a, double out_a, double out_d) {
  const int64_t P = static_cast<int64_t>(sizes.size()) - 1;
  const int64_t rows = u[1].size(0);
  const Tensor latp_c = latp.contiguous();
  const T* lat = latp_c.data_ptr<T>();
  const int64_t nP = sizes[P];
  std::vector<T> urow(static_cast<size_t>(nP));
  const T la = static_cast<T>(lat_a), lg = static_cast<T>(lat_g), ba = static_cast<T>(bas_a);
  const T oa = static_cast<T>(out_a), od = static_cast<T>(out_d);
  for (const double mu_d : mus) {
    const T mu = static_cast<T>(mu_d);
    for (int64_t k = 1; k <= P; ++k) {
      Tensor& uk = u[k];
      Tensor& rk = r[k];
      const int64_t n = sizes[k];
      const T decay = static_cast<T>(1.0 - mu_d * (k < P ? c_h : c_o));
      if (k < P) {
        // feedback from the layer above (a real GEMM in deep networks): u = decay u + mu r[k+1] W_fb/eps
        // (fused: Wfbs[k] is W_fb{k} itself and 1/eps = bas_a goes into the product's scale)
        uk.addmm_(r[k + 1], Wfbs[k], decay, fused ? static_cast<T>(mu_d * bas_a) : mu);
      }
      T* up = uk.data_ptr<T>();
      T* rp = rk.data_ptr<T>();
      const int64_t us = uk.stride(0), rs = rk.stride(0);
      const T* glat = k < P ? G[k].data_ptr<T>() : nullptr;  // lateral term: G[k][:, :n]
      const int64_t gls = k < P ? G[k].stride(0) : 0;
      const T* gbas = k > 1 ? G[k - 1].data_ptr<T>() + sizes[k - 1] : nullptr;  // basal: G[k-1][:, N_{k-1}:]
      const int64_t gbs = k > 1 ? G[k - 1].stride(0) : 0;
      const T* elat = k < P ? E[k].data_ptr<T>() : nullptr;  // fused only: E[k][:, :n]
      const int64_t els = k < P ? E[k].stride(0) : 0;
      const T* ebas = k > 1 ? E[k - 1].data_ptr<T>() + sizes[k - 1] : nullptr;  // fused only: E[k-1][:, N_{k-1}:]
      const int64_t ebs = k > 1 ? E[k - 1].stride(0) : 0;
      T* qp = sparse ? q[k].data_ptr<T>() : nullptr;
      T* ap = sparse ? a[k].data_ptr<T>() : nullptr;
      const int64_t qs = sparse ? q[k].stride(0) : 0, as = sparse ? a[k].stride(0) : 0;
      for (int64_t i = 0; i < rows; ++i) {
        T* ui = up + i * us;
        T* ri = rp + i * rs;
        if (k == P) {
          // output layer: u = decay u + mu r[P] latp (latp tiny: N_P x N_P), from the old r[P] row;
          // fused: latp is B_P itself and u = decay u + mu (gamma r[P] B_P + (g - beta) r[P])
          for (int64_t j = 0; j < nP; ++j) {
            T acc = 0;
            for (int64_t m = 0; m < nP; ++m) acc += ri[m] * lat[m * nP + j];
            urow[j] = fused ? decay * ui[j] + mu * (oa * acc + od * ri[j]) : decay * ui[j] + mu * acc;
          }
          std::copy(urow.begin(), urow.end(), ui);
        } else if (fused) {
          // G[k] = r[k] [B_k | W_ff{k}] (no E, no scales): lateral + hoisted input = E + c gamma r B + g r, with
          // the r[k] the product was taken from (this row is overwritten only below)
          const T* gi = glat + i * gls;
          const T* ei = elat + i * els;
          for (int64_t j = 0; j < n; ++j) ui[j] += mu * (ei[j] + la * gi[j] + lg * ri[j]);
        } else {
          const T* gi = glat + i * gls;
          for (int64_t j = 0; j < n; ++j) ui[j] += mu * gi[j];
        }
        if (k > 1) {
          const T* bi = gbas + i * gbs;
          if (fused) {  // basal drive E + r[k-1] W_ff{k-1} / eps (E: the nudge beta y at the output)
            const T* ebi = ebas + i * ebs;
            for (int64_t j = 0; j < n; ++j) ui[j] += mu * (ebi[j] + ba * bi[j]);
          } else {
            for (int64_t j = 0; j < n; ++j) ui[j] += mu * bi[j];
          }
        }
        if (sparse) {
          const T qi = qp[i * qs];
          T total = 0;
          for (int64_t j = 0; j < n; ++j) {
            ui[j] -= mu * qi;
            ri[j] = std::max(ui[j], T(0));
            total += ri[j];
          }
          // interneuron step with the new r[k] and the old q[k]
          const T mu_a = static_cast<T>(k < P ? mu_a_h : mu_a_o);
          T& ai = ap[i * as];
          ai = (T(1) - mu_a) * ai + mu_a * (total + qi - T(1));
          qp[i * qs] = std::max(ai, T(0));
        } else {
          for (int64_t j = 0; j < n; ++j) ri[j] = std::min(std::max(ui[j], T(0)), T(1));
        }
      }
      if (k < P) {
        if (fused) {
          at::mm_out(G[k], rk, C[k]);
        } else if (onednn) {
          G[k] = onednn_linear_add(rk, E[k], C[k]);
        } else {
          at::addmm_out(G[k], E[k], rk, C[k]);
        }
      }
    }
  }
}

std::vector<Tensor> sweeps(std::vector<Tensor> u, std::vector<Tensor> r, std::vector<Tensor> G, std::vector<Tensor> E,
                           std::vector<Tensor> Wfbs, std::vector<Tensor> C, Tensor latp, std::vector<double> mus,
                           std::vector<int64_t> sizes, double c_h, double c_o, bool onednn, bool sparse,
                           std::vector<Tensor> a, std::vector<Tensor> q, Tensor tmp, double mu_a_h, double mu_a_o,
                           bool fused, double lat_a, double lat_g, double bas_a, double out_a, double out_d) {
  (void)tmp;  // the TorchScript version's scratch column; the fused loop keeps the row sum in a register
  const int64_t P = static_cast<int64_t>(sizes.size()) - 1;
  TORCH_CHECK(P >= 1 && static_cast<int64_t>(u.size()) == P + 1 && static_cast<int64_t>(r.size()) == P + 1,
              "corinfomax sweeps: u and r need one entry per layer 0..P");
  for (int64_t k = 1; k <= P; ++k) {
    check_rows(u[k], "u[k]");
    check_rows(r[k], "r[k]");
    TORCH_CHECK(u[k].size(1) == sizes[k] && r[k].size(1) == sizes[k], "corinfomax sweeps: layer ", k,
                " has ", u[k].size(1), " units, sizes say ", sizes[k]);
    if (k < P) {
      check_rows(G[k], "G[k]");
      check_rows(E[k], "E[k]");
    }
    if (sparse) {
      check_rows(a[k], "a[k]");
      check_rows(q[k], "q[k]");
    }
  }
  check_rows(latp, "latp");
  if (u[1].scalar_type() == at::kDouble) {
    sweeps_impl<double>(u, r, G, E, Wfbs, C, latp, mus, sizes, c_h, c_o, onednn, sparse, a, q, mu_a_h, mu_a_o, fused,
                         lat_a, lat_g, bas_a, out_a, out_d);
  } else {
    TORCH_CHECK(u[1].scalar_type() == at::kFloat, "corinfomax sweeps: float32 or float64 tensors only");
    sweeps_impl<float>(u, r, G, E, Wfbs, C, latp, mus, sizes, c_h, c_o, onednn, sparse, a, q, mu_a_h, mu_a_o, fused,
                        lat_a, lat_g, bas_a, out_a, out_d);
  }
  return G;
}

}  // namespace

// u, r, a, q are updated in place; the op is only ever called eagerly under torch.inference_mode (no autograd,
// no tracing), so the schema does not spell out the aliasing.
TORCH_LIBRARY(neuromorph_corinfomax, m) {
  m.def(
      "sweeps(Tensor[] u, Tensor[] r, Tensor[] G, Tensor[] E, Tensor[] Wfbs, Tensor[] C, Tensor latp, float[] mus, "
      "int[] sizes, float c_h, float c_o, bool onednn, bool sparse, Tensor[] a, Tensor[] q, Tensor tmp, "
      "float mu_a_h, float mu_a_o, bool fused, float lat_a, float lat_g, float bas_a, float out_a, float out_d) "
      "-> Tensor[]",
      &sweeps);
}
