#include <omp.h>

#include <Eigen/Core>

#include "core/ops.h"

namespace sc {

void set_num_threads(int n) {
  SC_CHECK(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace sc
