#include "engine/order_policy.h"

#include <gtest/gtest.h>

namespace topup {
namespace {

constexpr int64_t kNow = 1'000'000;

Order OpenOrder() {
  Order order;
  order.order_id = "o1";
  order.status = OrderStatus::kAccepted;
  order.created_ms = kNow;
  order.deadline_ms = kNow + 180'000;
  return order;
}

// An order whose attempt n was sent at `sent_ms`.
Order WithLiveAttempt(int32_t n, int64_t sent_ms, OrderStatus status = OrderStatus::kCharging) {
  Order order = OpenOrder();
  order.status = status;
  order.attempt_count = n;
  order.supplier_order_id = SupplierOrderId(order.order_id, n);
  order.attempt_sent_ms = sent_ms;
  return order;
}

// A query asked at `wall_ms` by a node whose monotonic clock reads the same as its wall clock and
// which first called about the attempt at `first_called_ms`.
QueryAsked AskedAt(int64_t wall_ms, int64_t first_called_ms = kNow) {
  return QueryAsked{.wall_ms = wall_ms,
                    .monotonic_ms = wall_ms,
                    .attempt_first_called_monotonic_ms = first_called_ms};
}

TEST(OrderPolicyTest, StartsTheFirstAttempt) {
  OrderPolicy policy;
  Transition t = PlanNextAttempt(OpenOrder(), policy, "sim", kNow);
  EXPECT_EQ(t.from, OrderStatus::kAccepted);
  EXPECT_EQ(t.to, OrderStatus::kCharging);
  EXPECT_EQ(t.attempt, Transition::Attempt::kStart);
  EXPECT_EQ(t.supplier_order_id, "o1-1");
  EXPECT_EQ(t.from_attempt_count, 0);
  EXPECT_EQ(t.channel, "sim");
  EXPECT_FALSE(t.event_kind.empty());
}

TEST(OrderPolicyTest, NoAttemptThatCannotFinishBeforeTheDeadline) {
  OrderPolicy policy;
  Order order = OpenOrder();
  Transition t =
      PlanNextAttempt(order, policy, "sim", order.deadline_ms - policy.attempt_timeout_ms + 1);
  EXPECT_EQ(t.to, OrderStatus::kFailed);
  EXPECT_FALSE(t.fail_reason.empty());
  EXPECT_EQ(PlanNextAttempt(order, policy, "sim", order.deadline_ms - policy.attempt_timeout_ms).to,
            OrderStatus::kCharging);
}

TEST(OrderPolicyTest, SuccessIsFinal) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow);
  Transition t =
      PlanAfterAnswer(order, {SupplierOutcome::kSuccess, "ref9", ""}, true, policy, kNow + 5);
  EXPECT_EQ(t.to, OrderStatus::kSuccess);
  EXPECT_EQ(t.supplier_ref, "ref9");
  EXPECT_TRUE(t.release_lease);
}

TEST(OrderPolicyTest, ATimeoutAfterSendingIsQueriedNeverResent) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow);
  Transition t = PlanAfterAnswer(order, {SupplierOutcome::kUnknown, "", "timeout"}, true, policy,
                                 kNow + policy.attempt_timeout_ms);
  EXPECT_EQ(t.to, OrderStatus::kUnknown);
  EXPECT_EQ(t.attempt, Transition::Attempt::kKeep);  // the attempt stays live
  EXPECT_GT(t.next_check_ms, t.now_ms);
  EXPECT_EQ(t.event_kind, "outcome_unknown");
  // Queries that keep failing keep it live too: no new attempt, no failure.
  ApplyToOrder(t, &order);
  for (int i = 0; i < 100; ++i) {
    Transition again = PlanAfterAnswer(order, {SupplierOutcome::kUnknown, "", "timeout"}, false,
                                       policy, kNow + 500'000);  // even far past the deadline
    EXPECT_EQ(again.attempt, Transition::Attempt::kKeep);
    EXPECT_EQ(again.to, OrderStatus::kUnknown);
  }
}

