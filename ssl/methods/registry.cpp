// The methods `--method` knows, in the order `simclr train --help` lists them. A new method
// adds its line here (and its declaration in ssl/methods/methods.h).
#include "ssl/methods/methods.h"

namespace sc::ssl {

const std::vector<MethodInfo>& method_registry() {
  static const std::vector<MethodInfo> methods = {
      simclr_method(), byol_method(), simsiam_method(), mocov3_method(), barlow_twins_method(), vicreg_method(),
  };
  return methods;
}

}  // namespace sc::ssl
