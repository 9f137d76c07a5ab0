// The dispatcher's pass: takes a batch of hand-offs and queue deliveries, plans and records each
// order's step (the record takes the lease), and makes the supplier calls without waiting for their
// answers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <iterator>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/invariant.h"
#include "engine/engine.h"

namespace topup {
namespace {

// The longest the dispatcher rests while it has no room for more calls, or when its queue
// receives without waiting (an engine run step by step).
constexpr PassRest kIdleRest{200};
// After the queue failed.
constexpr PassRest kQueueErrorRest{100};
// Entries of orders that waited for a channel and were then taken up elsewhere are dropped after
// this long.
constexpr int64_t kWaitingForgetMs = 600'000;

}  // namespace

PassRest Engine::DispatchOnce() {
  dispatcher_pass_ms_ = clock_->NowMs();
  const auto max_in_flight = static_cast<size_t>(options_.max_in_flight);
  size_t room = 0;
  std::vector<Order> handed_off;
  {
    std::lock_guard lock(flow_mu_);
    // Due polls go first: they are older orders, already started.
    const size_t taken = static_cast<size_t>(in_flight_) + polls_waiting_for_room_;
    room = std::min(max_in_flight - std::min(max_in_flight, taken), options_.batch_max);
    if (handed_off_.size() <= room) {
      handed_off.swap(handed_off_);
    } else {
      // The oldest first; the others wait for the next pass.
      const auto split = handed_off_.begin() + static_cast<std::ptrdiff_t>(room);
      handed_off.assign(std::make_move_iterator(handed_off_.begin()),
                        std::make_move_iterator(split));
      handed_off_.erase(handed_off_.begin(), split);
    }
    dispatching_ = handed_off.size();
  }
  // Woken when calls end.
  if (room == 0) return kIdleRest;
  const size_t receive_max = room - handed_off.size();
  // With hand-offs in hand, or stopping, take what the queue has without waiting; otherwise wait
  // for it (a hand-off ends that wait: HandOff wakes the queue, and so does Stop).
  const std::chrono::milliseconds wait =
      handed_off.empty() && !stopping_ ? options_.receive_wait : std::chrono::milliseconds(0);
  Result<std::vector<Delivery>> deliveries =
      receive_max == 0 ? std::vector<Delivery>() : queue_->Receive(receive_max, wait);
  if (!deliveries.ok() && handed_off.empty()) return kQueueErrorRest;
  std::vector<Delivery> received =
      deliveries.ok() ? std::move(*deliveries) : std::vector<Delivery>();
  if (!received.empty() || !handed_off.empty()) {
    {
      std::lock_guard lock(flow_mu_);
      dispatching_ += received.size();
    }
    Dispatch(std::move(received), std::move(handed_off));
    std::lock_guard lock(flow_mu_);
    dispatching_ = 0;
    return deliveries.ok() ? kAtOnce : kQueueErrorRest;
  }
  // Receive waited for work already; without a wait there, rest (a publish wakes the loop).
  return options_.receive_wait > std::chrono::milliseconds(0) ? kAtOnce : kIdleRest;
}

bool Engine::HandOff(Order accepted) {
  if (!options_.local_handoff) return false;
  std::lock_guard lock(flow_mu_);
  const size_t taken =
      static_cast<size_t>(in_flight_) + polls_waiting_for_room_ + dispatching_ + handed_off_.size();
  if (handoffs_closed_ || stopping_ || taken >= static_cast<size_t>(options_.max_in_flight)) {
    return false;
  }
  handed_off_.push_back(std::move(accepted));
  counters_.handed_off++;
  if (handed_off_.size() == 1) {
    // The dispatcher may be resting, or waiting in Queue::Receive.
    WakeLoop(EngineLoop::kDispatcher);
    queue_->Wake();
  }
  return true;
}

void Engine::CloseHandOffs() {
  std::vector<std::string> left;
  {
    std::lock_guard lock(flow_mu_);
    handoffs_closed_ = true;
    for (Order& order : handed_off_) left.push_back(std::move(order.order_id));
    handed_off_.clear();
  }
  if (left.empty()) return;
  // Another node may take them at once; if the queue fails, the sweeper finds them once due.
  if (Status published = queue_->Publish(left); !published.ok()) {
    spdlog::warn("stopping: {} hand-offs not published ({}); the sweeper will pick them up",
                 left.size(), published.ToString());
  }
}

void Engine::Dispatch(std::vector<Delivery> deliveries, std::vector<Order> handed_off) {
  // Deliveries that need nothing more from this process: acknowledged once the batch is done.
  std::vector<Delivery> redundant;
  // Each id to take, with its delivery (none for a hand-off).
  std::vector<std::pair<std::string, std::optional<Delivery>>> fresh;
  // The ids of the deliveries, whose orders are read; hand-offs carry theirs.
  std::vector<std::string> ids;
  for (const Order& order : handed_off) {
    if (!lease_keeper_.Holds(order.order_id)) fresh.emplace_back(order.order_id, std::nullopt);
  }
  for (Delivery& delivery : deliveries) {
    // An order this process already works on is finished by that work.
    if (lease_keeper_.Holds(delivery.order_id)) {
      redundant.push_back(std::move(delivery));
    } else {
      ids.push_back(delivery.order_id);
      fresh.emplace_back(delivery.order_id, std::move(delivery));
    }
  }
  const int64_t now_ms = clock_->NowMs();
  ForgetOldWaits(now_ms);
  Result<std::vector<Order>> read = ids.empty() ? std::vector<Order>() : store_->ReadOrders(ids);
  if (!read.ok()) {
    // Not acknowledged: the queue or the sweeper brings the orders back (a hand-off, the
    // sweeper once due).
    counters_.store_errors++;
    spdlog::warn("read of {} orders failed: {}", ids.size(), read.status().ToString());
    return;
  }

  // Each order that this process may take goes with the first delivery of its id; the others
  // are final or leased to someone else, who finishes them. A hand-off's copy is the order as
  // accepted: an id that was also delivered goes as read.
  std::unordered_map<std::string_view, Order*> unmatched;
  auto offer = [&](Order& order) {
    const bool leased_elsewhere =
        order.lease_owner != options_.owner && order.lease_expires_ms > now_ms;
    if (!IsFinal(order.status) && !leased_elsewhere) unmatched.emplace(order.order_id, &order);
  };
  for (Order& order : *read) offer(order);
  const std::unordered_set<std::string_view> read_ids(ids.begin(), ids.end());
  for (Order& order : handed_off) {
    if (!read_ids.contains(order.order_id)) offer(order);
  }
  std::vector<std::unique_ptr<Work>> record_now;
  std::vector<std::unique_ptr<Work>> queries;
  for (auto& [order_id, delivery] : fresh) {
    // A hand-off and a delivery of the same id (the sweeper's, say) meet here: the first takes the
    // order, the other needs nothing more.
    auto it = unmatched.find(order_id);
    if (it == unmatched.end()) {
      if (delivery) redundant.push_back(std::move(*delivery));
      continue;
    }
    Order& order = *it->second;
    unmatched.erase(it);
    lease_keeper_.Hold(order.order_id);
    std::unique_ptr<Work> work = Plan(std::move(delivery), std::move(order), now_ms);
    if (work->channel && !work->submit) {
      queries.push_back(std::move(work));
    } else {
      // The step's compare-and-set takes the lease: one write claims the order and records it.
      work->step.claim_owner = options_.owner;
      work->step.claim_lease_ms = options_.lease_ms;
      record_now.push_back(std::move(work));
    }
  }
  if (!redundant.empty()) (void)queue_->Ack(redundant);

  // Every attempt is durably started (and its order leased) before anything is sent.
  std::vector<bool> applied = Record(record_now);
  std::vector<std::unique_ptr<Work>> submits;
  std::vector<std::unique_ptr<Work>> done;
  for (size_t i = 0; i < record_now.size(); ++i) {
    std::unique_ptr<Work>& work = record_now[i];
    if (applied[i]) counters_.claimed++;
    if (work->submit && applied[i] && work->step.attempt == Transition::Attempt::kStart) {
      submits.push_back(std::move(work));
      continue;
    }
    if (work->submit) work->channel->Release();
    done.push_back(std::move(work));
  }
  Release(done);

  Call(submits);
  std::vector<std::unique_ptr<Work>> claimed = ClaimForQueries(std::move(queries), now_ms);
  Call(claimed);
}

std::vector<std::unique_ptr<Engine::Work>> Engine::ClaimForQueries(
    std::vector<std::unique_ptr<Work>> queries, int64_t now_ms) {
  if (queries.empty()) return queries;
  std::vector<std::string> ids;
  ids.reserve(queries.size());
  for (const std::unique_ptr<Work>& work : queries) ids.push_back(work->order.order_id);
  Result<std::vector<Order>> claimed =
      store_->ClaimOrders(ids, options_.owner, now_ms, options_.lease_ms);
  if (!claimed.ok()) {
    // Not acknowledged: the queue or the sweeper brings the orders back.
    counters_.store_errors++;
    spdlog::warn("claim of {} orders failed: {}", ids.size(), claimed.status().ToString());
    for (std::unique_ptr<Work>& work : queries) lease_keeper_.LetGo(work->order.order_id);
    return {};
  }
  counters_.claimed += static_cast<int64_t>(claimed->size());
  for (const Order& order : *claimed) {
    TOPUP_ASSERT(order.lease_owner == options_.owner && order.lease_expires_ms > now_ms,
                 "a claim answered with an order whose lease is not this process's");
  }
  // An order that moved between the read and the claim is left to whoever moved it (or to the
  // sweeper): the plan was made for the state that was read.
  std::unordered_map<std::string_view, const Order*> by_id;
  for (const Order& order : *claimed) by_id.emplace(order.order_id, &order);
  std::vector<std::unique_ptr<Work>> asked;
  std::vector<std::unique_ptr<Work>> dropped;
  for (std::unique_ptr<Work>& work : queries) {
    auto it = by_id.find(work->order.order_id);
    const bool unchanged = it != by_id.end() && it->second->status == work->order.status &&
                           it->second->attempt_count == work->order.attempt_count &&
                           it->second->supplier_order_id == work->order.supplier_order_id;
    (unchanged ? asked : dropped).push_back(std::move(work));
  }
  Release(dropped);
  return asked;
}

void Engine::Call(std::vector<std::unique_ptr<Work>>& works) {
  {
    std::lock_guard lock(flow_mu_);
    in_flight_ += static_cast<int>(works.size());
  }
  Ask(works);
}

void Engine::Ask(std::vector<std::unique_ptr<Work>>& works) {
  for (std::unique_ptr<Work>& work : works) {
    lease_keeper_.AssertHolds(work->order.order_id);
    work->called_ms = clock_->NowMs();
    // After the attempt was recorded (by this process, or by the one whose record it read).
    const int64_t now_monotonic_ms = clock_->MonotonicMs();
    work->asked = QueryAsked{.wall_ms = work->called_ms,
                             .monotonic_ms = now_monotonic_ms,
                             .attempt_first_called_monotonic_ms = first_calls_.Called(
                                 work->order.supplier_order_id, now_monotonic_ms)};
    SupplierChannel& channel = work->channel->channel();
    const bool submit = work->submit;
    SubmitRequest request{work->order.supplier_order_id, work->order.phone,
                          work->order.face_value_yuan};
    if (submit) {
      // An attempt is sent by attempt_sent_ms + attempt_timeout_ms or never, which is what lets
      // the order policy bound when the supplier can have received it (NotFoundBelievedFromMs).
      const int64_t left_ms =
          work->order.attempt_sent_ms + work->policy.attempt_timeout_ms - clock_->NowMs();
      if (left_ms <= 0) {
        OnAnswer(std::move(work), SupplierAnswer{SupplierOutcome::kNotSent, "",
                                                 "not sent: its time to be sent had passed"});
        continue;
      }
      request.timeout = std::chrono::milliseconds(left_ms);
    }
    // Owned by the callback, which runs at most once, maybe before the call returns: the work
    // may be gone once the call is made. A callback dropped unanswered frees it.
    auto owned = std::make_shared<std::unique_ptr<Work>>(std::move(work));
    AnswerCallback on_answer = [this, owned](SupplierAnswer answer) {
      OnAnswer(std::move(*owned), answer);
    };
    if (submit) {
      counters_.submitted++;
      channel.SubmitAsync(request, std::move(on_answer));
    } else {
      counters_.queried++;
      channel.QueryAsync(request.supplier_order_id, std::move(on_answer));
    }
  }
}

void Engine::ForgetOldWaits(int64_t now_ms) {
  if (now_ms - waits_forgotten_at_ms_ < kWaitingForgetMs / 10) return;
  waits_forgotten_at_ms_ = now_ms;
  std::erase_if(waiting_since_ms_,
                [&](const auto& entry) { return now_ms - entry.second > kWaitingForgetMs; });
}

std::unique_ptr<Engine::Work> Engine::Plan(std::optional<Delivery> delivery, Order order,
                                           int64_t now_ms) {
  assert(!IsFinal(order.status));
  auto work = std::make_unique<Work>();
  work->delivery = std::move(delivery);
  work->order = std::move(order);
  work->policy = options_.policy;
  const Order& o = work->order;
  if (o.supplier_order_id.empty()) {
    // No live attempt: start one, or fail the order if none can be started.
    Result<std::shared_ptr<RoutedChannel>> routed = router_->Admit(o, now_ms);
    if (!routed.ok()) {
      auto waiting = waiting_since_ms_.find(o.order_id);
      if (waiting == waiting_since_ms_.end()) {
        if (waiting_since_ms_.size() >= options_.max_remembered_waits) {
          // Full: the wait counts from the order's acceptance, which paces its looks as well;
          // its history says it waited once it is remembered (never with waited_ms == 0 here).
          counters_.waits_not_remembered++;
          const int64_t since_ms = std::min(o.created_ms, now_ms - 1);
          work->step = PlanWithoutChannel(o, work->policy, routed.status(), since_ms, now_ms);
          return work;
        }
        waiting = waiting_since_ms_.emplace(o.order_id, now_ms).first;
      }
      work->step = PlanWithoutChannel(o, work->policy, routed.status(), waiting->second, now_ms);
      if (IsFinal(work->step.to)) waiting_since_ms_.erase(waiting);
      return work;
    }
    int64_t waited_ms = 0;
    if (auto waiting = waiting_since_ms_.find(o.order_id); waiting != waiting_since_ms_.end()) {
      waited_ms = now_ms - waiting->second;
      waiting_since_ms_.erase(waiting);
    }
    work->channel = std::move(*routed);
    work->submit = true;
    work->policy = PolicyFor(*work->channel);
    work->step = PlanNextAttempt(o, work->policy, work->channel->config().name, now_ms, waited_ms);
    return work;
  }
  // A live attempt, possibly sent by a process that died: ask, never resend.
  work->channel = router_->Find(o.channel);
  if (work->channel == nullptr) {
    spdlog::error("live attempt on an unconfigured channel order_id={} merchant_id={} channel={}",
                  o.order_id, o.merchant_id, o.channel);
    const SupplierAnswer unknown{SupplierOutcome::kUnknown, "",
                                 "channel " + o.channel + " is not configured"};
    work->step = PlanAfterAnswer(o, unknown, /*submitted=*/false, work->policy, now_ms);
    return work;
  }
  work->policy = PolicyFor(*work->channel);
  return work;
}

}  // namespace topup
