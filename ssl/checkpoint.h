#pragma once
// Checkpoints: everything needed to resume a run bit for bit (model tensors, optimizer
// state, RNG states, step/epoch, the run's config), in one self-checking binary file.
//
// ---- File format, version 1 (all integers little-endian) -----------------------------
//
//   header   "SCCKPT" (6 bytes), uint16 version (= 1)
//            uint64 config_length, config bytes (any text; stored and returned verbatim)
//            int64 step, int64 epoch
//   sections three in this order: model tensors, optimizer tensors, RNG states;
//            each is uint64 entry_count followed by its entries.
//   tensor   uint32 name_length, name bytes (UTF-8, 1..4096 bytes)
//   entry    uint8 dtype (0 float32, 1 float64, 2 int64, 3 int32)
//            uint32 ndim (0..16), int64 dims[ndim] (each >= 0)
//            uint64 data_bytes (must equal numel * dtype size)
//            data (row-major, C order)
//            uint32 crc32 of every byte of this entry before the crc (name .. data)
//   RNG      uint32 name_length, name bytes
//   entry    uint64 s[4], uint8 has_spare, float64 spare   (sc::Generator::State)
//            uint32 crc32 of every byte of this entry before the crc
//   trailer  "SCCKEND" + '\0' (8 bytes), uint32 crc32 of every byte of the file before
//            the trailer, uint32 reserved (0)
//
// The checksums are zlib's CRC-32 (the one in gzip and PNG). A per-entry CRC names the
// damaged tensor; the file CRC also covers the header, the counts and the config.
//
// Writing is atomic: the bytes go to "<path>.tmp", which is flushed and fsync'ed, then
// renamed over <path>, and the directory is fsync'ed, so a crash leaves either the old
// file or the new one, never half of one.
//
// Reading checks everything before trusting it: the magic, the version, the end marker
// (truncation), every length against the bytes left in the file (a corrupt header cannot
// make us allocate 2^60 elements), every CRC. Any problem is an sc::Error naming the
// file and, where there is one, the tensor.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"

namespace sc::ssl {

inline constexpr uint16_t kCheckpointVersion = 1;

// Named tensors in a fixed order (a Module's state_dict, an optimizer's state).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using NamedRngStates = std::vector<std::pair<std::string, Generator::State>>;

struct Checkpoint {
  std::string config;  // the run's configuration as text (e.g. JSON), verbatim
  int64_t step = 0;
  int64_t epoch = 0;
  NamedTensors model;
  NamedTensors optimizer;
  NamedRngStates rng;

  // Lookups by name; throw sc::Error naming the missing entry.
  const Tensor& model_tensor(const std::string& name) const;
  const Tensor& optimizer_tensor(const std::string& name) const;
  const Generator::State& rng_state(const std::string& name) const;
};

// Writes atomically (see above). Tensors must be defined CPU tensors (any layout).
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Reads and validates; the tensors come back contiguous on the CPU.
Checkpoint load_checkpoint(const std::string& path);

// Compares what a model expects with what a checkpoint holds and throws an sc::Error naming
// the first missing, unexpected or mis-shaped tensor (so a ConvNet checkpoint loaded into a
// ResNet says so instead of failing somewhere inside a copy). `source` names the file.
void check_compatible(const std::vector<std::pair<std::string, Shape>>& expected, const NamedTensors& loaded,
                      const std::string& source = "checkpoint");
// Same, from the model's own tensors; also compares dtypes.
void check_compatible(const NamedTensors& expected, const NamedTensors& loaded,
                      const std::string& source = "checkpoint");

// Writes a file the same atomic way: `write_body` writes to the temporary file; on any
// error (thrown or an I/O failure) the temporary is removed and the old file stays.
void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write_body);

}  // namespace sc::ssl
