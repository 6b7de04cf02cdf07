#pragma once
// The differentiable functional API. Every function here:
//   1. checks its inputs and throws sc::Error naming the op, the shapes, dtypes, devices;
//   2. allocates its output and calls the kernel for the input's device (a plain switch);
//   3. when grad mode is on and an input requires grad, records a backward Node.
// One file per op family in core/ops/.
#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/tensor.h"
#include "dist/communicator.h"

namespace sc {

// ---- creation (core/ops/creation.cpp) --------------------------------------
Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
// A CPU tensor in page-locked (pinned) memory: what the loader hands to a GPU training step,
// since the copy to the device then runs at full PCIe speed. Needs the CUDA backend and a GPU.
Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::CPU);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// 0, 1, ..., n-1 and start, start+step, ... (< end).
Tensor arange(int64_t n, DType dtype = DType::Float32);
Tensor arange(double start, double end, double step, DType dtype = DType::Float32);
// Uniform in [low, high) and standard normal, from an explicit generator.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::Float32, double low = 0.0, double high = 1.0);
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::Float32);
// Copies the values (row-major) into a new CPU tensor; the shape's element count must match.
Tensor from_vector(const std::vector<float>& values, const Shape& shape);
Tensor from_vector(const std::vector<double>& values, const Shape& shape);
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape);
Tensor scalar_tensor(double value, DType dtype = DType::Float32, Device device = Device::CPU);

// ---- views and copies (core/ops/shape.cpp) -----------------------------------
// reshape returns a view when the strides allow it and a copy otherwise; view never copies.
// One dim of the new shape may be -1 (inferred).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
// Elements start .. start+length-1 along dim (a view).
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Broadcasts size-1 dims (and new leading dims) to `shape` with stride 0 (a view).
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);

// ---- elementwise, NumPy broadcasting (core/ops/elementwise.cpp) -------------
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor rsub(double a, const Tensor& b);  // a - b
Tensor rdiv(double a, const Tensor& b);  // a / b
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);
Tensor relu(const Tensor& x);
// Limits to [low, high]; the gradient passes where low <= x <= high (as PyTorch).
Tensor clamp(const Tensor& x, double low, double high);
Tensor clamp_min(const Tensor& x, double low);
Tensor clamp_max(const Tensor& x, double high);
// Comparisons give 1 or 0 in the dtype of the inputs (no grad), so a mask can multiply.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& x);

// ---- reductions (core/ops/reduce.cpp) -----------------------------------------
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// Sums a broadcast gradient back down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
struct MaxResult {
  Tensor values;
  Tensor indices;  // int64
};
Tensor max(const Tensor& x);  // over all elements
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// Variance with Bessel's correction by default (correction = 1), as torch.var.
Tensor var(const Tensor& x, int64_t correction = 1);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction = 1, bool keepdim = false);

// ---- linear algebra (core/ops/matmul.cpp) -------------------------------------
// [m,k] x [k,n] -> [m,n]; [b,m,k] x [b,k,n] -> [b,m,n].
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- joining and indexing (core/ops/join.cpp) --------------------------------
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Rows (entries along `dim`) of x picked by an int64 index vector; rows may repeat.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);

// ---- convolution (core/ops/conv2d.cpp) ---------------------------------------
struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};
// x [N,C,H,W], weight [O,C,KH,KW] (groups = 1), bias [O] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options = {});