TEST(OrderPolicyTest, NotFoundCountsOnlyAfterTheGracePeriod) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow, OrderStatus::kUnknown);
  SupplierAnswer not_found{SupplierOutcome::kNotFound, "", ""};
  // The request may have left as late as the attempt timeout after the attempt was recorded, and
  // the supplier's index may lag its intake by the grace: both count, and a margin.
  const int64_t believed_ms =
      kNow + policy.attempt_timeout_ms + policy.not_found_grace_ms + policy.not_found_margin_ms;
  EXPECT_EQ(NotFoundBelievedFromMs(order, policy), believed_ms);
  Transition early =
      PlanAfterAnswer(order, not_found, false, policy, believed_ms - 1, AskedAt(believed_ms - 1));
  EXPECT_EQ(early.attempt, Transition::Attempt::kKeep);
  EXPECT_EQ(early.to, OrderStatus::kUnknown);
  EXPECT_LE(early.next_check_ms, believed_ms);
  // A not_found exactly one grace after the record proves nothing yet: the request may have
  // arrived later than it was recorded.
  const int64_t at_grace_ms = kNow + policy.not_found_grace_ms;
  Transition at_grace =
      PlanAfterAnswer(order, not_found, false, policy, at_grace_ms, AskedAt(at_grace_ms));
  EXPECT_EQ(at_grace.attempt, Transition::Attempt::kKeep);
  Transition late =
      PlanAfterAnswer(order, not_found, false, policy, believed_ms, AskedAt(believed_ms));
  EXPECT_EQ(late.attempt, Transition::Attempt::kClear);
  EXPECT_EQ(late.to, OrderStatus::kCharging);
  EXPECT_EQ(late.event_kind, "attempt_not_found");
  // Without knowing when it was asked, a not_found proves nothing at all.
  Transition unasked = PlanAfterAnswer(order, not_found, false, policy, believed_ms + 500'000);
  EXPECT_EQ(unasked.attempt, Transition::Attempt::kKeep);
}

// The wall clock of the node that asks may be ahead of the one that sent the attempt by far more
// than the margin (one node's clock jumped): the wall clocks then say "believe it" while the
// supplier's index may still lag. The asking node's own monotonic time decides as well: one
// timeout and one grace after it first called about the attempt, it must have reached the
// supplier and been indexed, whatever any clock says.
TEST(OrderPolicyTest, ANotFoundIsBelievedOnlyOnceTheAskingNodesOwnTimeSaysSo) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow, OrderStatus::kUnknown);
  SupplierAnswer not_found{SupplierOutcome::kNotFound, "", ""};
  const int64_t ahead_ms = 60'000;        // the asking node's wall clock, against the sender's
  const int64_t first_called_ms = 5'000;  // its monotonic clock, from its own origin
  const int64_t believed_monotonic_ms =
      first_called_ms + policy.attempt_timeout_ms + policy.not_found_grace_ms;
  QueryAsked asked{.wall_ms = kNow + ahead_ms + 2'000,
                   .monotonic_ms = believed_monotonic_ms - 1,
                   .attempt_first_called_monotonic_ms = first_called_ms};
  ASSERT_GE(asked.wall_ms, NotFoundBelievedFromMs(order, policy));  // the wall clock says yes
  EXPECT_EQ(NotFoundBelievedFromMonotonicMs(asked, policy), believed_monotonic_ms);
  Transition early = PlanAfterAnswer(order, not_found, false, policy, asked.wall_ms, asked);
  EXPECT_EQ(early.attempt, Transition::Attempt::kKeep);
  EXPECT_EQ(early.to, OrderStatus::kUnknown);
  EXPECT_EQ(early.next_check_ms, asked.wall_ms + 1);  // asked again once it can be believed
  asked.monotonic_ms = believed_monotonic_ms;
  asked.wall_ms += 1;
  Transition believed = PlanAfterAnswer(order, not_found, false, policy, asked.wall_ms, asked);
  EXPECT_EQ(believed.attempt, Transition::Attempt::kClear);
  EXPECT_EQ(believed.event_kind, "attempt_not_found");
  // And the monotonic clock alone is not enough either: the wall-clock rule still holds.
  asked.wall_ms = NotFoundBelievedFromMs(order, policy) - 1;
  Transition wall_early = PlanAfterAnswer(order, not_found, false, policy, asked.wall_ms, asked);
  EXPECT_EQ(wall_early.attempt, Transition::Attempt::kKeep);
}

