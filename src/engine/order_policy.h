// What to do next with an order: pure decisions, no I/O, so every rule is unit-testable.
//
// Every transition it plans is an edge of the state machine (IsAllowedTransition), and a new
// attempt is planned only for an order with none live, an answer only for an order with one: all
// asserted in every build (TOPUP_ASSERT), since planning otherwise is a bug, whatever the input.
//
// The two rules that keep money safe live here:
//  * An attempt whose outcome is unknown is only ever queried, never sent again: a supplier that
//    does not deduplicate would credit the phone twice.
//  * A new attempt starts only once the previous one can no longer succeed (confirmed failed,
//    certainly never sent, or not found by a query long after it was sent), and only if it can
//    finish before the order's deadline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "topup/order.h"
#include "topup/store.h"
#include "topup/supplier_channel.h"

namespace topup {

struct OrderPolicy {
  int64_t attempt_timeout_ms = 10'000;  // a Submit takes at most this long
  // What a new attempt needs left before the deadline: the channel's observed time to a final
  // answer when that is longer than attempt_timeout_ms (RoutedChannel::AttemptBudgetMs); 0 means
  // attempt_timeout_ms.
  int64_t attempt_budget_ms = 0;
  int32_t max_attempts = 10;  // attempts per order, whatever became of them
  // A query that answers not_found proves nothing until the supplier's query index has caught up
  // with its intake, which takes up to this long from when the request reached the supplier.
  // The request reaches it by attempt_sent_ms + attempt_timeout_ms at the latest (the engine
  // never sends an attempt later), so not_found is believed only from then, plus this grace, plus
  // not_found_margin_ms for the clocks of the nodes and the supplier; and, whatever the wall
  // clocks say, only one timeout and this grace after the asking process first called about the
  // attempt, on its monotonic clock (NotFoundBelievedFromMonotonicMs).
  int64_t not_found_grace_ms = 20'000;
  int64_t not_found_margin_ms = 1'000;
  int64_t first_query_delay_ms = 1'000;  // after an unknown outcome
  int64_t poll_delay_min_ms = 200;       // polling processing / unknown attempts backs off
  int64_t poll_delay_max_ms = 5'000;     //   from min to max, growing with the attempt's age
  int64_t retry_delay_min_ms = 250;      // before a new attempt, doubling per attempt,
  int64_t retry_delay_max_ms = 8'000;    //   up to max
  // While no channel admits an order, it is looked at again after a delay that grows with the
  // time it has waited, from retry_delay_min_ms up to this.
  int64_t channel_wait_delay_max_ms = 2'000;
  // Test-only, never set in production: takes a submit of unknown outcome as certainly not sent,
  // so the next attempt is sent instead of the attempt being queried: the double-credit bug the
  // deterministic simulation must find (tests/unit/simulate).
  bool test_only_resend_unknown = false;
};

// When a not_found answer to a query of the live attempt of `order` is first believed, on the
// wall clock (a query asked from then on).
int64_t NotFoundBelievedFromMs(const Order& order, const OrderPolicy& policy);

// A query of the live attempt, as the process that asked it saw it.
struct QueryAsked {
  int64_t wall_ms = 0;       // Clock::NowMs when it was sent
  int64_t monotonic_ms = 0;  // Clock::MonotonicMs when it was sent
  // Clock::MonotonicMs when this process first called the supplier about the attempt (sent it,
  // or first queried it): it had read the attempt from the store, where it is recorded before it
  // is sent, so the supplier received it by then plus attempt_timeout_ms at the latest.
  int64_t attempt_first_called_monotonic_ms = 0;
};

// When a not_found answer to a query of the live attempt is first believed on the monotonic
// clock of the process that asked it, whatever the wall clocks of the nodes say: one attempt
// timeout and one grace after it first called about the attempt.
int64_t NotFoundBelievedFromMonotonicMs(const QueryAsked& asked, const OrderPolicy& policy);

// For an order with no live attempt: a transition that starts the next attempt on `channel`, or,
// when no attempt can finish before the deadline or attempts are used up, one that fails (and so
// refunds) the order. `waited_ms` is how long the order waited for a channel, for its history.
// REQUIRES: !IsFinal(order.status) && order.supplier_order_id.empty().
Transition PlanNextAttempt(const Order& order, const OrderPolicy& policy,
                           const std::string& channel, int64_t now_ms, int64_t waited_ms = 0);

// For an order with no live attempt for which no channel could be admitted (`why` is
// NotFound("no_channel") or Unavailable("channels_busy")) since `waiting_since_ms`: fail it if no
// channel serves it or no attempt can finish before the deadline any more; otherwise look again
// after a delay that grows with the wait. The first wait (waiting_since_ms == now_ms) records why
// in the order's history; the later ones change only its schedule.
// REQUIRES: !IsFinal(order.status) && order.supplier_order_id.empty().
Transition PlanWithoutChannel(const Order& order, const OrderPolicy& policy, const Status& why,
                              int64_t waiting_since_ms, int64_t now_ms);

// The transition that records `answer` to the live attempt of `order`. `submitted` says whether
// the answer came from sending the attempt (true) or from querying it (false). `asked` is when
// the query was made: a not_found says what the supplier's index held at some moment after it,
// which may be long before the answer arrives (a slow answer, a paused process), so it is
// believed only if the query was asked once not_found is believed on both the wall clock
// (NotFoundBelievedFromMs) and the asking process's monotonic clock
// (NotFoundBelievedFromMonotonicMs); without `asked`, never.
// REQUIRES: !order.supplier_order_id.empty().
Transition PlanAfterAnswer(const Order& order, const SupplierAnswer& answer, bool submitted,
                           const OrderPolicy& policy, int64_t now_ms,
                           std::optional<QueryAsked> asked = std::nullopt);

// Applies a transition that the store accepted to the in-memory copy of the order, exactly as
// the store did, so the caller need not read it back.
void ApplyToOrder(const Transition& transition, Order* order);

}  // namespace topup
