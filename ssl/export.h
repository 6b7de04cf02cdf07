#pragma once
// Export to formats other tools read: safetensors (PyTorch, Hugging Face) for weights and
// NumPy .npy for feature matrices. Both are written atomically (see write_file_atomically).
//
// safetensors (https://github.com/huggingface/safetensors, format description):
//   uint64 little-endian N, then N bytes of JSON header, then the raw data buffer.
//   The header maps each tensor name to {"dtype": "F32"|"F64"|"I64"|"I32", "shape": [...],
//   "data_offsets": [begin, end]} (byte offsets into the data buffer), plus an optional
//   "__metadata__" object of string -> string. We pad the header with spaces so the data
//   starts at an 8-byte aligned offset, and lay tensors out in the order given.
//
// .npy version 1.0: "\x93NUMPY", bytes 1 and 0, uint16 little-endian header length, then an
//   ASCII Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (R, C), } padded with
//   spaces and ended by '\n' so the data starts at a multiple of 64 bytes; data in C order.
#include <map>
#include <string>

#include "ssl/checkpoint.h"

namespace sc::ssl {

// Tensors must be defined CPU tensors with distinct, non-empty names.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in data-buffer order
  std::map<std::string, std::string> metadata;
};
// Reads any safetensors file holding F32/F64/I64/I32 tensors, validating the header.
SafetensorsFile read_safetensors(const std::string& path);

// float32 -> '<f4', float64 -> '<f8', int64 -> '<i8', int32 -> '<i4'.
void write_npy(const std::string& path, const Tensor& tensor);
// Reads the .npy files write_npy writes (little-endian, C order, those four dtypes).
Tensor read_npy(const std::string& path);

}  // namespace sc::ssl
