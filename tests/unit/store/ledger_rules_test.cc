// The ledger's sign rules: each fires (TOPUP_ASSERT, on in this NDEBUG build too) when broken,
// and the SQLite store asserts them where it writes an entry.
#include "store/rules/ledger_rules.h"

#include <gtest/gtest.h>

#include "store/rules/store_rules.h"
#include "store/sqlite/sqlite_connection.h"
#include "store_test_util.h"

namespace topup {
namespace {

using store_rules::AssertFunding;
using store_rules::AssertRefundAllowed;
using store_rules::BalanceAfterDebit;
using store_rules::Refund;
using testing_util::kT0Ms;
using testing_util::MakeOrder;
using testing_util::Move;
using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;

Refund GoodRefund() {
  return Refund{.from = OrderStatus::kCharging,
                .to = OrderStatus::kFailed,
                .amount_fen = 1000,
                .debit_fen = -1000,
                .balance_after_fen = 5000};
}

TEST(LedgerRulesTest, EntriesThatKeepTheRulesPass) {
  EXPECT_EQ(BalanceAfterDebit(5000, 1000), 4000);
  EXPECT_EQ(BalanceAfterDebit(1000, 1000), 0);
  AssertRefundAllowed(GoodRefund());
  AssertFunding(100, 100);
}

TEST(LedgerRulesDeathTest, ADebitIsNegativeAndLeavesNoBalanceBelowZero) {
  EXPECT_DEATH(BalanceAfterDebit(5000, 0), "a debit takes a positive price");
  EXPECT_DEATH(BalanceAfterDebit(5000, -10), "a debit takes a positive price");
  EXPECT_DEATH(BalanceAfterDebit(999, 1000), "would leave the balance below zero");
}

TEST(LedgerRulesDeathTest, ARefundIsTheOrdersDebitOnceForAFailedOrder) {
  Refund refund = GoodRefund();
  refund.to = OrderStatus::kSuccess;
  EXPECT_DEATH(AssertRefundAllowed(refund), "a refund of an order that is not failed");
  refund = GoodRefund();
  refund.from = OrderStatus::kFailed;
  EXPECT_DEATH(AssertRefundAllowed(refund), "a second refund of one order");
  refund = GoodRefund();
  refund.amount_fen = 0;
  refund.debit_fen = 0;
  EXPECT_DEATH(AssertRefundAllowed(refund), "a refund must be positive");
  refund = GoodRefund();
  refund.debit_fen = -999;
  EXPECT_DEATH(AssertRefundAllowed(refund), "a refund must equal the order's debit");
  refund = GoodRefund();
  refund.balance_after_fen = 999;
  EXPECT_DEATH(AssertRefundAllowed(refund), "below its own amount");
}

TEST(LedgerRulesDeathTest, AFundingIsPositive) {
  EXPECT_DEATH(AssertFunding(0, 100), "a funding must be positive");
  EXPECT_DEATH(AssertFunding(100, store_rules::kMaxBalanceFen + 1), "out of range");
}

TEST(LedgerRulesTest, AnOrderWithoutAPriceIsRefusedAsInput) {
  Order order = MakeOrder("o1", "m", "mo1", /*price_fen=*/0);
  EXPECT_EQ(store_rules::ValidateNewOrder(order).reason(), "invalid_order");
}

// The store's own wiring: an order written behind the store's back, without its debit, is
// refunded by the store only through the rule that a refund equals the debit, which aborts.
TEST(LedgerRulesDeathTest, TheSqliteStoreAssertsARefundEqualsTheOrdersDebit) {
  // The child runs the test from the start, so the store's writer thread is its own.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ScopedTempDir dir;
  const std::string path = dir.File("t.db");
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(path));
  ASSERT_TRUE(store->CreateMerchant("m", "m", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m", 10'000, "", kT0Ms).ok());
  {
    auto raw =
        sqlite::SqliteConnection::Open(path, sqlite::SqliteConnection::Mode::kReadWrite, 1000);
    ASSERT_TRUE(raw.ok());
    const std::string insert =
        store_rules::SqlText({"INSERT INTO orders (", store_rules::kOrderColumns,
                              ") VALUES ('o1', 'm', 'mo1', '13800138000', 1, 10, 1000, '', 0, 0,"
                              " '', 0, '', '', '', 1, 999999999999999, 1, 0, 1, '', 0)"});
    ASSERT_TRUE((*raw)->Exec(insert).ok());
  }
  Result<Order> forged = store->GetOrder("o1");
  ASSERT_TRUE(forged.ok()) << forged.status().ToString();
  const Transition fail = Move(*forged, OrderStatus::kFailed, kT0Ms + 10,
                               Transition::Attempt::kClear, "failed_refunded");
  EXPECT_DEATH((void)store->ApplyTransition(fail), "a refund must equal the order's debit");
}

}  // namespace
}  // namespace topup
