#include "kernels/elementwise.h"

#include <cmath>

namespace sc::kernels::cpu {

namespace {
// Copies of the layouts, coalesced, then the strided loop with one functor per op,
// so the switch on `op` happens once per call and not once per element.
template <typename F>
void loop2(const Layout& out_layout, const Layout& x_layout, F&& f) {
  Layout o = out_layout, x = x_layout;
  coalesce<2>({&o, &x});
  strided_loop<2>({&o, &x}, [&](const std::array<int64_t, 2>& off) { f(off[0], off[1]); });
}
template <typename F>
void loop3(const Layout& out_layout, const Layout& a_layout, const Layout& b_layout, F&& f) {
  Layout o = out_layout, a = a_layout, b = b_layout;
  coalesce<3>({&o, &a, &b});
  strided_loop<3>({&o, &a, &b}, [&](const std::array<int64_t, 3>& off) { f(off[0], off[1], off[2]); });
}
}  // namespace

template <typename T>
void unary(UnaryOp op, double p0, double p1, const T* x, const Layout& xl, T* out, const Layout& ol) {
  const T a = static_cast<T>(p0), b = static_cast<T>(p1);
  switch (op) {
    case UnaryOp::Neg: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = -x[i]; }); break;
    case UnaryOp::Exp: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = std::exp(x[i]); }); break;
    case UnaryOp::Log: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = std::log(x[i]); }); break;
    case UnaryOp::Sqrt: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = std::sqrt(x[i]); }); break;
    case UnaryOp::Abs: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = std::abs(x[i]); }); break;
    case UnaryOp::Relu: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = x[i] > T(0) ? x[i] : T(0); }); break;
    case UnaryOp::Sign:
      loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = static_cast<T>((x[i] > T(0)) - (x[i] < T(0))); });
      break;
    case UnaryOp::Pow: loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = std::pow(x[i], a); }); break;
    case UnaryOp::Clamp:
      // NaN stays NaN (the comparisons are false), as in PyTorch.
      loop2(ol, xl, [&](int64_t o, int64_t i) { out[o] = x[i] < a ? a : (x[i] > b ? b : x[i]); });
      break;
  }
}

template <typename T>
void binary(BinaryOp op, const T* a, const Layout& al, const T* b, const Layout& bl, T* out, const Layout& ol) {
  switch (op) {
    case BinaryOp::Add: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] + b[j]; }); break;
    case BinaryOp::Sub: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] - b[j]; }); break;
    case BinaryOp::Mul: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] * b[j]; }); break;
    case BinaryOp::Div: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] / b[j]; }); break;
    case BinaryOp::Eq: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] == b[j]; }); break;
    case BinaryOp::Ne: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] != b[j]; }); break;
    case BinaryOp::Lt: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] < b[j]; }); break;
    case BinaryOp::Le: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] <= b[j]; }); break;
    case BinaryOp::Gt: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] > b[j]; }); break;
    case BinaryOp::Ge: loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = a[i] >= b[j]; }); break;
    case BinaryOp::ReluGrad:
      loop3(ol, al, bl, [&](int64_t o, int64_t i, int64_t j) { out[o] = b[j] > T(0) ? a[i] : T(0); });
      break;
  }
}

template <typename Src, typename Dst>
void copy_cast(const Src* in, const Layout& il, Dst* out, const Layout& ol) {
  loop2(ol, il, [&](int64_t o, int64_t i) { out[o] = static_cast<Dst>(in[i]); });
}

template <typename T>
void fill(T* out, const Layout& ol, T value) {
  loop2(ol, ol, [&](int64_t o, int64_t) { out[o] = value; });
}

#define SC_INSTANTIATE_FLOAT(T)                                                                       \
  template void unary<T>(UnaryOp, double, double, const T*, const Layout&, T*, const Layout&);        \
  template void binary<T>(BinaryOp, const T*, const Layout&, const T*, const Layout&, T*, const Layout&);
SC_INSTANTIATE_FLOAT(float)
SC_INSTANTIATE_FLOAT(double)

#define SC_INSTANTIATE_COPY(S, D) template void copy_cast<S, D>(const S*, const Layout&, D*, const Layout&);
#define SC_INSTANTIATE_COPY_FROM(S) \
  SC_INSTANTIATE_COPY(S, float) SC_INSTANTIATE_COPY(S, double) SC_INSTANTIATE_COPY(S, int64_t) SC_INSTANTIATE_COPY(S, int32_t)
SC_INSTANTIATE_COPY_FROM(float)
SC_INSTANTIATE_COPY_FROM(double)
SC_INSTANTIATE_COPY_FROM(int64_t)
SC_INSTANTIATE_COPY_FROM(int32_t)

template void fill<float>(float*, const Layout&, float);
template void fill<double>(double*, const Layout&, double);
template void fill<int64_t>(int64_t*, const Layout&, int64_t);
template void fill<int32_t>(int32_t*, const Layout&, int32_t);

}  // namespace sc::kernels::cpu
