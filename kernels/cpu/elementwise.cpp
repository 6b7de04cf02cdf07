#include "kernels/elementwise.h"

#include <cmath>

namespace sc::kernels::cpu {

namespace {
// Each op is a functor on values (out = f(x) or f(a, b)); map1 / map2 copy the layouts,
// coalesce them and run the strided loop, which hands over one piece of a row at a time.
// The piece's loop runs on local pointers, so the compiler knows nothing else can change
// them; when every step is 1 (contiguous operands, the common case) it is a plain indexed
// loop that vectorises. The switch on the op happens once per call, not once per element.
template <typename Out, typename In, typename F>
void map1(const Layout& out_layout, Out* out, const Layout& x_layout, const In* x, F f) {
  Layout o = out_layout, xl = x_layout;
  coalesce<2>({&o, &xl});
  strided_loop<2>({&o, &xl}, [=](const Offsets<2>& off, int64_t count, const Offsets<2>& step) {
    Out* __restrict__ po = out + off[0];
    const In* __restrict__ px = x + off[1];
    if (step[0] == 1 && step[1] == 1) {
      for (int64_t j = 0; j < count; ++j) po[j] = f(px[j]);
    } else {
      for (int64_t j = 0; j < count; ++j) po[j * step[0]] = f(px[j * step[1]]);
    }
  });
}

template <typename T, typename F>
void map2(const Layout& out_layout, T* out, const Layout& a_layout, const T* a, const Layout& b_layout, const T* b,
          F f) {
  Layout o = out_layout, al = a_layout, bl = b_layout;
  coalesce<3>({&o, &al, &bl});
  strided_loop<3>({&o, &al, &bl}, [=](const Offsets<3>& off, int64_t count, const Offsets<3>& step) {
    T* __restrict__ po = out + off[0];
    const T* pa = a + off[1];  // a and b may be the same tensor (x * x): not restrict
    const T* pb = b + off[2];
    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
      for (int64_t j = 0; j < count; ++j) po[j] = f(pa[j], pb[j]);
    } else if (step[0] == 1 && step[1] == 1 && step[2] == 0) {  // b broadcast along the row
      const T bv = *pb;
      for (int64_t j = 0; j < count; ++j) po[j] = f(pa[j], bv);
    } else {
      for (int64_t j = 0; j < count; ++j) po[j * step[0]] = f(pa[j * step[1]], pb[j * step[2]]);
    }
  });
}
}  // namespace

template <typename T>
void unary(UnaryOp op, double p0, double p1, const T* x, const Layout& xl, T* out, const Layout& ol) {
  const T lo = static_cast<T>(p0), hi = static_cast<T>(p1);
  switch (op) {
    case UnaryOp::Neg: map1(ol, out, xl, x, [](T v) { return -v; }); break;
    case UnaryOp::Exp: map1(ol, out, xl, x, [](T v) { return std::exp(v); }); break;
    case UnaryOp::Log: map1(ol, out, xl, x, [](T v) { return std::log(v); }); break;
    case UnaryOp::Sqrt: map1(ol, out, xl, x, [](T v) { return std::sqrt(v); }); break;
    case UnaryOp::Abs: map1(ol, out, xl, x, [](T v) { return std::abs(v); }); break;
    case UnaryOp::Relu: map1(ol, out, xl, x, [](T v) { return v > T(0) ? v : T(0); }); break;
    case UnaryOp::Sign: map1(ol, out, xl, x, [](T v) { return static_cast<T>((v > T(0)) - (v < T(0))); }); break;
    case UnaryOp::Pow: map1(ol, out, xl, x, [lo](T v) { return std::pow(v, lo); }); break;
    case UnaryOp::Clamp:
      // NaN stays NaN (the comparisons are false), as in PyTorch.
      map1(ol, out, xl, x, [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
      break;
  }
}

template <typename T>
void binary(BinaryOp op, const T* a, const Layout& al, const T* b, const Layout& bl, T* out, const Layout& ol) {
  switch (op) {
    case BinaryOp::Add: map2(ol, out, al, a, bl, b, [](T x, T y) { return x + y; }); break;
    case BinaryOp::Sub: map2(ol, out, al, a, bl, b, [](T x, T y) { return x - y; }); break;
    case BinaryOp::Mul: map2(ol, out, al, a, bl, b, [](T x, T y) { return x * y; }); break;
    case BinaryOp::Div: map2(ol, out, al, a, bl, b, [](T x, T y) { return x / y; }); break;
    case BinaryOp::Eq: map2(ol, out, al, a, bl, b, [](T x, T y) { return T(x == y); }); break;
    case BinaryOp::Ne: map2(ol, out, al, a, bl, b, [](T x, T y) { return T(x != y); }); break;
    case BinaryOp::Lt: map2(ol, out, al, a, bl, b, [](T x, T y) { return T(x < y); }); break;
    case BinaryOp::Le: map2(ol, out, al, a, bl, b, [](T x, T y) { return T(x <= y); }); break;
    case BinaryOp::Gt: map2(ol, out, al, a, bl, b, [](T x, T y) { return T(x > y); }); break;
    case BinaryOp::Ge: map2(ol, out, al, a, bl, b, [](T x, T y) { return T(x >= y); }); break;
    case BinaryOp::ReluGrad:
      // A select, not a branch: the sign of an activation is random, so a branch on it would
      // be mispredicted for about half of the elements.
      map2(ol, out, al, a, bl, b, [](T grad, T activation) { return activation > T(0) ? grad : T(0); });
      break;
  }
}

template <typename Src, typename Dst>
void copy_cast(const Src* in, const Layout& il, Dst* out, const Layout& ol) {
  map1(ol, out, il, in, [](Src v) { return static_cast<Dst>(v); });
}

template <typename T>
void fill(T* out, const Layout& ol, T value) {
  map1(ol, out, ol, out, [value](T) { return value; });
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
