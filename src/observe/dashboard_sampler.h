// DashboardSampler: what the operator dashboard draws over time. Every interval_ms, on a thread
// of its own, it reads the store's order counts by state (kept by the store's writes) and counts
// its notifications by state (one grouped query), and reads this process's acceptance-to-final
// latency from Metrics, and keeps the samples of the last window_ms in memory (a ring: at most
// window_ms / interval_ms + 1 samples). Readers never query the store.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::observe {

struct DashboardSample {
  int64_t at_ms = 0;
  OrderCounts orders;                // every state, all processes
  NotificationCounts notifications;  // every state, all processes
  // This process's orders brought to a final state since it started: their number and the sum
  // of their acceptance-to-final latencies.
  int64_t finished = 0;
  double final_latency_sum_s = 0;
};

class DashboardSampler {
 public:
  // Takes the first sample now, then one every interval_ms. The pointers must outlive this.
  DashboardSampler(Store* store, Clock* clock, const Metrics* metrics, int64_t interval_ms = 5'000,
                   int64_t window_ms = 15 * 60 * 1'000);
  ~DashboardSampler();  // stops the thread
  DashboardSampler(const DashboardSampler&) = delete;
  DashboardSampler& operator=(const DashboardSampler&) = delete;

  // The samples of the window, oldest first; the store's refusals are skipped (and logged).
  std::vector<DashboardSample> Window() const;
  int64_t interval_ms() const { return interval_ms_; }

 private:
  void Loop();
  std::optional<DashboardSample> Take();

  Store* const store_;
  Clock* const clock_;
  const Metrics* const metrics_;
  const int64_t interval_ms_;
  const size_t capacity_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                // GUARDED_BY(mu_)
  std::deque<DashboardSample> samples_;  // GUARDED_BY(mu_): at most capacity_

  std::thread thread_;  // last: started once everything above is constructed
};

}  // namespace topup::observe
