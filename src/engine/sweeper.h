// Sweeper: finds again the work the queue lost. Every interval_ms it takes the open orders that
// are due and not leased from the store (TakeDueOrders moves each one's next check on by
// redeliver_after_ms, so an id waiting in a queue is not taken twice) and publishes their ids.
// Safe on every node at once: the store hands each due order to one sweeper. The due orders whose
// lease had lapsed unreleased (a node died or stalled holding them) are counted as lease expiries.
//
// Threading: SweepOnce() runs on a LoopRunner's thread between Start() and Stop(), or is called
// by whoever runs the engine step by step (the simulation), never both; the counters are atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/loop_runner.h"
#include "topup/clock.h"
#include "topup/queue.h"
#include "topup/store.h"

namespace topup {

struct EngineCounters;

struct SweeperOptions {
  int64_t interval_ms = 250;
  size_t batch_max = 2'000;  // ids per TakeDueOrders; at most 8 batches per pass
  int64_t redeliver_after_ms = 5'000;
};

class Sweeper {
 public:
  // The pointers must outlive the Sweeper. `counters` gets swept, lease_expiries and
  // store_errors.
  Sweeper(Store* store, Queue* queue, Clock* clock, SweeperOptions options,
          EngineCounters* counters);
  ~Sweeper();  // Stop()s
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // Sweeps every interval_ms on a thread of its own, the first time one interval from now.
  void Start();
  // Finishes the pass under way and joins the thread. Idempotent.
  void Stop();
  // One pass: publishes the ids of the due orders (a bounded number of batches). Returns the rest
  // before the next pass (interval_ms).
  PassRest SweepOnce();
  // When the last pass began (Start() counts as one). Any thread.
  int64_t last_pass_ms() const { return last_pass_ms_.load(); }

 private:
  Store* const store_;
  Queue* const queue_;
  Clock* const clock_;
  const SweeperOptions options_;
  EngineCounters* const counters_;

  std::atomic<int64_t> last_pass_ms_{0};
  std::atomic<bool> stopping_{false};  // cuts a pass short between batches
  LoopRunner runner_;
};

}  // namespace topup
