#include "store/rules/accept_plan.h"

#include <gtest/gtest.h>

#include <vector>

namespace topup::store_rules {
namespace {

Order NewOrder(const std::string& order_id, const std::string& merchant_id,
               const std::string& merchant_order_id, int64_t price_fen) {
  Order order;
  order.order_id = order_id;
  order.merchant_id = merchant_id;
  order.merchant_order_id = merchant_order_id;
  order.phone = "13800138000";
  order.face_value_yuan = 10;
  order.price_fen = price_fen;
  order.status = OrderStatus::kAccepted;
  return order;
}

TEST(PlanAcceptsTest, DebitsInOrderAndRefusesExactlyWhatTheBalanceCannotCover) {
  const std::vector<Order> orders = {NewOrder("o1", "m1", "a", 600), NewOrder("o2", "m1", "b", 600),
                                     NewOrder("o3", "m1", "c", 300), NewOrder("o4", "m2", "d", 50),
                                     NewOrder("o5", "m1", "e", 200)};
  AcceptPlan plan = PlanAccepts(orders, {{"m1", 1000}, {"m2", 50}}, {});
  ASSERT_EQ(plan.accepts.size(), orders.size());
  ASSERT_TRUE(plan.accepts[0].answer.ok());
  EXPECT_TRUE(plan.accepts[0].answer->created);
  EXPECT_EQ(plan.accepts[0].balance_after_fen, 400);
  // 600 > 400 left; the cheaper 300 after it still fits, then 200 > 100 does not.
  EXPECT_EQ(plan.accepts[1].answer.status().reason(), "insufficient_balance");
  ASSERT_TRUE(plan.accepts[2].answer.ok());
  EXPECT_EQ(plan.accepts[2].balance_after_fen, 100);
  ASSERT_TRUE(plan.accepts[3].answer.ok());
  EXPECT_EQ(plan.accepts[3].balance_after_fen, 0);
  EXPECT_EQ(plan.accepts[4].answer.status().reason(), "insufficient_balance");
  EXPECT_EQ(plan.debited_fen, (std::map<std::string, int64_t>{{"m1", 900}, {"m2", 50}}));
}

TEST(PlanAcceptsTest, RepeatsAnswerForTheStoredOrTheEarlierOrder) {
  Order stored = NewOrder("old", "m1", "a", 100);
  std::vector<Order> orders = {NewOrder("o1", "m1", "a", 100), NewOrder("o2", "m1", "b", 100),
                               NewOrder("o3", "m1", "b", 100), NewOrder("o4", "m1", "b", 100),
                               NewOrder("o2", "m1", "c", 100), NewOrder("o6", "nobody", "d", 1)};
  orders[3].phone = "13900139000";
  AcceptPlan plan = PlanAccepts(orders, {{"m1", 1000}}, {{{"m1", "a"}, stored}});
  ASSERT_TRUE(plan.accepts[0].answer.ok());
  EXPECT_FALSE(plan.accepts[0].answer->created);
  EXPECT_EQ(plan.accepts[0].answer->order.order_id, "old");
  ASSERT_TRUE(plan.accepts[1].answer.ok());
  EXPECT_TRUE(plan.accepts[1].answer->created);
  ASSERT_TRUE(plan.accepts[2].answer.ok());
  EXPECT_FALSE(plan.accepts[2].answer->created);
  EXPECT_EQ(plan.accepts[2].answer->order.order_id, "o2");
  EXPECT_EQ(plan.accepts[3].answer.status().reason(), "merchant_order_id_conflict");
  EXPECT_EQ(plan.accepts[4].answer.status().reason(), "order_id_exists");
  EXPECT_EQ(plan.accepts[5].answer.status().reason(), "unknown_merchant");
  EXPECT_EQ(plan.debited_fen, (std::map<std::string, int64_t>{{"m1", 100}}));
}

TEST(PlanAcceptsTest, AnOrderRefusedForItsBalanceDoesNotCountAsStored) {
  const std::vector<Order> orders = {NewOrder("o1", "m1", "a", 500),
                                     NewOrder("o2", "m1", "a", 100)};
  AcceptPlan plan = PlanAccepts(orders, {{"m1", 200}}, {});
  EXPECT_EQ(plan.accepts[0].answer.status().reason(), "insufficient_balance");
  ASSERT_TRUE(plan.accepts[1].answer.ok());
  EXPECT_TRUE(plan.accepts[1].answer->created);
  EXPECT_EQ(plan.accepts[1].answer->order.order_id, "o2");
}

}  // namespace
}  // namespace topup::store_rules
