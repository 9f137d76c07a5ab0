// LeaseKeeper: the leases this process holds, renewed while it works on their orders.
//
// The engine leases an order for lease_ms when it claims it; the keeper renews every lease it
// holds every lease_ms / 3, so an order being worked on is never taken up by another node, and
// the order of a process that died is free again within about lease_ms.
//
// One owner per order: the engine works an order once at a time (a redelivery of an id it holds
// is finished by the work under way), so an order is held at most once, and a process holds at
// most max_held orders (its calls in flight plus its orders polled in memory). Either broken is a
// bug of the engine, asserted (TOPUP_ASSERT) in every build.
//
// Threading: Hold, LetGo and Holds are called from any thread (guarded by mu_); RenewOnce() runs
// on a LoopRunner's thread between Start() and Stop(), or is called by whoever runs the engine
// step by step (the simulation), never both.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "core/loop_runner.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup {

struct EngineCounters;

struct LeaseKeeperOptions {
  std::string owner;  // written into the leases
  int64_t lease_ms = 5'000;
  size_t batch_max = 1'024;  // ids per RenewLeases call
  size_t max_held = 1'024;   // orders held at once
};

class LeaseKeeper {
 public:
  // The pointers must outlive the keeper. `counters` gets lease_renewal_failures.
  LeaseKeeper(Store* store, Clock* clock, LeaseKeeperOptions options, EngineCounters* counters);
  ~LeaseKeeper();  // Stop()s
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Renews every lease_ms / 3 on a thread of its own, the first time a third of a lease from now.
  void Start();
  // Finishes the renewal under way and joins the thread; the leases then lapse. Idempotent.
  void Stop();
  // One pass: renews every lease held. Returns the rest before the next pass (lease_ms / 3).
  PassRest RenewOnce();

  // REQUIRES (asserted): the order is not held, and fewer than max_held are.
  void Hold(const std::string& order_id);
  // REQUIRES (asserted): the order is held.
  void LetGo(const std::string& order_id);
  bool Holds(const std::string& order_id) const;
  // Asserts that the order is held: the engine works no order it does not hold.
  void AssertHolds(const std::string& order_id) const;
  // When the last renewal pass began (Start() counts as one). Any thread.
  int64_t last_pass_ms() const { return last_pass_ms_.load(); }

 private:
  Store* const store_;
  Clock* const clock_;
  const LeaseKeeperOptions options_;
  EngineCounters* const counters_;

  std::atomic<int64_t> last_pass_ms_{0};
  mutable std::mutex mu_;
  std::set<std::string> held_;  // GUARDED_BY(mu_)
  LoopRunner runner_;
};

}  // namespace topup
