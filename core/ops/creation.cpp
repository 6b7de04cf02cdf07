// Tensor creation: empty, zeros, ones, full, arange, rand, randn, from_vector.
#include <cmath>

#include "core/ops.h"
#include "core/ops/op_utils.h"

namespace sc {

namespace {
Tensor empty_impl(const Shape& shape, DType dtype, Device device, bool pinned) {
  for (int64_t d : shape) SC_CHECK(d >= 0, "empty: negative size in shape ", shape_str(shape));
  SC_CHECK(shape.size() <= static_cast<size_t>(kernels::kMaxDims), "empty: at most ", kernels::kMaxDims,
           " dims are supported, got ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  const int64_t n = shape_numel(shape);
  // 2^48 bytes (256 TiB) is beyond any machine this runs on; it also keeps n * size from wrapping.
  constexpr int64_t kMaxBytes = int64_t(1) << 48;
  SC_CHECK(n <= kMaxBytes / static_cast<int64_t>(dtype_size(dtype)), "empty: ", dtype_name(dtype), shape_str(shape),
           " is too large to allocate (", n, " elements)");
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(n) * dtype_size(dtype), device, pinned);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->device = device;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor empty(const Shape& shape, DType dtype, Device device) { return empty_impl(shape, dtype, device, false); }

Tensor empty_pinned(const Shape& shape, DType dtype) { return empty_impl(shape, dtype, Device::CPU, true); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(int64_t n, DType dtype) { return arange(0.0, static_cast<double>(n), 1.0, dtype); }

Tensor arange(double start, double end, double step, DType dtype) {
  SC_CHECK(step != 0.0, "arange: step must not be zero");
  SC_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "arange: start, end and step must be finite");
  const double count = std::ceil((end - start) / step);
  // Casting a double beyond int64's range is undefined behaviour, so refuse huge counts first
  // (empty() would refuse them anyway, as too large to allocate).
  SC_CHECK(count < 0x1p62, "arange: [", start, ", ", end, ") in steps of ", step, " has too many elements (", count, ")");
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, "arange", [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype, double low, double high) {
  SC_CHECK(low <= high, "rand: low (", low, ") must not exceed high (", high, ")");
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "rand", [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(low + (high - low) * gen.uniform());
  });
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_float(dtype, "randn", [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(gen.normal());
  });
  return t;
}

namespace {
template <typename T>
Tensor from_values(const std::vector<T>& values, const Shape& shape) {
  SC_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
           " values do not fill the shape ", shape_str(shape), " (", shape_numel(shape), " elements)");
  Tensor t = empty(shape, dtype_of<T>::value);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}
}  // namespace

Tensor from_vector(const std::vector<float>& v, const Shape& s) { return from_values(v, s); }
Tensor from_vector(const std::vector<double>& v, const Shape& s) { return from_values(v, s); }
Tensor from_vector(const std::vector<int64_t>& v, const Shape& s) { return from_values(v, s); }

}  // namespace sc
