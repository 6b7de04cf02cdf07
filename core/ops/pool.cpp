// PLACEHOLDER: replaced by the real op family.
#include "core/ops.h"

namespace sc {
Tensor max_pool2d(const Tensor&, const Pool2dOptions&) { throw Error("max_pool2d: not implemented yet"); }
Tensor avg_pool2d(const Tensor&, const Pool2dOptions&) { throw Error("avg_pool2d: not implemented yet"); }
Tensor global_avg_pool2d(const Tensor&) { throw Error("global_avg_pool2d: not implemented yet"); }
}  // namespace sc
