// The poller's pass: asks again, when due, the supplier of each order polled in memory (answers
// that changed nothing but the order's schedule, kept leased to this process unwritten).
#include <algorithm>

#include "engine/engine.h"

namespace topup {
namespace {

// The longest the poller rests before it looks at the clock again (the clock may be a test's).
constexpr int64_t kPollerMaxRestMs = 50;

}  // namespace

PassRest Engine::PollOnce() {
  std::unique_lock lock(flow_mu_);
  const int64_t now_ms = clock_->NowMs();
  poller_pass_ms_ = now_ms;
  if (polls_closed_) return PassRest(kPollerMaxRestMs);
  if (!poll_acks_.empty()) {
    std::vector<Delivery> acks;
    acks.swap(poll_acks_);
    lock.unlock();
    (void)queue_->Ack(acks);
    return kAtOnce;
  }
  // Queries count against max_in_flight as every call does: beyond it they would only wait for
  // a connection. Those left waiting for room are kept from the dispatcher's share.
  const size_t max_in_flight = static_cast<size_t>(options_.max_in_flight);
  std::vector<std::unique_ptr<Work>> due;
  while (!polls_.empty() && polls_.begin()->first <= now_ms &&
         static_cast<size_t>(in_flight_) + due.size() < max_in_flight) {
    due.push_back(std::move(polls_.begin()->second));
    polls_.erase(polls_.begin());
  }
  polls_waiting_for_room_ = 0;
  for (auto it = polls_.begin();
       it != polls_.end() && it->first <= now_ms && polls_waiting_for_room_ < max_in_flight; ++it) {
    ++polls_waiting_for_room_;
  }
  if (!due.empty()) {
    in_flight_ += static_cast<int>(due.size());
    lock.unlock();
    counters_.polled_in_memory += static_cast<int64_t>(due.size());
    Ask(due);
    return kAtOnce;
  }
  // Waiting for room, the finisher wakes it as calls end.
  return PassRest(polls_.empty() || polls_waiting_for_room_ > 0
                      ? kPollerMaxRestMs
                      : std::clamp<int64_t>(polls_.begin()->first - now_ms, 1, kPollerMaxRestMs));
}

void Engine::ClosePolls() {
  // The orders not asked again are let go; their leases lapse and the sweeper (here or on
  // another node) takes them up from the store, where their next check is due.
  std::vector<Delivery> acks;
  std::vector<std::string> let_go;
  {
    std::lock_guard lock(flow_mu_);
    polls_closed_ = true;
    acks.swap(poll_acks_);
    for (auto& [due_ms, work] : polls_) let_go.push_back(work->order.order_id);
    polls_.clear();
  }
  for (const std::string& order_id : let_go) lease_keeper_.LetGo(order_id);
  if (!acks.empty()) (void)queue_->Ack(acks);
}

}  // namespace topup
