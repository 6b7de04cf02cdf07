#include "augment/normalize.h"

#include <cmath>
#include <sstream>

#include "augment/checks.h"

namespace sc::augment {

namespace {

void check_mean_std(const std::vector<float>& mean, const std::vector<float>& std, const char* where) {
  SC_CHECK(!mean.empty() && mean.size() == std.size(), where, ": mean and std need the same nonzero number of values (one per channel), got ",
           mean.size(), " and ", std.size());
  for (size_t c = 0; c < std.size(); ++c) {
    SC_CHECK(std::isfinite(mean[c]), where, ": mean[", c, "] must be finite, got ", mean[c]);
    SC_CHECK(std::isfinite(std[c]) && std[c] != 0.0f, where, ": std[", c, "] must be finite and nonzero, got ", std[c]);
  }
}

}  // namespace

Image normalize(const Image& in, const std::vector<float>& mean, const std::vector<float>& std) {
  detail::check_image(in, "normalize");
  check_mean_std(mean, std, "normalize");
  SC_CHECK(static_cast<int64_t>(mean.size()) == in.channels, "normalize: mean and std hold ", mean.size(), " values but the image has ",
           in.channels, " channels");
  const int64_t plane = in.height * in.width;
  Image out = in;
  for (int64_t c = 0; c < in.channels; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      float& v = out.pixels[c * plane + i];
      v = (v - mean[c]) / std[c];
    }
  return out;
}

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)), std_(std::move(std)) {
  check_mean_std(mean_, std_, "Normalize");
}

Image Normalize::apply(const Image& in, Generator& /*gen*/) const {
  detail::check_image(in, "Normalize");
  SC_CHECK(static_cast<int64_t>(mean_.size()) == in.channels, "Normalize: mean and std hold ", mean_.size(), " values but the image has ",
           in.channels, " channels");
  return normalize(in, mean_, std_);
}

std::string Normalize::describe() const {
  std::ostringstream os;
  os << "Normalize(mean=";
  for (size_t c = 0; c < mean_.size(); ++c) os << (c ? "/" : "") << mean_[c];
  os << ", std=";
  for (size_t c = 0; c < std_.size(); ++c) os << (c ? "/" : "") << std_[c];
  os << ")";
  return os.str();
}

}  // namespace sc::augment
