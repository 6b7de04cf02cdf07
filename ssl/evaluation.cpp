#include "ssl/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <numeric>
#include <utility>

#include "core/ops.h"
#include "nn/adam.h"

namespace sc::ssl {

namespace {

void check_features(const Tensor& features, const char* op, const char* what) {
  SC_CHECK(features.defined(), op, ": ", what, " are undefined");
  SC_CHECK(features.device() == Device::CPU, op, ": ", what, " must be on the CPU, got ", features.describe());
  SC_CHECK(features.dim() == 2 && is_floating(features.dtype()), op, ": ", what,
           " must be a float32 or float64 matrix [N, D], got ", features.describe());
}

// Checks labels against their features and returns them as a vector.
std::vector<int64_t> checked_labels(const Tensor& labels, const Tensor& features, const char* op, const char* what) {
  SC_CHECK(labels.defined(), op, ": ", what, " labels are undefined");
  SC_CHECK(labels.dtype() == DType::Int64 && labels.dim() == 1, op, ": ", what,
           " labels must be an int64 vector, got ", labels.describe());
  SC_CHECK(labels.size(0) == features.size(0), op, ": ", labels.size(0), " ", what, " labels for ", features.size(0),
           " ", what, " feature rows ", features.shape_string());
  std::vector<int64_t> values = labels.to_vector<int64_t>();
  for (size_t i = 0; i < values.size(); ++i)
    SC_CHECK(values[i] >= 0, op, ": ", what, " label ", values[i], " at row ", i, " is negative");
  return values;
}

int64_t resolve_num_classes(int64_t requested, const std::vector<int64_t>& train, const std::vector<int64_t>& test,
                            const char* op) {
  int64_t largest = -1;
  for (int64_t v : train) largest = std::max(largest, v);
  if (requested < 0) {
    for (int64_t v : test) largest = std::max(largest, v);
    return largest + 1;
  }
  auto check_range = [&](const std::vector<int64_t>& labels, const char* what) {
    for (size_t i = 0; i < labels.size(); ++i)
      SC_CHECK(labels[i] < requested, op, ": ", what, " label ", labels[i], " at row ", i, " is outside [0, ",
               requested, ") (num_classes = ", requested, ")");
  };
  check_range(train, "train");
  check_range(test, "test");
  return requested;
}

}  // namespace

// ---- kNN monitor ----------------------------------------------------------------------

KnnResult knn_evaluate(const Tensor& train_features, const Tensor& train_labels, const Tensor& test_features,
                       const Tensor& test_labels, const KnnOptions& options) {
  const char* op = "knn_evaluate";
  check_features(train_features, op, "train features");
  check_features(test_features, op, "test features");
  SC_CHECK(train_features.size(1) == test_features.size(1), op, ": train features ", train_features.shape_string(),
           " and test features ", test_features.shape_string(), " have different widths");
  SC_CHECK(train_features.size(0) > 0, op, ": the training set is empty");
  SC_CHECK(options.k >= 1, op, ": k must be at least 1, got ", options.k);
  SC_CHECK(options.temperature > 0, op, ": temperature must be positive, got ", options.temperature);
  SC_CHECK(options.chunk_size >= 1, op, ": chunk_size must be at least 1, got ", options.chunk_size);
  const std::vector<int64_t> train_y = checked_labels(train_labels, train_features, op, "train");
  const std::vector<int64_t> test_y = checked_labels(test_labels, test_features, op, "test");
  const int64_t num_classes = resolve_num_classes(options.num_classes, train_y, test_y, op);

  NoGradGuard no_grad;
  const int64_t n_train = train_features.size(0);
  const int64_t n_test = test_features.size(0);
  const int64_t k = std::min(options.k, n_train);
  // Cosine similarity = dot product of L2-normalised rows. The train side is stored
  // transposed [D, N_train] so each chunk is one plain matmul.
  const Tensor train_t = normalize(train_features, 1).t().contiguous().to(DType::Float32);
  const Tensor test_n = normalize(test_features, 1).to(DType::Float32);

  KnnResult result;
  result.predictions = empty({n_test}, DType::Int64);
  result.class_votes = zeros({n_test, num_classes}, DType::Float64);
  int64_t* predictions = result.predictions.data<int64_t>();
  double* votes = result.class_votes.data<double>();
  int64_t correct = 0;

  // The threads share out whole chunks: each computes its chunk's similarity block with a
  // matmul that runs on the calling thread (nested OpenMP regions get one thread), then picks
  // the neighbours of its rows. So nothing waits for another thread until the end; with the
  // threads inside each matmul instead, a busy machine made every chunk wait for a
  // descheduled thread. Every row is handled the same way whichever thread takes it.
  const int64_t chunks = (n_test + options.chunk_size - 1) / options.chunk_size;
  std::exception_ptr error;
#pragma omp parallel reduction(+ : correct)
  {
    // (similarity, training index) of the k best so far, as a heap whose top is the worst.
    std::vector<std::pair<float, int64_t>> best;
    best.reserve(static_cast<size_t>(k));
    // "a ranks before b": higher similarity, and the lower index among equal similarities,
    // so the neighbours chosen do not depend on the scan or the thread.
    auto ranks_before = [](const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
#pragma omp for schedule(dynamic, 1)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      try {
        const int64_t start = chunk * options.chunk_size;
        const int64_t rows = std::min(options.chunk_size, n_test - start);
        const Tensor similarities = matmul(test_n.narrow(0, start, rows).contiguous(), train_t).contiguous();
        const float* sim = similarities.data<float>();
        for (int64_t r = 0; r < rows; ++r) {
          const float* row = sim + r * n_train;
          // One pass with a bounded heap: most rows fail the comparison with the current k-th
          // best at once, so this costs about one compare per training row.
          best.clear();
          for (int64_t j = 0; j < n_train; ++j) {
            if (static_cast<int64_t>(best.size()) < k) {
              best.emplace_back(row[j], j);
              std::push_heap(best.begin(), best.end(), ranks_before);
            } else if (row[j] > best.front().first) {  // equal similarity: the earlier index stays
              std::pop_heap(best.begin(), best.end(), ranks_before);
              best.back() = {row[j], j};
              std::push_heap(best.begin(), best.end(), ranks_before);
            }
          }
          std::sort(best.begin(), best.end(), ranks_before);  // a fixed summation order
          double* row_votes = votes + (start + r) * num_classes;
          for (const auto& [similarity, index] : best)
            row_votes[train_y[index]] += std::exp(static_cast<double>(similarity) / options.temperature);
          const int64_t predicted = std::max_element(row_votes, row_votes + num_classes) - row_votes;
          predictions[start + r] = predicted;
          if (predicted == test_y[start + r]) ++correct;
        }
      } catch (...) {  // an exception must not leave the parallel region
#pragma omp critical(sc_knn_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  result.accuracy = n_test > 0 ? static_cast<double>(correct) / static_cast<double>(n_test) : 0.0;
  return result;
}

// ---- standardisation ----------------------------------------------------------------

Standardizer Standardizer::fit(const Tensor& train_features, double epsilon) {
  check_features(train_features, "Standardizer::fit", "train features");
  SC_CHECK(train_features.size(0) > 0, "Standardizer::fit: the training set is empty");
  SC_CHECK(epsilon >= 0, "Standardizer::fit: epsilon must be non-negative, got ", epsilon);
  const Tensor features = train_features.contiguous();
  const int64_t n = features.size(0);
  const int64_t d = features.size(1);
  // Two passes in double: the mean first, then the squared deviations (no cancellation).
  // The values are read in place (no float64 copy: 60,000 x 784 pixels would be 376 MB).
  std::vector<double> mean(d, 0.0), var(d, 0.0);
  auto accumulate = [&]<typename T>(const T* x) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) mean[j] += static_cast<double>(x[i * d + j]);
    for (double& m : mean) m /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) {
        const double deviation = static_cast<double>(x[i * d + j]) - mean[j];
        var[j] += deviation * deviation;
      }
  };
  if (features.dtype() == DType::Float32)
    accumulate(features.data<float>());
  else
    accumulate(features.data<double>());
  std::vector<float> mean_f(d), inv_std_f(d);
  for (int64_t j = 0; j < d; ++j) {
    mean_f[j] = static_cast<float>(mean[j]);
    inv_std_f[j] = static_cast<float>(1.0 / std::sqrt(var[j] / static_cast<double>(n) + epsilon));
  }
  return {from_vector(mean_f, {d}), from_vector(inv_std_f, {d})};
}

