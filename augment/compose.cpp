#include <sstream>

#include "augment/checks.h"
#include "augment/transform.h"

namespace sc::augment {

// Each transform draws from the same generator in turn, so the whole pipeline's
// randomness is fixed by the generator's state at entry.
Image Compose::apply(const Image& in, Generator& gen) const {
  Image img = in;
  for (size_t i = 0; i < transforms_.size(); ++i) {
    SC_CHECK(transforms_[i] != nullptr, "Compose: transform ", i, " is null");
    img = transforms_[i]->apply(img, gen);
  }
  return img;
}

std::string Compose::describe() const {
  std::ostringstream os;
  os << "Compose(";
  for (size_t i = 0; i < transforms_.size(); ++i) os << (i ? ", " : "") << (transforms_[i] ? transforms_[i]->describe() : "null");
  os << ")";
  return os.str();
}

}  // namespace sc::augment
