#include "tests/op_registry.h"

#include <cmath>
#include <sstream>

namespace sc::test {

std::vector<OpCase>& op_registry() {
  static std::vector<OpCase> cases;
  return cases;
}

RegisterOps::RegisterOps(std::vector<OpCase> cases) {
  for (auto& c : cases) op_registry().push_back(std::move(c));
}

Tensor randn_t(Generator& g, const Shape& shape, DType dt) { return randn(shape, g, dt); }
Tensor rand_t(Generator& g, const Shape& shape, DType dt, double low, double high) {
  return rand(shape, g, dt, low, high);
}
Tensor randn_transposed(Generator& g, const Shape& shape_2d, DType dt) {
  return randn({shape_2d[1], shape_2d[0]}, g, dt).t();
}

namespace {
// Pointer to logical element j (row-major) of a strided float64 tensor.
double* element(const Tensor& t, int64_t j) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (j % t.shape()[d]) * t.strides()[d];
    j /= t.shape()[d];
  }
  return static_cast<double*>(t.storage().data()) + t.offset() + off;
}
}  // namespace

double worst_ratio(const Tensor& a, const Tensor& b, double atol, double rtol) {
  Tensor x = a.to(DType::Float64).contiguous(), y = b.to(DType::Float64).contiguous();
  SC_CHECK(x.shape() == y.shape(), "worst_ratio: shapes differ: ", x.describe(), " vs ", y.describe());
  const double* px = x.data<double>();
  const double* py = y.data<double>();
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double r = std::abs(px[i] - py[i]) / (atol + rtol * std::abs(py[i]));
    if (!(r <= worst)) worst = r;  // NaN counts as the worst
  }
  return worst;
}

GradCheckResult grad_check(const OpCase& c, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> inputs = c.make_inputs(gen, DType::Float64);
  for (int i : c.grad_inputs) inputs[i].requires_grad_(true);

  Tensor probe_out;
  {
    NoGradGuard ng;
    probe_out = c.run(inputs);
  }
  // A random projection makes every output element matter: L = sum(out * r).
  Tensor r = randn(probe_out.shape(), gen, DType::Float64);
  auto loss_of = [&]() { return sum(mul(c.run(inputs), r)); };

  loss_of().backward();

  GradCheckResult res;
  std::ostringstream report;
  NoGradGuard ng;
  for (int i : c.grad_inputs) {
    Tensor x = inputs[i];
    Tensor analytic = x.grad();
    if (!analytic.defined()) {
      res.ok = false;
      report << "input " << i << ": backward produced no gradient\n";
      continue;
    }
    Tensor numeric = zeros(x.shape(), DType::Float64);
    double* pn = numeric.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double* p = element(x, j);
      const double saved = *p;
      *p = saved + c.fd_eps;
      const double up = loss_of().item();
      *p = saved - c.fd_eps;
      const double down = loss_of().item();
      *p = saved;
      pn[j] = (up - down) / (2 * c.fd_eps);
    }
    const double worst = worst_ratio(analytic, numeric, c.grad_atol, c.grad_rtol);
    if (!(worst <= 1.0)) {
      res.ok = false;
      report << "input " << i << " " << x.describe() << ": worst error is " << worst
             << "x the tolerance\n analytic " << analytic << "\n numeric  " << numeric << "\n";
    }
  }
  res.report = report.str();
  return res;
}

}  // namespace sc::test