Tensor Standardizer::apply(const Tensor& features) const {
  check_features(features, "Standardizer::apply", "features");
  SC_CHECK(features.size(1) == mean.size(0), "Standardizer::apply: features ", features.shape_string(),
           " do not match the ", mean.size(0), " dims the standardizer was fitted on");
  NoGradGuard no_grad;
  return mul(sub(features.to(DType::Float32), mean), inv_std).contiguous();
}

// ---- linear probe ---------------------------------------------------------------------

namespace {

// Runs the enclosed code on one thread (OpenMP and Eigen) and restores the count after.
class SingleThreadScope {
 public:
  SingleThreadScope() : before_(num_threads()) { set_num_threads(1); }
  ~SingleThreadScope() { set_num_threads(before_); }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int before_;
};

double accuracy_of(const Tensor& x, const std::vector<int64_t>& labels, const Tensor& weight, const Tensor& bias) {
  if (labels.empty()) return 0.0;
  NoGradGuard no_grad;
  int64_t correct = 0;
  const int64_t chunk = 4096;
  for (int64_t start = 0; start < x.size(0); start += chunk) {
    const int64_t rows = std::min(chunk, x.size(0) - start);
    const std::vector<int64_t> predicted =
        argmax(add(matmul(x.narrow(0, start, rows), weight), bias), 1).to_vector<int64_t>();
    for (int64_t r = 0; r < rows; ++r) correct += predicted[r] == labels[start + r];
  }
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

}  // namespace

LinearProbeResult linear_probe(const Tensor& train_features, const Tensor& train_labels, const Tensor& test_features,
                               const Tensor& test_labels, const LinearProbeOptions& options) {
  const char* op = "linear_probe";
  check_features(train_features, op, "train features");
  check_features(test_features, op, "test features");
  SC_CHECK(train_features.size(1) == test_features.size(1), op, ": train features ", train_features.shape_string(),
           " and test features ", test_features.shape_string(), " have different widths");
  SC_CHECK(train_features.size(0) > 0, op, ": the training set is empty");
  SC_CHECK(options.epochs >= 0, op, ": epochs must be non-negative, got ", options.epochs);
  SC_CHECK(options.batch_size >= 1, op, ": batch_size must be at least 1, got ", options.batch_size);
  SC_CHECK(options.lr > 0, op, ": lr must be positive, got ", options.lr);
  const std::vector<int64_t> train_y = checked_labels(train_labels, train_features, op, "train");
  const std::vector<int64_t> test_y = checked_labels(test_labels, test_features, op, "test");
  const int64_t num_classes = resolve_num_classes(options.num_classes, train_y, test_y, op);
  SC_CHECK(num_classes >= 1, op, ": no classes");

  LinearProbeResult result;
  result.standardizer = Standardizer::fit(train_features, options.standardize_epsilon);
  const Tensor x_train = result.standardizer.apply(train_features);
  const Tensor x_test = result.standardizer.apply(test_features);
  const int64_t n = x_train.size(0);
  const int64_t d = x_train.size(1);

  Tensor weight = zeros({d, num_classes});
  Tensor bias = zeros({num_classes});
  weight.requires_grad_();
  bias.requires_grad_();
  // torch.optim.Adam: coupled L2 weight decay (added to the gradient), one group for both.
  nn::ParamGroup group;
  group.names = {"weight", "bias"};
  group.params = {weight, bias};
  group.lr = options.lr;
  group.weight_decay = options.weight_decay;
  nn::Adam adam({group}, nn::AdamOptions{options.beta1, options.beta2, options.eps});
  Generator shuffle_rng(options.seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});

