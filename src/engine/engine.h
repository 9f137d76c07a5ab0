// Engine: the workers that take order ids off the queue and drive each order to a final state,
// the lease keeper that renews the leases they hold, and the sweeper that re-finds due work in
// the store. One Engine per process; several processes may share a store and a queue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/channel_router.h"
#include "engine/order_policy.h"
#include "topup/clock.h"
#include "topup/queue.h"
#include "topup/store.h"
#include "topup/supplier_channel.h"

namespace topup {

struct EngineOptions {
  std::string owner;  // unique per process: written into leases
  int worker_count = 64;
  // A claimed order is leased for this long and renewed every lease_ms / 3 while a worker holds
  // it, so a crashed worker's orders are taken up again within about lease_ms.
  int64_t lease_ms = 5'000;
  int64_t sweep_interval_ms = 250;
  // An id the sweeper published is published again after this long if no worker took it up
  // (the queue lost it).
  int64_t redeliver_after_ms = 5'000;
  size_t sweep_batch_max = 2'000;
  OrderPolicy policy;
};

struct EngineCounters {
  std::atomic<int64_t> claimed{0};
  std::atomic<int64_t> submitted{0};
  std::atomic<int64_t> queried{0};
  std::atomic<int64_t> cas_lost{0};
  std::atomic<int64_t> swept{0};
  std::atomic<int64_t> store_errors{0};
};

class Engine {
 public:
  // The pointers must outlive the Engine.
  Engine(Store* store, Queue* queue, ChannelRouter* router, Clock* clock, EngineOptions options);
  ~Engine();  // Stop()s
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Start();
  // Stops taking work, waits for in-flight supplier calls to end (each bounded by the attempt
  // timeout) and joins every thread. Orders being worked keep their state; their leases lapse and
  // another process (or this one, restarted) takes them up. Idempotent.
  void Stop();

  const EngineCounters& counters() const { return counters_; }

 private:
  void WorkerLoop();
  void SweeperLoop();
  void LeaseKeeperLoop();
  // Takes one claimed order one step further. REQUIRES: this process holds the order's lease.
  void Advance(Order order);
  // Applies `transition` and mirrors it into *order. Returns false if the compare-and-set lost or
  // the store failed (then the lease lapses and the order is retried later).
  bool Apply(const Transition& transition, Order* order);
  // Waits up to `duration_ms` or until Stop(). Returns false once stopping.
  bool SleepUnlessStopping(int64_t duration_ms);
  // The policy with the channel's own timeouts.
  OrderPolicy PolicyFor(const RoutedChannel& channel) const;

  Store* const store_;
  Queue* const queue_;
  ChannelRouter* const router_;
  Clock* const clock_;
  const EngineOptions options_;
  EngineCounters counters_;

  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;

  std::mutex held_mu_;
  std::multiset<std::string> held_;  // GUARDED_BY(held_mu_): leases this process must renew

  std::vector<std::thread> threads_;  // owned by the thread that calls Start/Stop
};

}  // namespace topup
