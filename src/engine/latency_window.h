// LatencyWindow: one quantile of the last few durations of something. Used for what each supplier
// channel has shown about its time from sending an attempt to its final answer.
//
// Thread-safe. The quantile is recomputed every few records, so reading it costs a lock and a
// load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace topup {

class LatencyWindow {
 public:
  // Remembers the last `capacity` durations; the quantile needs at least `min_samples` of them.
  explicit LatencyWindow(double quantile = 0.95, size_t capacity = 200, size_t min_samples = 20);

  void Record(int64_t duration_ms);
  // The quantile of the remembered durations as of the last recomputation; 0 with fewer than
  // min_samples.
  int64_t QuantileMs() const;

 private:
  void Recompute();  // REQUIRES: mu_ held

  const double quantile_;
  const size_t capacity_;
  const size_t min_samples_;
  mutable std::mutex mu_;
  std::vector<int64_t> ring_;   // GUARDED_BY(mu_): up to capacity_ durations
  size_t next_ = 0;             // GUARDED_BY(mu_): where the next one goes once ring_ is full
  size_t since_recompute_ = 0;  // GUARDED_BY(mu_)
  int64_t quantile_ms_ = 0;     // GUARDED_BY(mu_)
};

}  // namespace topup
