// OpenOrdersGauges: the gauges that need the store (open orders by state, the age of the oldest,
// money held by open orders, lapsed leases, the notification backlog), from one cheap query of the
// open orders every interval_ms on a thread of its own. A scrape reads the last answer and never
// queries the store.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::observe {

class OpenOrdersGauges {
 public:
  // Registers the gauges on `metrics` and starts polling. The pointers must outlive this object.
  OpenOrdersGauges(Store* store, Clock* clock, Metrics* metrics, int64_t interval_ms = 5'000);
  ~OpenOrdersGauges();  // stops the thread
  OpenOrdersGauges(const OpenOrdersGauges&) = delete;
  OpenOrdersGauges& operator=(const OpenOrdersGauges&) = delete;

 private:
  void Loop();
  void Poll();
  // Gauges of the last summary: a field as it is, and the seconds since a time (0 when it is 0).
  SampleReader Value(int64_t OpenOrdersSummary::*field);
  SampleReader AgeSince(int64_t OpenOrdersSummary::*at_ms);

  Store* const store_;
  Clock* const clock_;
  const int64_t interval_ms_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;      // GUARDED_BY(mu_)
  OpenOrdersSummary summary_;  // GUARDED_BY(mu_): the last answer
  bool have_summary_ = false;  // GUARDED_BY(mu_)
  int64_t polled_at_ms_ = 0;   // GUARDED_BY(mu_): when summary_ was read
  int64_t poll_failures_ = 0;  // GUARDED_BY(mu_)

  std::thread thread_;  // last: started once everything above is constructed
};

}  // namespace topup::observe
