#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "base/error.h"

namespace sc {

// float32 is the training type; float64 exists so gradient checks can use
// central differences without drowning in rounding; int64/int32 hold labels and indices.
enum class DType { Float32, Float64, Int64, Int32 };

inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Int32: return 4;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Int32: return "int32";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

inline std::ostream& operator<<(std::ostream& os, DType d) { return os << dtype_name(d); }

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };

// Calls f.template operator()<T>() with T the C++ type of a floating dtype.
// Usage: dispatch_float(x.dtype(), "relu", [&]<typename T>() { kernel<T>(...); });
template <typename F>
decltype(auto) dispatch_float(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    default: break;
  }
  throw Error(detail::concat(op, ": dtype ", dtype_name(d), " is not supported (expected float32 or float64)"));
}

// Same, over every dtype (copies, casts, fills).
template <typename F>
decltype(auto) dispatch_all(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::Int32: return f.template operator()<int32_t>();
  }
  throw Error(detail::concat(op, ": unknown dtype"));
}

}  // namespace sc
