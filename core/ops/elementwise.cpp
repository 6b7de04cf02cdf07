// Elementwise ops with NumPy broadcasting. Each op's backward sits right under its
// forward and is written with other ops (so it runs on any device), then summed back
// to the input's shape with sum_to() wherever the input was broadcast.
#include <limits>

#include "core/ops.h"
#include "core/ops/op_utils.h"
#include "core/trace.h"
#include "kernels/elementwise.h"

namespace sc {

using kernels::BinaryOp;
using kernels::UnaryOp;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SC_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  trace::OpScope trace_scope(name, a, b);
  detail::check_defined(a, name, "the first input");
  detail::check_defined(b, name, "the second input");
  detail::check_same_dtype_device(a, b, name);
  detail::check_floating(a, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, a.dtype(), a.device());
  switch (a.device()) {
    case Device::CPU:
      dispatch_float(a.dtype(), name, [&]<typename T>() {
        kernels::cpu::binary<T>(op, a.data<T>(), detail::broadcast_layout(a, shape), b.data<T>(),
                                detail::broadcast_layout(b, shape), out.data<T>(), detail::layout_of(out));
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH(name, dispatch_float(a.dtype(), name, [&]<typename T>() {
        kernels::cuda::binary<T>(op, a.data<T>(), detail::broadcast_layout(a, shape), b.data<T>(),
                                 detail::broadcast_layout(b, shape), out.data<T>(), detail::layout_of(out));
      }));
      break;
  }
  return out;
}

Tensor unary_forward(UnaryOp op, const Tensor& x, const char* name, double p0 = 0, double p1 = 0) {
  trace::OpScope trace_scope(name, x);
  detail::check_defined(x, name, "the input");
  detail::check_floating(x, name);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  switch (x.device()) {
    case Device::CPU:
      dispatch_float(x.dtype(), name, [&]<typename T>() {
        kernels::cpu::unary<T>(op, p0, p1, x.data<T>(), detail::layout_of(x), out.data<T>(), detail::layout_of(out));
      });
      break;
    case Device::CUDA:
      SC_CUDA_BRANCH(name, dispatch_float(x.dtype(), name, [&]<typename T>() {
        kernels::cuda::unary<T>(op, p0, p1, x.data<T>(), detail::layout_of(x), out.data<T>(), detail::layout_of(out));
      }));
      break;
  }
  return out;
}

// The same-dtype, same-device 0-d tensor holding a scalar operand.
Tensor scalar_like(const Tensor& t, double v, const char* op) {
  detail::check_defined(t, op, "the input");
  return scalar_tensor(v, t.dtype(), t.device());
}

Tensor sign(const Tensor& x) { return unary_forward(UnaryOp::Sign, x, "sign"); }

}  // namespace

// ---- arithmetic -------------------------------------------------------------

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b, "add");
  if (any_requires_grad({a, b})) {
    record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b, "sub");
  if (any_requires_grad({a, b})) {
    record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b, "mul");
  if (any_requires_grad({a, b})) {
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    record("mul", out, {a, b}, [need_a, need_b, sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g) {
      Tensor a = sa.get(), b = sb.get();
      return std::vector<Tensor>{need_a ? sum_to(mul(g, b), a.shape()) : Tensor(),
                                 need_b ? sum_to(mul(g, a), b.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b, "div");
  if (any_requires_grad({a, b})) {
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    record("div", out, {a, b}, [need_a, need_b, sa = SavedTensor(a), sb = SavedTensor(b)](const Tensor& g) {
      Tensor a = sa.get(), b = sb.get();
      // d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2
      return std::vector<Tensor>{need_a ? sum_to(div(g, b), a.shape()) : Tensor(),
                                 need_b ? sum_to(neg(div(mul(g, a), mul(b, b))), b.shape()) : Tensor()};
    });
  }
  return out;
}

// The scalar forms wrap the scalar in a 0-d tensor. Their trace scope shows the number, and
// puts the fill of that tensor inside the op rather than before it.
Tensor add(const Tensor& a, double b) {
  trace::OpScope trace_scope("add", a, b);
  return add(a, scalar_like(a, b, "add"));
}
Tensor sub(const Tensor& a, double b) {
  trace::OpScope trace_scope("sub", a, b);
  return sub(a, scalar_like(a, b, "sub"));
}
Tensor mul(const Tensor& a, double b) {
  trace::OpScope trace_scope("mul", a, b);
  return mul(a, scalar_like(a, b, "mul"));
}
Tensor div(const Tensor& a, double b) {
  trace::OpScope trace_scope("div", a, b);
  return div(a, scalar_like(a, b, "div"));
}
Tensor rsub(double a, const Tensor& b) {
  trace::OpScope trace_scope("rsub", a, b);
  return sub(scalar_like(b, a, "rsub"), b);
}
Tensor rdiv(double a, const Tensor& b) {
  trace::OpScope trace_scope("rdiv", a, b);
  return div(scalar_like(b, a, "rdiv"), b);
}

// ---- unary --------------------------------------------------------------------

Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Neg, x, "neg");
  if (any_requires_grad({x})) record("neg", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Exp, x, "exp");
  if (any_requires_grad({x}))  // d exp(x) = exp(x): reuse the output
    record("exp", out, {x}, [so = SavedTensor(out)](const Tensor& g) { return std::vector<Tensor>{mul(g, so.get())}; });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log, x, "log");
  if (any_requires_grad({x}))
    record("log", out, {x}, [sx = SavedTensor(x)](const Tensor& g) { return std::vector<Tensor>{div(g, sx.get())}; });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sqrt, x, "sqrt");
  if (any_requires_grad({x}))  // d sqrt(x) = 1 / (2 sqrt(x))
    record("sqrt", out, {x},
           [so = SavedTensor(out)](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), so.get())}; });
  return out;
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor out = unary_forward(UnaryOp::Pow, x, "pow", exponent);
  if (any_requires_grad({x})) {
    record("pow", out, {x}, [exponent, sx = SavedTensor(x)](const Tensor& g) {
      if (exponent == 0.0) return std::vector<Tensor>{zeros_like(g)};  // not 0 * x^-1, which is NaN at 0
      return std::vector<Tensor>{mul(g, mul(pow(sx.get(), exponent - 1.0), exponent))};
    });
  }
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Abs, x, "abs");
  if (any_requires_grad({x}))  // sign(x), with 0 at 0 as PyTorch
    record("abs", out, {x}, [sx = SavedTensor(x)](const Tensor& g) { return std::vector<Tensor>{mul(g, sign(sx.get()))}; });
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Relu, x, "relu");
  if (any_requires_grad({x}))  // the gradient passes where the output is positive (one fused pass)
    record("relu", out, {x}, [so = SavedTensor(out)](const Tensor& g) {
      return std::vector<Tensor>{binary_forward(BinaryOp::ReluGrad, g, so.get(), "relu backward")};
    });
  return out;
}

