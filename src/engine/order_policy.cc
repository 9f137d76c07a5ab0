#include "engine/order_policy.h"

#include <algorithm>

#include "core/invariant.h"

namespace topup {
namespace {

// Every transition the policy plans is built here, so this is where the state machine's edges
// are asserted.
Transition Base(const Order& order, OrderStatus to, int64_t now_ms) {
  TOPUP_ASSERT(IsAllowedTransition(order.status, to), "the policy planned a forbidden transition");
  Transition t;
  t.order_id = order.order_id;
  t.from = order.status;
  t.from_attempt_count = order.attempt_count;
  t.to = to;
  t.now_ms = now_ms;
  t.next_check_ms = order.next_check_ms;
  return t;
}

Transition Fail(const Order& order, std::string reason, int64_t now_ms) {
  Transition t = Base(order, OrderStatus::kFailed, now_ms);
  t.attempt = Transition::Attempt::kClear;
  t.fail_reason = reason;
  t.release_lease = true;
  t.event_kind = "failed_refunded";
  t.event_detail = std::move(reason);
  return t;
}

int64_t PollDelayMs(const Order& order, const OrderPolicy& policy, int64_t now_ms) {
  int64_t age_ms = now_ms - order.attempt_sent_ms;
  return std::clamp(age_ms / 4, policy.poll_delay_min_ms, policy.poll_delay_max_ms);
}

int64_t BudgetMs(const OrderPolicy& policy) {
  return std::max(policy.attempt_timeout_ms, policy.attempt_budget_ms);
}

int64_t RetryDelayMs(const Order& order, const OrderPolicy& policy) {
  int shift = std::clamp(order.attempt_count - 1, 0, 20);
  return std::min(policy.retry_delay_min_ms << shift, policy.retry_delay_max_ms);
}

// Keeps the attempt live and looks at it again after `delay_ms`, moving to `to` (charging or
// unknown). An event is written only when the status changes.
Transition Reschedule(const Order& order, OrderStatus to, int64_t delay_ms, std::string event_kind,
                      std::string detail, int64_t now_ms) {
  Transition t = Base(order, to, now_ms);
  t.next_check_ms = now_ms + delay_ms;
  t.release_lease = true;
  if (to != order.status) {
    t.event_kind = std::move(event_kind);
    t.event_detail = std::move(detail);
  }
  return t;
}

// The live attempt can no longer succeed. Either the order fails now (no time or attempts left for
// another one) or a new attempt starts after a back-off.
Transition AttemptDead(const Order& order, const OrderPolicy& policy, std::string event_kind,
                       std::string detail, int64_t now_ms) {
  int64_t retry_at_ms = now_ms + RetryDelayMs(order, policy);
  if (order.attempt_count >= policy.max_attempts) {
    return Fail(order, "attempts exhausted; last: " + detail, now_ms);
  }
  if (retry_at_ms + BudgetMs(policy) > order.deadline_ms) {
    return Fail(order, "no time for another attempt before the deadline; last: " + detail, now_ms);
  }
  Transition t = Base(order, OrderStatus::kCharging, now_ms);
  t.attempt = Transition::Attempt::kClear;
  t.next_check_ms = retry_at_ms;
  t.release_lease = true;
  t.event_kind = std::move(event_kind);
  t.event_detail = std::move(detail);
  return t;
}

std::string Explain(const SupplierAnswer& answer) {
  std::string detail = "attempt ";
  detail += SupplierOutcomeName(answer.outcome);
  if (!answer.reason.empty()) detail += ": " + answer.reason;
  return detail;
}

}  // namespace

int64_t NotFoundBelievedFromMs(const Order& order, const OrderPolicy& policy) {
  return order.attempt_sent_ms + policy.attempt_timeout_ms + policy.not_found_grace_ms +
         policy.not_found_margin_ms;
}

int64_t NotFoundBelievedFromMonotonicMs(const QueryAsked& asked, const OrderPolicy& policy) {
  return asked.attempt_first_called_monotonic_ms + policy.attempt_timeout_ms +
         policy.not_found_grace_ms;
}

Transition PlanNextAttempt(const Order& order, const OrderPolicy& policy,
                           const std::string& channel, int64_t now_ms, int64_t waited_ms) {
  // At most one live attempt per order: a second one could credit the phone twice.
  TOPUP_ASSERT(order.supplier_order_id.empty(), "a new attempt planned while one is live");
  if (order.attempt_count >= policy.max_attempts) {
    return Fail(order, "attempts exhausted", now_ms);
  }
  if (now_ms + BudgetMs(policy) > order.deadline_ms) {
    return Fail(order,
                "no time for an attempt on " + channel + " before the deadline (it needs " +
                    std::to_string(BudgetMs(policy) / 1000) + " s)",
                now_ms);
  }
  Transition t = Base(order, OrderStatus::kCharging, now_ms);
  t.attempt = Transition::Attempt::kStart;
  t.supplier_order_id = SupplierOrderId(order.order_id, order.attempt_count + 1);
  t.channel = channel;
  // If this worker dies mid-attempt, the order is looked at again once its lease lapses; the
  // attempt is then queried, never resent.
  t.next_check_ms = now_ms + policy.attempt_timeout_ms;
  t.event_kind = "attempt_started";
  t.event_detail = t.supplier_order_id + " on " + channel;
  if (waited_ms > 0) {
    t.event_detail += " after waiting " + std::to_string(waited_ms) + " ms for a channel";
  }
  return t;
}

Transition PlanWithoutChannel(const Order& order, const OrderPolicy& policy, const Status& why,
                              int64_t waiting_since_ms, int64_t now_ms) {
  TOPUP_ASSERT(order.supplier_order_id.empty(), "an order with a live attempt waits for a channel");
  if (why.reason() == "no_channel") return Fail(order, why.message(), now_ms);
  const int64_t waited_ms = now_ms - waiting_since_ms;
  const int64_t delay_ms =
      std::clamp(waited_ms / 8, policy.retry_delay_min_ms,
                 std::max(policy.retry_delay_min_ms, policy.channel_wait_delay_max_ms));
  if (now_ms + delay_ms + BudgetMs(policy) > order.deadline_ms) {
    return Fail(order,
                "no channel admitted it for " + std::to_string(waited_ms / 1000) +
                    " s, and no time is left for an attempt: " + why.message(),
                now_ms);
  }
  const bool first_wait = waited_ms == 0;
  Transition t = Base(order, order.status, now_ms);
  t.next_check_ms = now_ms + delay_ms;
  t.release_lease = true;
  if (first_wait) {
    t.event_kind = "waiting_for_channel";
    t.event_detail = why.reason() + ": " + why.message();
  }
  return t;
}

Transition PlanAfterAnswer(const Order& order, const SupplierAnswer& answer, bool submitted,
                           const OrderPolicy& policy, int64_t now_ms,
                           std::optional<QueryAsked> asked) {
  TOPUP_ASSERT(!order.supplier_order_id.empty(), "an answer planned for an order with no attempt");
  const OrderStatus live = order.status;  // charging or unknown
  switch (answer.outcome) {
    case SupplierOutcome::kSuccess: {
      Transition t = Base(order, OrderStatus::kSuccess, now_ms);
      t.supplier_ref = answer.supplier_ref;
      t.release_lease = true;
      t.event_kind = "succeeded";
      t.event_detail = order.supplier_order_id +
                       (answer.supplier_ref.empty() ? "" : " ref " + answer.supplier_ref);
      return t;
    }
    case SupplierOutcome::kFailed:
      return AttemptDead(order, policy, "attempt_failed", Explain(answer), now_ms);
    case SupplierOutcome::kProcessing:
      return Reschedule(order, OrderStatus::kCharging, PollDelayMs(order, policy, now_ms),
                        "supplier_processing", Explain(answer), now_ms);
    case SupplierOutcome::kNotFound: {
      // Both clocks must agree: the wall clock of the node that sent the attempt may lag the
      // one that asked by more than the margin; the monotonic time of the one that asked does
      // not depend on any other clock.
      const int64_t grace_end_ms = NotFoundBelievedFromMs(order, policy);
      int64_t left_ms = grace_end_ms - now_ms;
      if (asked) {
        const int64_t monotonic_end_ms = NotFoundBelievedFromMonotonicMs(*asked, policy);
        if (asked->wall_ms >= grace_end_ms && asked->monotonic_ms >= monotonic_end_ms) {
          return AttemptDead(order, policy, "attempt_not_found", Explain(answer), now_ms);
        }
        left_ms = std::max(left_ms, monotonic_end_ms - asked->monotonic_ms -
                                        std::max<int64_t>(now_ms - asked->wall_ms, 0));
      }
      const int64_t delay_ms = std::clamp<int64_t>(left_ms, 0, PollDelayMs(order, policy, now_ms));
      return Reschedule(order, live, delay_ms, "", "", now_ms);
    }
    case SupplierOutcome::kNotSent:
      if (submitted) {
        // Nothing reached the supplier, so this attempt can never credit the phone.
        return AttemptDead(order, policy, "attempt_not_sent", Explain(answer), now_ms);
      }
      return Reschedule(order, live, PollDelayMs(order, policy, now_ms), "", "", now_ms);
    case SupplierOutcome::kUnknown:
      if (submitted && policy.test_only_resend_unknown) {
        return AttemptDead(order, policy, "attempt_not_sent", Explain(answer), now_ms);
      }
      if (submitted) {
        return Reschedule(order, OrderStatus::kUnknown, policy.first_query_delay_ms,
                          "outcome_unknown", Explain(answer), now_ms);
      }
      return Reschedule(order, live, PollDelayMs(order, policy, now_ms), "", "", now_ms);
  }
  return Reschedule(order, live, policy.poll_delay_max_ms, "", "", now_ms);
}

void ApplyToOrder(const Transition& t, Order* order) {
  order->status = t.to;
  switch (t.attempt) {
    case Transition::Attempt::kKeep:
      break;
    case Transition::Attempt::kStart:
      order->attempt_count = t.from_attempt_count + 1;
      order->supplier_order_id = t.supplier_order_id;
      order->channel = t.channel;
      order->attempt_sent_ms = t.now_ms;
      break;
    case Transition::Attempt::kClear:
      order->supplier_order_id.clear();
      order->attempt_sent_ms = 0;
      break;
  }
  if (!t.supplier_ref.empty()) order->supplier_ref = t.supplier_ref;
  if (t.to == OrderStatus::kFailed) order->fail_reason = t.fail_reason;
  if (IsFinal(t.to)) order->finished_ms = t.now_ms;
  order->updated_ms = t.now_ms;
  order->next_check_ms = t.next_check_ms;
  if (t.release_lease) {
    order->lease_owner.clear();
    order->lease_expires_ms = 0;
  }
}

}  // namespace topup
