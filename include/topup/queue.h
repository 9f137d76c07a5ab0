// Queue: carries order ids from whoever accepted or swept them to the workers.
//
// The store is the source of truth. A queue may deliver an id more than once or lose it; the
// engine is correct either way (claims are compare-and-set, the sweeper re-finds lost work), the
// queue only makes the common case fast.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "topup/status.h"

namespace topup {

struct Delivery {
  std::string order_id;
  uint64_t tag = 0;  // backend-specific handle used by Ack
};

// What a backend can tell cheaply about itself; -1 where it cannot.
struct QueueFigures {
  int64_t depth = -1;        // ids published and not yet received
  int64_t redelivered = -1;  // deliveries given again after their consumer failed to ack them
};

class Queue {
 public:
  virtual ~Queue() = default;
  // Enqueues the ids. OK means the backend has taken them (as durably as it is able to).
  virtual Status Publish(std::span<const std::string> order_ids) = 0;
  // Waits at most `wait` for work, or until Wake(), then returns between 0 and max_count
  // deliveries. Returns Unavailable("queue_closed") once Close() was called.
  virtual Result<std::vector<Delivery>> Receive(size_t max_count,
                                                std::chrono::milliseconds wait) = 0;
  // Ends the wait of the Receive under way, or, if none is waiting, of the next one to start:
  // that Receive returns at once with what it has (maybe nothing). One Wake ends one wait. For a
  // receiver that has work from elsewhere (the engine's local hand-offs). Any thread; never
  // blocks on the backend.
  virtual void Wake() = 0;
  // Acknowledges deliveries whose order state change is durable (or that needed none).
  virtual Status Ack(std::span<const Delivery> deliveries) = 0;
  // Wakes every receiver; later calls fail. Idempotent.
  virtual void Close() = 0;
  // OK if the backend can be reached now (for a broker, one round trip). For readiness checks.
  virtual Status Probe() { return Status::Ok(); }
  // Cheap: no round trip to a broker.
  virtual QueueFigures Figures() { return {}; }
};

}  // namespace topup
