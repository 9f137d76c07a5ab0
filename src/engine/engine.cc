#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <chrono>

namespace topup {
namespace {

constexpr std::chrono::milliseconds kReceiveWait{200};

}  // namespace

Engine::Engine(Store* store, Queue* queue, ChannelRouter* router, Clock* clock,
               EngineOptions options)
    : store_(store), queue_(queue), router_(router), clock_(clock), options_(std::move(options)) {
  assert(!options_.owner.empty());
  assert(options_.worker_count > 0 && options_.lease_ms > 0);
}

Engine::~Engine() { Stop(); }

void Engine::Start() {
  assert(threads_.empty());
  for (int i = 0; i < options_.worker_count; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  threads_.emplace_back([this] { SweeperLoop(); });
  threads_.emplace_back([this] { LeaseKeeperLoop(); });
}

void Engine::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_.exchange(true)) return;
  }
  stop_cv_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

bool Engine::SleepUnlessStopping(int64_t duration_ms) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, std::chrono::milliseconds(duration_ms),
                            [this] { return stopping_.load(); });
}

void Engine::WorkerLoop() {
  while (!stopping_) {
    Result<std::vector<Delivery>> deliveries = queue_->Receive(1, kReceiveWait);
    if (!deliveries.ok()) {
      if (!SleepUnlessStopping(100)) return;
      continue;
    }
    for (const Delivery& delivery : *deliveries) {
      const std::string ids[] = {delivery.order_id};
      Result<std::vector<Order>> claimed =
          store_->ClaimOrders(ids, options_.owner, clock_->NowMs(), options_.lease_ms);
      if (!claimed.ok()) {
        // Not acknowledged: the queue or the sweeper brings the order back.
        counters_.store_errors++;
        spdlog::warn("claim of {} failed: {}", delivery.order_id, claimed.status().ToString());
        continue;
      }
      for (Order& order : *claimed) {
        counters_.claimed++;
        {
          std::lock_guard lock(held_mu_);
          held_.insert(order.order_id);
        }
        Advance(std::move(order));
        {
          std::lock_guard lock(held_mu_);
          held_.erase(held_.find(delivery.order_id));
        }
      }
      // Either the step is durable, or the order was final or someone else's: nothing to redo.
      (void)queue_->Ack(std::span<const Delivery>(&delivery, 1));
    }
  }
}

bool Engine::Apply(const Transition& transition, Order* order) {
  assert(IsAllowedTransition(transition.from, transition.to) ||
         (transition.from == transition.to && transition.attempt == Transition::Attempt::kKeep));
  Result<bool> applied = store_->ApplyTransition(transition);
  if (!applied.ok()) {
    counters_.store_errors++;
    spdlog::warn("transition of {} failed: {}", order->order_id, applied.status().ToString());
    return false;
  }
  if (!*applied) {
    counters_.cas_lost++;
    return false;
  }
  ApplyToOrder(transition, order);
  return true;
}

OrderPolicy Engine::PolicyFor(const RoutedChannel& channel) const {
  OrderPolicy policy = options_.policy;
  policy.attempt_timeout_ms = channel.config().attempt_timeout_ms;
  policy.first_query_delay_ms = channel.config().query_interval_ms;
  return policy;
}

namespace {

CircuitBreaker::Outcome BreakerOutcome(SupplierOutcome outcome) {
  switch (outcome) {
    case SupplierOutcome::kSuccess:
    case SupplierOutcome::kProcessing:
      return CircuitBreaker::Outcome::kSuccess;
    case SupplierOutcome::kUnknown:
      return CircuitBreaker::Outcome::kTimeout;
    default:
      return CircuitBreaker::Outcome::kError;
  }
}

}  // namespace

void Engine::Advance(Order order) {
  assert(!IsFinal(order.status));
  if (order.supplier_order_id.empty()) {
    // No live attempt: start one (durably, before anything is sent) or fail the order.
    Result<std::shared_ptr<RoutedChannel>> routed = router_->Admit(order, clock_->NowMs());
    if (!routed.ok()) {
      Apply(PlanWithoutChannel(order, options_.policy, routed.status(), clock_->NowMs()), &order);
      return;
    }
    RoutedChannel& channel = **routed;
    const OrderPolicy policy = PolicyFor(channel);
    Transition start = PlanNextAttempt(order, policy, channel.config().name, clock_->NowMs());
    if (!Apply(start, &order) || IsFinal(order.status)) {
      channel.Release();
      return;
    }
    counters_.submitted++;
    SupplierAnswer answer = channel.channel().Submit(
        SubmitRequest{order.supplier_order_id, order.phone, order.face_value_yuan});
    channel.Release();
    channel.breaker().Record(BreakerOutcome(answer.outcome), clock_->NowMs());
    Apply(PlanAfterAnswer(order, answer, /*submitted=*/true, policy, clock_->NowMs()), &order);
    return;
  }
  // A live attempt, possibly sent by a worker that died: ask, never resend.
  std::shared_ptr<RoutedChannel> channel = router_->Find(order.channel);
  SupplierAnswer answer{SupplierOutcome::kUnknown, "",
                        "channel " + order.channel + " is not configured"};
  if (channel != nullptr) {
    counters_.queried++;
    answer = channel->channel().Query(order.supplier_order_id);
  } else {
    spdlog::error("order {} has a live attempt on unconfigured channel {}", order.order_id,
                  order.channel);
  }
  const OrderPolicy policy = channel ? PolicyFor(*channel) : options_.policy;
  Apply(PlanAfterAnswer(order, answer, /*submitted=*/false, policy, clock_->NowMs()), &order);
}

void Engine::SweeperLoop() {
  while (SleepUnlessStopping(options_.sweep_interval_ms)) {
    // Bounded: at most a few batches per tick, so a backlog drains without starving shutdown.
    for (int batch = 0; batch < 8 && !stopping_; ++batch) {
      Result<std::vector<std::string>> due = store_->TakeDueOrders(
          clock_->NowMs(), options_.sweep_batch_max, options_.redeliver_after_ms);
      if (!due.ok()) {
        counters_.store_errors++;
        spdlog::warn("sweep failed: {}", due.status().ToString());
        break;
      }
      if (due->empty()) break;
      counters_.swept += static_cast<int64_t>(due->size());
      Status published = queue_->Publish(*due);
      if (!published.ok()) spdlog::warn("sweep publish: {}", published.ToString());
      if (due->size() < options_.sweep_batch_max) break;
    }
  }
}

void Engine::LeaseKeeperLoop() {
  while (SleepUnlessStopping(options_.lease_ms / 3)) {
    std::vector<std::string> ids;
    {
      std::lock_guard lock(held_mu_);
      ids.assign(held_.begin(), held_.end());
    }
    if (ids.empty()) continue;
    Status renewed = store_->RenewLeases(ids, options_.owner, clock_->NowMs(), options_.lease_ms);
    if (!renewed.ok()) spdlog::warn("lease renewal failed: {}", renewed.ToString());
  }
}

}  // namespace topup
