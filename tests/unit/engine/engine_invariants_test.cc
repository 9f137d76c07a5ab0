// The engine's invariants fire when broken (TOPUP_ASSERT, on in this NDEBUG build too): one owner
// per order (LeaseKeeper), the state machine's edges and one live attempt per order (the order
// policy).
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "engine/lease_keeper.h"
#include "engine/order_policy.h"

namespace topup {
namespace {

constexpr int64_t kNow = 1'000'000;

Order OpenOrder(OrderStatus status = OrderStatus::kAccepted) {
  Order order;
  order.order_id = "o1";
  order.status = status;
  order.created_ms = kNow;
  order.deadline_ms = kNow + 180'000;
  return order;
}

Order WithLiveAttempt(OrderStatus status = OrderStatus::kCharging) {
  Order order = OpenOrder(status);
  order.attempt_count = 1;
  order.supplier_order_id = SupplierOrderId(order.order_id, 1);
  order.attempt_sent_ms = kNow;
  return order;
}

// A keeper that never renews (no store calls): only its holds are exercised.
class LeaseKeeperDeathTest : public ::testing::Test {
 protected:
  // Each death test's child runs its test from the start: no thread of another test is forked.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
  LeaseKeeper Keeper(size_t max_held) {
    return LeaseKeeper(nullptr, &clock_,
                       LeaseKeeperOptions{.owner = "n1", .lease_ms = 3'000, .max_held = max_held},
                       &counters_);
  }
  FakeClock clock_{kNow};
  EngineCounters counters_;
};

TEST_F(LeaseKeeperDeathTest, HoldsOnceLetsGoOnceWithoutDying) {
  LeaseKeeper keeper = Keeper(2);
  keeper.Hold("o1");
  keeper.Hold("o2");
  keeper.AssertHolds("o1");
  keeper.LetGo("o1");
  EXPECT_FALSE(keeper.Holds("o1"));
  keeper.Hold("o1");  // held again once let go
  EXPECT_TRUE(keeper.Holds("o1"));
}

TEST_F(LeaseKeeperDeathTest, AnOrderHeldTwiceAborts) {
  EXPECT_DEATH(
      {
        LeaseKeeper keeper = Keeper(4);
        keeper.Hold("o1");
        keeper.Hold("o1");
      },
      "an order held twice");
}

TEST_F(LeaseKeeperDeathTest, WorkingAnOrderNotHeldAborts) {
  EXPECT_DEATH(
      {
        LeaseKeeper keeper = Keeper(4);
        keeper.Hold("o1");
        keeper.AssertHolds("o2");
      },
      "the engine works an order it does not hold");
  EXPECT_DEATH(
      {
        LeaseKeeper keeper = Keeper(4);
        keeper.LetGo("o1");
      },
      "an order let go that was not held");
}

TEST_F(LeaseKeeperDeathTest, HoldingMoreThanTheBoundAborts) {
  EXPECT_DEATH(
      {
        LeaseKeeper keeper = Keeper(2);
        keeper.Hold("o1");
        keeper.Hold("o2");
        keeper.Hold("o3");
      },
      "more orders held than the engine may work");
}

TEST(OrderPolicyDeathTest, ASecondLiveAttemptIsNeverPlanned) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const OrderPolicy policy;
  EXPECT_DEATH(PlanNextAttempt(WithLiveAttempt(), policy, "sim", kNow),
               "a new attempt planned while one is live");
  EXPECT_DEATH(PlanWithoutChannel(WithLiveAttempt(), policy, Unavailable("channels_busy", "busy"),
                                  kNow, kNow),
               "an order with a live attempt waits for a channel");
  EXPECT_DEATH(
      PlanAfterAnswer(OpenOrder(), {SupplierOutcome::kSuccess, "ref", ""}, true, policy, kNow),
      "an answer planned for an order with no attempt");
}

TEST(OrderPolicyDeathTest, AFinalOrderIsNeverMovedAgain) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const OrderPolicy policy;
  Order succeeded = WithLiveAttempt(OrderStatus::kSuccess);
  EXPECT_DEATH(
      PlanAfterAnswer(succeeded, {SupplierOutcome::kFailed, "", "late"}, true, policy, kNow),
      "the policy planned a forbidden transition");
  Order failed = OpenOrder(OrderStatus::kFailed);
  EXPECT_DEATH(PlanNextAttempt(failed, policy, "sim", kNow),
               "the policy planned a forbidden transition");
}

TEST(OrderPolicyDeathTest, AnAcceptedOrderCannotSucceedWithoutAnAttemptStarted) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // An accepted order has no attempt, so no answer can be about it; given a forged one, the
  // policy would plan accepted -> success, which is no edge.
  Order forged = WithLiveAttempt(OrderStatus::kAccepted);
  EXPECT_DEATH(
      PlanAfterAnswer(forged, {SupplierOutcome::kSuccess, "ref", ""}, true, OrderPolicy(), kNow),
      "the policy planned a forbidden transition");
}

}  // namespace
}  // namespace topup
