// SimulatedQueue: a Queue for the simulation, playing a broker that outlives the topup process.
// Receive never waits. As faults, a published id may be lost or delivered twice, and when a node
// crashes its unacknowledged deliveries are either given again (as a broker does once the
// consumer's connection drops) or lost. Publishing wakes the dispatchers (on_publish).
//
// Threading: the simulation's one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "simulate/event_queue.h"
#include "simulate/faults.h"
#include "simulate/trace.h"
#include "topup/queue.h"
#include "topup/random.h"

namespace topup::simulate {

class SimulatedQueue final : public Queue {
 public:
  // Ids waiting beyond this are refused (Publish fails): the world must not grow without bound.
  static constexpr size_t kMaxDepth = 100'000;
  // Deliveries given and not acknowledged, as a broker's prefetch limit: beyond it Receive gives
  // nothing more until some are acknowledged (or their consumer dies).
  static constexpr size_t kMaxUnacked = 100'000;

  // The pointers must outlive the queue.
  SimulatedQueue(Random* random, const Faults* faults, Trace* trace, const EventQueue* events);

  // Told after every publish that took at least one id.
  void set_on_publish(std::function<void()> on_publish) { on_publish_ = std::move(on_publish); }

  Status Publish(std::span<const std::string> order_ids) override;
  // Never waits, whatever `wait` says.
  Result<std::vector<Delivery>> Receive(size_t max_count, std::chrono::milliseconds wait) override;
  Status Ack(std::span<const Delivery> deliveries) override;
  void Close() override {}
  // Receive never waits: there is no wait to end.
  void Wake() override {}

  // Node `consumer` died: each delivery it had not acknowledged is given again or lost.
  void ConsumerDied(int consumer);
  // Which node the next Receive calls come from.
  void set_consumer(int consumer) { consumer_ = consumer; }
  size_t depth() const { return ready_.size(); }

 private:
  struct Unacked {
    std::string order_id;
    int consumer = 0;
  };
  void Enqueue(const std::string& order_id);

  Random* const random_;
  const Faults* const faults_;
  Trace* const trace_;
  const EventQueue* const events_;
  std::function<void()> on_publish_;
  std::deque<std::string> ready_;
  std::map<uint64_t, Unacked> unacked_;  // by tag
  uint64_t next_tag_ = 1;
  int consumer_ = 0;
};

}  // namespace topup::simulate