// Found by `topup simulate --seed 99` (tests/unit/simulate): a query asked inside the grace was
// answered not_found, the answer arrived after the grace (the node's clock jumped meanwhile), and
// the attempt, which had credited the phone, was taken as lost and a second one sent. What the
// supplier's index held when it was asked decides, not when its answer arrived.
TEST(OrderPolicyTest, ANotFoundAskedInsideTheGraceProvesNothingWhenEverItArrives) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow, OrderStatus::kUnknown);
  SupplierAnswer not_found{SupplierOutcome::kNotFound, "", ""};
  const int64_t believed_ms = NotFoundBelievedFromMs(order, policy);
  Transition stale = PlanAfterAnswer(order, not_found, false, policy, believed_ms + 30'000,
                                     AskedAt(believed_ms - 1));
  EXPECT_EQ(stale.attempt, Transition::Attempt::kKeep);
  EXPECT_EQ(stale.to, OrderStatus::kUnknown);
  EXPECT_EQ(stale.next_check_ms, believed_ms + 30'000);  // ask again at once
  Transition fresh =
      PlanAfterAnswer(order, not_found, false, policy, believed_ms + 30'000, AskedAt(believed_ms));
  EXPECT_EQ(fresh.attempt, Transition::Attempt::kClear);
}

TEST(OrderPolicyTest, WithoutAChannelAnOrderWaitsWithBackoffAndSaysWhyOnce) {
  OrderPolicy policy;
  Order order = OpenOrder();
  const Status busy = Unavailable("channels_busy", "every channel is open");
  Transition first = PlanWithoutChannel(order, policy, busy, kNow, kNow);
  EXPECT_EQ(first.from, OrderStatus::kAccepted);
  EXPECT_EQ(first.to, OrderStatus::kAccepted);  // a self-edge, not a refused transition
  EXPECT_TRUE(IsAllowedTransition(first.from, first.to));
  EXPECT_EQ(first.event_kind, "waiting_for_channel");
  EXPECT_NE(first.event_detail.find("channels_busy"), std::string::npos);
  EXPECT_EQ(first.next_check_ms, kNow + policy.retry_delay_min_ms);
  EXPECT_TRUE(first.release_lease);

  // Later looks change only the schedule, backing off up to a bound.
  Transition later = PlanWithoutChannel(order, policy, busy, kNow, kNow + 4'000);
  EXPECT_EQ(later.event_kind, "");
  EXPECT_EQ(later.next_check_ms, kNow + 4'000 + 500);
  Transition long_after = PlanWithoutChannel(order, policy, busy, kNow, kNow + 60'000);
  EXPECT_EQ(long_after.next_check_ms, kNow + 60'000 + policy.channel_wait_delay_max_ms);

  // Once no attempt could fit, it fails and so is refunded, saying how long it waited.
  Transition too_late = PlanWithoutChannel(order, policy, busy, kNow, order.deadline_ms - 5'000);
  EXPECT_EQ(too_late.to, OrderStatus::kFailed);
  EXPECT_NE(too_late.fail_reason.find("no channel admitted it for"), std::string::npos);

  // When the channel admits it, the attempt says how long it waited.
  Transition start = PlanNextAttempt(order, policy, "alpha", kNow + 7'000, 7'000);
  EXPECT_NE(start.event_detail.find("after waiting 7000 ms for a channel"), std::string::npos);
}

TEST(OrderPolicyTest, AttemptsArePlannedWithTheChannelsObservedTimeToAnAnswer) {
  OrderPolicy policy;
  policy.attempt_budget_ms = 60'000;  // a channel that answers processing for up to a minute
  Order order = OpenOrder();
  Transition no_room = PlanNextAttempt(order, policy, "slow", order.deadline_ms - 59'000);
  EXPECT_EQ(no_room.to, OrderStatus::kFailed);
  Transition room = PlanNextAttempt(order, policy, "slow", order.deadline_ms - 61'000);
  EXPECT_EQ(room.attempt, Transition::Attempt::kStart);
  // The same bound for a retry after a dead attempt.
  Order live = WithLiveAttempt(1, kNow);
  Transition retry = PlanAfterAnswer(live, {SupplierOutcome::kFailed, "", "busy"}, true, policy,
                                     live.deadline_ms - 59'000);
  EXPECT_EQ(retry.to, OrderStatus::kFailed);
}

TEST(OrderPolicyTest, ConfirmedFailureRetriesWithANewAttemptOrFailsAtTheDeadline) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow);
  SupplierAnswer failed{SupplierOutcome::kFailed, "", "carrier busy"};
  Transition retry = PlanAfterAnswer(order, failed, true, policy, kNow + 10);
  EXPECT_EQ(retry.to, OrderStatus::kCharging);
  EXPECT_EQ(retry.attempt, Transition::Attempt::kClear);
  EXPECT_GT(retry.next_check_ms, kNow + 10);
  ApplyToOrder(retry, &order);
  EXPECT_TRUE(order.supplier_order_id.empty());
  Transition next = PlanNextAttempt(order, policy, "sim", retry.next_check_ms);
  EXPECT_EQ(next.supplier_order_id, "o1-2");  // a new id: the old one is dead

  Order late = WithLiveAttempt(1, kNow);
  Transition fail = PlanAfterAnswer(late, failed, true, policy, late.deadline_ms - 1'000);
  EXPECT_EQ(fail.to, OrderStatus::kFailed);
  EXPECT_NE(fail.fail_reason.find("carrier busy"), std::string::npos);
}

TEST(OrderPolicyTest, AttemptsAreBounded) {
  OrderPolicy policy;
  policy.max_attempts = 2;
  Order order = WithLiveAttempt(2, kNow);
  EXPECT_EQ(PlanAfterAnswer(order, {SupplierOutcome::kFailed, "", ""}, true, policy, kNow).to,
            OrderStatus::kFailed);
}

TEST(OrderPolicyTest, NotSentIsDeadOnlyWhenSubmitting) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow);
  SupplierAnswer refused{SupplierOutcome::kNotSent, "", "connection refused"};
  EXPECT_EQ(PlanAfterAnswer(order, refused, true, policy, kNow).attempt,
            Transition::Attempt::kClear);
  // A refused query says nothing about the attempt.
  EXPECT_EQ(PlanAfterAnswer(order, refused, false, policy, kNow).attempt,
            Transition::Attempt::kKeep);
}

TEST(OrderPolicyTest, ProcessingIsPolledWithBackoff) {
  OrderPolicy policy;
  Order order = WithLiveAttempt(1, kNow);
  SupplierAnswer processing{SupplierOutcome::kProcessing, "", ""};
  int64_t first = PlanAfterAnswer(order, processing, true, policy, kNow).next_check_ms - kNow;
  int64_t later = PlanAfterAnswer(order, processing, false, policy, kNow + 60'000).next_check_ms -
                  (kNow + 60'000);
  EXPECT_EQ(first, policy.poll_delay_min_ms);
  EXPECT_GT(later, first);
  EXPECT_LE(later, policy.poll_delay_max_ms);
}

TEST(OrderPolicyTest, ApplyToOrderMirrorsTheStore) {
  OrderPolicy policy;
  Order order = OpenOrder();
  Transition start = PlanNextAttempt(order, policy, "sim", kNow + 1);
  ApplyToOrder(start, &order);
  EXPECT_EQ(order.status, OrderStatus::kCharging);
  EXPECT_EQ(order.attempt_count, 1);
  EXPECT_EQ(order.supplier_order_id, "o1-1");
  EXPECT_EQ(order.attempt_sent_ms, kNow + 1);
  Transition done =
      PlanAfterAnswer(order, {SupplierOutcome::kSuccess, "r", ""}, true, policy, kNow + 2);
  ApplyToOrder(done, &order);
  EXPECT_EQ(order.status, OrderStatus::kSuccess);
  EXPECT_EQ(order.finished_ms, kNow + 2);
  EXPECT_TRUE(order.lease_owner.empty());
}

}  // namespace
}  // namespace topup