  // One thread for the whole fit. A step is small (a 512 x 128 x 10 product takes ~0.1 ms),
  // so splitting it between threads gains little on a quiet machine and loses badly on a
  // busy one: every split step waits for the slowest thread, and a descheduled thread costs
  // a whole scheduler slice, which made the 11,800 steps of a full fit 30 times slower on a
  // loaded 2-core machine. On one thread the result also does not depend on the thread count.
  const SingleThreadScope one_thread;

  // Each step below is what autograd would run for
  //   loss = cross_entropy(matmul(xb, weight) + bias, yb);  loss.backward();  adam.step()
  // written out by hand: the same kernels in the same order (so the same numbers), but no
  // graph, no index_select tensor and no per-step allocations beyond the two small GEMM
  // outputs. The batch rows are copied into one reused buffer.
  NoGradGuard no_grad;
  const int64_t max_rows = std::min(options.batch_size, n);
  Tensor batch_buffer = empty({max_rows, d});
  std::vector<int64_t> batch_labels(static_cast<size_t>(max_rows));
  Tensor dlogits_buffer = empty({max_rows, num_classes});
  const float* x = x_train.data<float>();
  float* xb_data = batch_buffer.data<float>();
  float* dlogits_data = dlogits_buffer.data<float>();
  const float* b = bias.data<float>();  // bias is updated in place by adam.step()

  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    // Fisher-Yates from the seeded generator: the same seed gives the same batches.
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(order[i], order[shuffle_rng.below(static_cast<uint64_t>(i + 1))]);
    double loss_sum = 0.0;
    for (int64_t start = 0; start < n; start += options.batch_size) {
      const int64_t rows = std::min(options.batch_size, n - start);
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(xb_data + r * d, x + order[start + r] * d, static_cast<size_t>(d) * sizeof(float));
      for (int64_t r = 0; r < rows; ++r) batch_labels[r] = train_y[order[start + r]];
      const Tensor xb = batch_buffer.narrow(0, 0, rows);
      const Tensor dlogits = dlogits_buffer.narrow(0, 0, rows);

      // Forward: logits = xb W + b, then per row the log-sum-exp in double (as the
      // cross_entropy kernel does), loss_r = lse_r - logit[r, y_r].
      // Backward: dloss/dlogits[r, c] = (softmax[r, c] - onehot[r, c]) / rows.
      Tensor logits = matmul(xb, weight);  // [rows, C], fresh and contiguous
      float* z = logits.data<float>();
      const double scale = 1.0 / static_cast<double>(rows);
      double batch_loss = 0.0;  // summed in row order, on one thread
      for (int64_t r = 0; r < rows; ++r) {
        float* zr = z + r * num_classes;
        double m = -INFINITY;
        for (int64_t c = 0; c < num_classes; ++c) {
          zr[c] += b[c];  // float32, as add(matmul(xb, W), b)
          m = std::fmax(m, static_cast<double>(zr[c]));
        }
        double sum = 0.0;
        for (int64_t c = 0; c < num_classes; ++c) sum += std::exp(static_cast<double>(zr[c]) - m);
        // Rounded to float as the kernel stores them, so loss and gradient match it.
        const double row_max = static_cast<float>(m), log_sum = static_cast<float>(std::log(sum));
        const int64_t target = batch_labels[r];
        batch_loss += (row_max - static_cast<double>(zr[target])) + log_sum;
        float* gr = dlogits_data + r * num_classes;
        for (int64_t c = 0; c < num_classes; ++c) {
          const double p = std::exp((static_cast<double>(zr[c]) - row_max) - log_sum);
          gr[c] = static_cast<float>((p - (c == target ? 1.0 : 0.0)) * scale);
        }
      }
      // The mean as the float32 loss tensor would hold it.
      loss_sum += static_cast<double>(static_cast<float>(batch_loss / static_cast<double>(rows))) *
                  static_cast<double>(rows);

      weight.set_grad(matmul(xb.t(), dlogits));  // dW = xb^T dlogits  [D, C]
      bias.set_grad(sum(dlogits, {0}));           // db = column sums    [C]
      adam.step();  // adds weight_decay * param to each gradient, then the Adam update
    }
    result.epoch_losses.push_back(loss_sum / static_cast<double>(n));
  }

  result.weight = weight.detach();
  result.bias = bias.detach();
  result.train_accuracy = accuracy_of(x_train, train_y, result.weight, result.bias);
  result.test_accuracy = accuracy_of(x_test, test_y, result.weight, result.bias);
  return result;
}

}  // namespace sc::ssl
