#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <chrono>

#include "engine/deadline_report.h"

namespace topup {
namespace {

// A loop whose pass takes longer than this (or than a few of its intervals) counts as stuck.
constexpr int64_t kStuckAfterMs = 5'000;

// Orders the engine works at once: its calls in flight (dispatched, answered, being recorded) and
// its orders polled in memory, each held once (LeaseKeeper).
size_t MaxHeld(const EngineOptions& options) {
  return static_cast<size_t>(options.max_in_flight) + options.max_polled_in_memory;
}

}  // namespace

Engine::Engine(Store* store, Queue* queue, ChannelRouter* router, Clock* clock,
               EngineOptions options)
    : store_(store),
      queue_(queue),
      router_(router),
      clock_(clock),
      options_(std::move(options)),
      lease_keeper_(store, clock,
                    LeaseKeeperOptions{.owner = options_.owner,
                                       .lease_ms = options_.lease_ms,
                                       .batch_max = options_.batch_max,
                                       .max_held = MaxHeld(options_)},
                    &counters_),
      sweeper_(store, queue, clock,
               SweeperOptions{.interval_ms = options_.sweep_interval_ms,
                              .batch_max = options_.sweep_batch_max,
                              .redeliver_after_ms = options_.redeliver_after_ms},
               &counters_),
      first_calls_(options_.max_remembered_first_calls) {
  assert(!options_.owner.empty());
  assert(options_.max_in_flight > 0 && options_.batch_max > 0 && options_.lease_ms > 0);
  assert(options_.max_remembered_first_calls > 0);
}

Engine::~Engine() {
  // Run step by step, the engine is dropped as a crashed process would be: nothing handed back.
  if (!stepping_) Stop();
}

void Engine::RunnerWaker::Wake(EngineLoop loop) {
  switch (loop) {
    case EngineLoop::kDispatcher:
      engine_->dispatcher_.Wake();
      return;
    case EngineLoop::kFinisher:
      engine_->finisher_.Wake();
      return;
    case EngineLoop::kPoller:
      engine_->poller_.Wake();
      return;
  }
}

void Engine::Start() {
  assert(!stepping_);
  const int64_t now_ms = clock_->NowMs();
  for (std::atomic<int64_t>* pass_ms :
       {&dispatcher_pass_ms_, &finisher_pass_ms_, &poller_pass_ms_}) {
    pass_ms->store(now_ms);
  }
  lease_keeper_.Start();
  dispatcher_.Start();
  finisher_.Start();
  poller_.Start();
  sweeper_.Start();
}

void Engine::StartStepping(EngineLoopWaker* waker) {
  assert(waker != nullptr);
  stepping_ = true;
  waker_ = waker;
  const int64_t now_ms = clock_->NowMs();
  for (std::atomic<int64_t>* pass_ms :
       {&dispatcher_pass_ms_, &finisher_pass_ms_, &poller_pass_ms_}) {
    pass_ms->store(now_ms);
  }
}

void Engine::Stop(std::chrono::milliseconds answer_wait) {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_.exchange(true)) return;
  }
  sweeper_.Stop();
  // Once the dispatcher and the poller are gone nothing is claimed or sent any more, so
  // in_flight_ only drops, on the finisher's passes. The orders being polled are let go; their
  // leases are handed back below with the others. The dispatcher may be waiting in the queue.
  queue_->Wake();
  dispatcher_.Stop();
  CloseHandOffs();
  poller_.Stop();
  ClosePolls();
  auto nothing_in_flight = [this] { return NothingInFlight(); };
  if (!finisher_.WaitUntil(nothing_in_flight, answer_wait)) {
    spdlog::warn("stopping: calls still unanswered after {} ms are cut", answer_wait.count());
    router_->ShutDownChannels();
    finisher_.WaitUntil(nothing_in_flight, kWaitForEveryAnswer);
  }
  finisher_.Stop();
  // The renewals stop only now: the leases are kept while the answers are recorded.
  lease_keeper_.Stop();
  Result<int64_t> released = store_->ReleaseLeases(options_.owner, clock_->NowMs());
  if (released.ok()) {
    spdlog::info("stopping: {} leases handed back", *released);
  } else {
    // They lapse within lease_ms instead.
    counters_.store_errors++;
    spdlog::warn("stopping: leases not handed back: {}", released.status().ToString());
  }
}

bool Engine::NothingInFlight() {
  std::lock_guard lock(flow_mu_);
  return in_flight_ == 0;
}

std::vector<EngineLoopProgress> Engine::Progress() const {
  return {
      {"dispatcher", dispatcher_pass_ms_.load(), kStuckAfterMs},
      {"finisher", finisher_pass_ms_.load(), kStuckAfterMs},
      {"poller", poller_pass_ms_.load(), kStuckAfterMs},
      {"sweeper", sweeper_.last_pass_ms(), std::max(kStuckAfterMs, 4 * options_.sweep_interval_ms)},
      {"lease-keeper", lease_keeper_.last_pass_ms(), std::max(kStuckAfterMs, options_.lease_ms)},
  };
}

OrderPolicy Engine::PolicyFor(const RoutedChannel& channel) const {
  OrderPolicy policy = options_.policy;
  policy.attempt_timeout_ms = channel.config().attempt_timeout_ms;
  policy.attempt_budget_ms = channel.AttemptBudgetMs();
  policy.first_query_delay_ms = channel.config().query_interval_ms;
  return policy;
}

std::vector<bool> Engine::Record(const std::vector<std::unique_ptr<Work>>& works) {
  if (works.empty()) return {};
  std::vector<Transition> transitions;
  transitions.reserve(works.size());
  for (const std::unique_ptr<Work>& work : works) {
    lease_keeper_.AssertHolds(work->order.order_id);
    Transition& t = work->step;
    NoteIfLate(*store_, work->order, &t);
    transitions.push_back(t);
  }
  std::vector<Result<bool>> results = store_->ApplyTransitions(transitions);
  assert(results.size() == works.size());
  std::vector<bool> applied(works.size(), false);
  for (size_t i = 0; i < works.size(); ++i) {
    if (!results[i].ok()) {
      // The lease lapses and the order is looked at again later.
      counters_.store_errors++;
      spdlog::warn("transition failed order_id={} channel={}: {}", works[i]->order.order_id,
                   works[i]->order.channel, results[i].status().ToString());
    } else if (!*results[i]) {
      counters_.cas_lost++;
    } else {
      if (options_.metrics != nullptr) {
        options_.metrics->TransitionApplied(works[i]->order, works[i]->step);
      }
      ApplyToOrder(works[i]->step, &works[i]->order);
      applied[i] = true;
    }
  }
  return applied;
}

void Engine::Release(std::vector<std::unique_ptr<Work>>& works) {
  if (works.empty()) return;
  std::vector<Delivery> deliveries;
  deliveries.reserve(works.size());
  for (std::unique_ptr<Work>& work : works) {
    lease_keeper_.LetGo(work->order.order_id);
    if (work->delivery) deliveries.push_back(std::move(*work->delivery));
  }
  // Either the step is durable, or the order was final or someone else's, or the store failed
  // and the sweeper brings the order back: nothing for the queue to redo.
  if (!deliveries.empty()) (void)queue_->Ack(deliveries);
}

}  // namespace topup
