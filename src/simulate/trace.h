// Trace: what happened in one simulated run, line by line. Every line goes into a running
// FNV-1a 64 hash (the run's fingerprint: the same seed gives the same hash on any machine); the
// last kKept lines are kept to show what led to a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace topup::simulate {

class Trace {
 public:
  static constexpr size_t kKept = 200;

  // Appends "<at_ms> <line>".
  void Add(int64_t at_ms, std::string_view line);
  uint64_t hash() const { return hash_; }
  uint64_t lines() const { return lines_; }
  // The last lines kept, oldest first, one per line.
  std::string Tail() const;

 private:
  void Hash(std::string_view bytes);

  uint64_t hash_ = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  uint64_t lines_ = 0;
  std::deque<std::string> kept_;
};

}  // namespace topup::simulate
