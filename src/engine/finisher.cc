// The finisher's side: the answers channels call back with, and the pass that records them.
#include <spdlog/spdlog.h>

#include <optional>

#include "engine/deadline_report.h"
#include "engine/engine.h"

namespace topup {
namespace {

// An idle finisher still reports a pass this often.
constexpr PassRest kFinisherIdleRest{1'000};

// What an answer says about the health of the channel it came from (see CircuitBreaker), if
// anything. `step` is the transition planned from it.
std::optional<CircuitBreaker::Outcome> HealthOutcome(bool submitted, const SupplierAnswer& answer,
                                                     const Transition& step) {
  using Health = CircuitBreaker::Outcome;
  switch (answer.outcome) {
    case SupplierOutcome::kSuccess:
      return Health::kSuccess;
    case SupplierOutcome::kProcessing:
      return submitted ? std::optional(Health::kSuccess) : std::nullopt;
    case SupplierOutcome::kFailed:
      return Health::kFailure;
    case SupplierOutcome::kNotSent:
      return submitted ? std::optional(Health::kFailure) : std::nullopt;
    case SupplierOutcome::kNotFound:
      // Only once the attempt is taken as lost; earlier, the supplier's index may just lag.
      return step.attempt == Transition::Attempt::kClear ? std::optional(Health::kFailure)
                                                         : std::nullopt;
    case SupplierOutcome::kUnknown:
      return submitted ? std::optional(Health::kNoAnswer) : std::nullopt;
  }
  return std::nullopt;
}

// True if recording `step` would change nothing but the order's schedule (and hand back its
// lease): the same status, the same live attempt, no event. Such a step need not be written while
// this process keeps the order leased and looks at it again itself.
bool OnlyReschedules(const Transition& step) {
  return step.from == step.to && !IsFinal(step.to) && step.attempt == Transition::Attempt::kKeep &&
         step.event_kind.empty() && step.deadline_missed_detail.empty() &&
         step.supplier_ref.empty();
}

}  // namespace

void Engine::OnAnswer(std::unique_ptr<Work> work, const SupplierAnswer& answer) {
  const int64_t now_ms = clock_->NowMs();
  if (work->submit) work->channel->Release();
  if (options_.metrics != nullptr) {
    options_.metrics->SupplierAnswered(work->channel->config().name, work->submit, answer.outcome,
                                       now_ms - work->called_ms);
  }
  work->step =
      PlanAfterAnswer(work->order, answer, work->submit, work->policy, now_ms, work->asked);
  if (work->step.attempt == Transition::Attempt::kClear || IsFinal(work->step.to)) {
    first_calls_.Forget(work->order.supplier_order_id);
  }
  if (std::optional<CircuitBreaker::Outcome> health =
          HealthOutcome(work->submit, answer, work->step)) {
    work->channel->breaker().Record(*health, now_ms);
  }
  if (answer.outcome == SupplierOutcome::kSuccess || answer.outcome == SupplierOutcome::kFailed) {
    work->channel->time_to_final().Record(now_ms - work->order.attempt_sent_ms);
  }
  // Nothing to write: this process keeps the lease and asks again when the step says. Before the
  // deadline only, since the first step after it writes why the order is late.
  const bool poll_in_memory = work->channel != nullptr && OnlyReschedules(work->step) &&
                              !IsFirstStepAfterDeadline(work->order, now_ms);
  // Notified under the lock: once the finisher can see this answer, it may record it, bring
  // in_flight_ to 0 and let Stop() return and the Engine be destroyed, so this (channel) thread
  // must not touch the Engine after releasing flow_mu_.
  std::lock_guard lock(flow_mu_);
  if (poll_in_memory && !polls_closed_ && !stopping_ &&
      polls_.size() < options_.max_polled_in_memory) {
    // The lease keeper renews the lease meanwhile; the delivery is done with. Waiting for its
    // next look, the order holds no room for calls.
    if (work->delivery) {
      poll_acks_.push_back(std::move(*work->delivery));
      work->delivery.reset();
    }
    work->submit = false;
    const int64_t due_ms = work->step.next_check_ms;
    const bool first = polls_.empty() || due_ms < polls_.begin()->first;
    polls_.emplace(due_ms, std::move(work));
    in_flight_--;
    WakeLoop(EngineLoop::kDispatcher);
    if (first || poll_acks_.size() == 1) WakeLoop(EngineLoop::kPoller);
    return;
  }
  const bool was_empty = answers_.empty();
  answers_.push_back(std::move(work));
  if (was_empty) WakeLoop(EngineLoop::kFinisher);
}

PassRest Engine::FinishOnce() {
  std::vector<std::unique_ptr<Work>> batch;
  {
    std::lock_guard lock(flow_mu_);
    batch.swap(answers_);
  }
  if (batch.empty()) {
    finisher_pass_ms_ = clock_->NowMs();
    return kFinisherIdleRest;
  }
  Record(batch);
  Release(batch);
  {
    std::lock_guard lock(flow_mu_);
    in_flight_ -= static_cast<int>(batch.size());
    if (polls_waiting_for_room_ > 0) WakeLoop(EngineLoop::kPoller);
    WakeLoop(EngineLoop::kDispatcher);
  }
  finisher_pass_ms_ = clock_->NowMs();
  return kAtOnce;
}

}  // namespace topup