// ---- pooling (core/ops/pool.cpp) -----------------------------------------------
struct Pool2dOptions {
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
// Padding counts as zeros in the average (PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
// [N,C,H,W] -> [N,C,1,1], the mean over each feature map.
Tensor global_avg_pool2d(const Tensor& x);

// ---- batch norm (core/ops/batch_norm.cpp) --------------------------------------
// x [N,C] or [N,C,H,W]; weight, bias, running_mean, running_var [C] (any may be undefined,
// but eval mode needs the running statistics). In training mode the batch statistics are
// used and the running ones updated in place: r = (1 - momentum) * r + momentum * batch
// (the unbiased variance goes into running_var, as PyTorch).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)) as one op, the pair every encoder block runs: on the CPU the ReLU is
// applied in batch norm's normalising pass and its backward folded into batch norm's, so the
// batch norm output is never stored and one pass over memory is saved each way. The same
// values as the pair (tests/test_cpu_kernels.cpp); nn::Sequential and the ResNet blocks use it.
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- collectives between ranks (core/ops/distributed.cpp) -----------------------
// The Tensor side of the communicator (dist/communicator.h). Every rank of `comm` must call
// the same op at the same point with tensors of one shape, dtype and device.
//
// all_gather: every rank's x stacked along dim 0, in rank order: x [n, ...] -> [world * n, ...].
// A shape that differs between ranks is refused on every rank, naming both shapes. Its
// gradient is for a loss computed on every rank: the backward sums the incoming gradient
// over the ranks, then hands each rank its own rows. So when every rank computes the same
// loss L from the gathered tensor, each rank receives world * dL/dx, and the trainer's average
// of the parameter gradients over the ranks gives exactly dL/dtheta (the convention of
// every op here: a rank's gradients are its share of the sum over the ranks' losses).
Tensor all_gather(const Tensor& x, dist::Communicator& comm);
// In place, recording no autograd: x = the sum of every rank's x; x = root's x.
void all_reduce_sum_(Tensor& x, dist::Communicator& comm);
void broadcast_(Tensor& x, dist::Communicator& comm, int root = 0);
// Synchronised batch norm: batch_norm whose training statistics (mean, biased variance,
// count) cover the rows of every rank, summed in double; the backward all-reduces the two
// per-channel sums it needs (sum dy, sum dy * xhat). It runs the fused batch_norm kernels
// (evaluation forward with the global statistics, evaluation backward plus the correction),
// so it works on every device the communicator does. With a world of one rank it equals
// batch_norm; in evaluation mode it is batch_norm.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps,
                       dist::Communicator& comm);

// ---- softmax family and losses (core/ops/softmax.cpp) --------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// logits [N,C], targets int64 [N] in [0, C); the mean over the N rows.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
// x / max(||x||_2, eps) along dim, as torch.nn.functional.normalize.
Tensor normalize(const Tensor& x, int64_t dim = 1, double eps = 1e-12);

// ---- contrastive loss (core/ops/nt_xent.cpp) ------------------------------------
// SimCLR's NT-Xent over z [2N, d]. Rows 0..N-1 are the first views of images 0..N-1,
// rows N..2N-1 the second views in the same order: row i's positive is row (i + N) mod 2N.
// Rows are L2-normalised, s_ij = cos(z_i, z_j) / temperature, and
//   loss = mean_i [ -s_i,pos(i) + log sum_{k != i} exp(s_ik) ]
// with the self-similarity k = i left out of the sum (not masked with a large number).
Tensor nt_xent(const Tensor& z, double temperature);

// ---- threads (core/parallel.cpp) -------------------------------------------------
// CPU kernels use OpenMP; default: all cores. Results have the same bits on any thread
// count (docs/DESIGN.md, "Determinism").
void set_num_threads(int n);
int num_threads();

// ---- fused optimizer steps (core/ops/optim.cpp) -----------------------------------
// One parameter tensor's update in one pass over param, grad and state (the formulas:
// kernels/optim.h; the optimizers that call these: nn/sgd.h, nn/adam.h, nn/lars.h).
// They write param and the state in place, bump their storage versions, and record no
// autograd: call them under NoGradGuard, as Optimizer::step does. All tensors must be
// defined, float32 or float64, of one shape, dtype and device, contiguous, and not share
// memory; anything else throws sc::Error naming the op and the tensor.
//
// first_step: the state tensor does not hold a value yet (it may be fresh from empty()); it
// is written without being read. SGD: buf = g; LARS: the buffer starts at 0.
// momentum_buffer may be undefined when momentum == 0 (SGD keeps no buffer then).
void sgd_step_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, double weight_decay,
               double momentum, double dampening, bool nesterov, bool first_step);
// Adam, or AdamW with decoupled_weight_decay. step: t >= 1, this update's count; at t == 1
// exp_avg and exp_avg_sq are written without being read (the moments start at 0).
void adam_step_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, int64_t step, double lr,
                double beta1, double beta2, double eps, double weight_decay, bool decoupled_weight_decay);
// LARS. adapt: false for a parameter excluded from weight decay and the trust ratio.
void lars_step_(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr, double weight_decay,
                double momentum, double eta, bool adapt, bool first_step);

}  // namespace sc
