#pragma once
// An explicit, seedable random generator (xoshiro256**, seeded through splitmix64).
// Nothing in the engine reads a global RNG: every random choice takes a Generator&,
// so a run is reproducible from its seed, and the state can be saved with a checkpoint.
#include <array>
#include <cstdint>

namespace sc {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }

  void seed_with(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Standard normal (Box-Muller; the spare value is kept for the next call).
  double normal();
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);

  // The full state, for checkpoints.
  struct State {
    std::array<uint64_t, 4> s;
    bool has_spare;
    double spare;
  };
  State state() const { return {s_, has_spare_, spare_}; }
  void set_state(const State& st) {
    s_ = st.s;
    has_spare_ = st.has_spare;
    spare_ = st.spare;
  }

 private:
  std::array<uint64_t, 4> s_{};
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Mixes several numbers (run seed, epoch, sample index ...) into one seed.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

}  // namespace sc