Tensor clamp(const Tensor& x, double low, double high) {
  SC_CHECK(!(low > high), "clamp: low (", low, ") is greater than high (", high, ")");
  Tensor out = unary_forward(UnaryOp::Clamp, x, "clamp", low, high);
  if (any_requires_grad({x})) {
    record("clamp", out, {x}, [low, high, sx = SavedTensor(x)](const Tensor& g) {
      Tensor x = sx.get();
      return std::vector<Tensor>{mul(g, mul(ge(x, low), le(x, high)))};
    });
  }
  return out;
}

Tensor clamp_min(const Tensor& x, double low) { return clamp(x, low, std::numeric_limits<double>::infinity()); }
Tensor clamp_max(const Tensor& x, double high) { return clamp(x, -std::numeric_limits<double>::infinity(), high); }

// ---- comparisons (no gradient) ---------------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_forward(BinaryOp::Ge, a, b, "ge"); }
Tensor eq(const Tensor& a, double b) {
  trace::OpScope trace_scope("eq", a, b);
  return eq(a, scalar_like(a, b, "eq"));
}
Tensor lt(const Tensor& a, double b) {
  trace::OpScope trace_scope("lt", a, b);
  return lt(a, scalar_like(a, b, "lt"));
}
Tensor le(const Tensor& a, double b) {
  trace::OpScope trace_scope("le", a, b);
  return le(a, scalar_like(a, b, "le"));
}
Tensor gt(const Tensor& a, double b) {
  trace::OpScope trace_scope("gt", a, b);
  return gt(a, scalar_like(a, b, "gt"));
}
Tensor ge(const Tensor& a, double b) {
  trace::OpScope trace_scope("ge", a, b);
  return ge(a, scalar_like(a, b, "ge"));
}

// ---- operators ----------------------------------------------------------------------

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return rsub(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) { return rdiv(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace sc
