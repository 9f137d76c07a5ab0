// Randomness enters the engine only through Random, so a failing seed replays exactly.
#pragma once

#include <atomic>
#include <cstdint>

namespace topup {

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t NextU64() = 0;

  // Uniform in [0, 1).
  double NextUnit() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t NextBelow(uint64_t bound) { return NextU64() % bound; }
  bool Chance(double probability) { return NextUnit() < probability; }
};

// SplitMix64 over an atomic counter: thread-safe, lock-free, and the same sequence for the same
// seed when called from one thread.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t NextU64() override {
    uint64_t z =
        state_.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::atomic<uint64_t> state_;
};

}  // namespace topup
