#include "simulate/event_queue.h"

#include <algorithm>
#include <cassert>

namespace topup::simulate {

void EventQueue::Schedule(int64_t at_ms, Action action) {
  if (heap_.size() >= kMaxPending) {
    overflowed_ = true;
    return;
  }
  heap_.push(Event{std::max(at_ms, now_ms_), random_->NextU64(), next_seq_++, std::move(action)});
}

EventQueue::Action EventQueue::Pop() {
  assert(!heap_.empty());
  // priority_queue::top is const; the action is moved out before the pop discards it.
  Event& next = const_cast<Event&>(heap_.top());
  Action action = std::move(next.action);
  now_ms_ = next.at_ms;
  heap_.pop();
  return action;
}

}  // namespace topup::simulate
