// EventQueue: the simulation's agenda. Every future happening (a loop's next pass, a supplier's
// answer, a merchant's order, a fault) is an event at a simulated time; the simulation runs them
// one at a time in time order on one thread. Events at the same time run in an order drawn from
// the seeded random source when they are scheduled, so every seed explores its own interleaving
// of simultaneous events and replays it exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "topup/random.h"

namespace topup::simulate {

class EventQueue {
 public:
  using Action = std::function<void()>;
  // Scheduling beyond this many pending events is a bug of the world (a loop that schedules
  // without bound): the event is dropped and overflowed() turns true.
  static constexpr size_t kMaxPending = 1'000'000;

  // `random` must outlive the queue. The time starts at `start_ms`.
  EventQueue(Random* random, int64_t start_ms) : random_(random), now_ms_(start_ms) {}

  // Runs `action` at `at_ms` (or now, if that is past).
  void Schedule(int64_t at_ms, Action action);
  bool overflowed() const { return overflowed_; }
  // The time of the next event. REQUIRES: !empty().
  int64_t next_ms() const { return heap_.top().at_ms; }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Removes the next event and returns its action; sets now_ms() to its time. REQUIRES: !empty().
  Action Pop();
  int64_t now_ms() const { return now_ms_; }

 private:
  struct Event {
    int64_t at_ms;
    uint64_t tie;  // drawn at scheduling: the order among events of one time
    uint64_t seq;  // unique: makes the order total
    Action action;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      if (a.at_ms != b.at_ms) return a.at_ms > b.at_ms;
      if (a.tie != b.tie) return a.tie > b.tie;
      return a.seq > b.seq;
    }
  };

  Random* const random_;
  std::priority_queue<Event, std::vector<Event>, Later> heap_;
  uint64_t next_seq_ = 0;
  int64_t now_ms_ = 0;
  bool overflowed_ = false;
};

}  // namespace topup::simulate
