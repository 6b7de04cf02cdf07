#include <omp.h>

#include "core/ops.h"

namespace sc {

// OpenMP is the only thread pool of the CPU kernels: Eigen is built without threads of its
// own (EIGEN_DONT_PARALLELIZE), so this one count governs every kernel.
void set_num_threads(int n) {
  SC_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace sc
