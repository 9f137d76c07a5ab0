#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <set>
#include <thread>

#include "store/sqlite/sqlite_connection.h"
#include "store_test_util.h"
#include "topup/random.h"

namespace topup {
namespace {

using testing_util::kT0Ms;
using testing_util::MakeOrder;
using testing_util::Move;
using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;
using testing_util::StartAttempt;
using Attempt = Transition::Attempt;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(OptionsFor(dir_.File("topup.db")));
    ASSERT_NE(store_, nullptr);
  }

  // Creates a merchant holding `balance_fen`.
  void AddMerchant(const std::string& merchant_id, int64_t balance_fen) {
    ASSERT_TRUE(store_->CreateMerchant(merchant_id, "Merchant " + merchant_id, kT0Ms).ok());
    if (balance_fen > 0) {
      Result<int64_t> balance = store_->FundMerchant(merchant_id, balance_fen, "opening", kT0Ms);
      ASSERT_TRUE(balance.ok()) << balance.status().ToString();
      ASSERT_EQ(*balance, balance_fen);
    }
  }

  Order Accept(const Order& order) {
    Result<AcceptResult> accepted = store_->AcceptOrder(order);
    EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
    if (!accepted.ok()) return Order();
    EXPECT_TRUE(accepted->created);
    return accepted->order;
  }

  Order Get(const std::string& order_id) {
    Result<Order> order = store_->GetOrder(order_id);
    EXPECT_TRUE(order.ok()) << order.status().ToString();
    return order.ok() ? *order : Order();
  }

  int64_t Balance(const std::string& merchant_id) {
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    EXPECT_TRUE(merchant.ok()) << merchant.status().ToString();
    return merchant.ok() ? merchant->balance_fen : -1;
  }

  std::vector<LedgerEntry> Ledger(const std::string& merchant_id) {
    Result<std::vector<LedgerEntry>> entries = store_->ListLedger(merchant_id, 0, 100000);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? *entries : std::vector<LedgerEntry>();
  }

  void ExpectBalanced() {
    Result<LedgerAudit> audit = store_->AuditLedger();
    ASSERT_TRUE(audit.ok()) << audit.status().ToString();
    EXPECT_TRUE(audit->balanced) << audit->problems;
    EXPECT_EQ(audit->problems, "");
  }

  ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

// --- Opening ---

TEST(SqliteStoreOpenTest, UnopenablePathsGiveAStatus) {
  ScopedTempDir dir;
  Result<std::unique_ptr<Store>> missing_dir =
      OpenSqliteStore(OptionsFor(dir.File("no/such/dir/topup.db")));
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(missing_dir.status().reason(), "store_unavailable");

  Result<std::unique_ptr<Store>> a_directory = OpenSqliteStore(OptionsFor(dir.path()));
  ASSERT_FALSE(a_directory.ok());
  EXPECT_EQ(a_directory.status().reason(), "store_unavailable");

  {
    std::ofstream junk(dir.File("junk.db"));
    junk << std::string(8192, 'x');
  }
  Result<std::unique_ptr<Store>> not_a_database = OpenSqliteStore(OptionsFor(dir.File("junk.db")));
  ASSERT_FALSE(not_a_database.ok());
  EXPECT_EQ(not_a_database.status().reason(), "store_unavailable");
  EXPECT_NE(not_a_database.status().message(), "");
}

TEST(SqliteStoreOpenTest, RejectsBadOptions) {
  ScopedTempDir dir;
  SqliteStoreOptions options = OptionsFor(dir.File("topup.db"));
  for (auto mutate : std::vector<std::function<void(SqliteStoreOptions&)>>{
           [](SqliteStoreOptions& o) { o.path = ""; },
           [](SqliteStoreOptions& o) { o.path = ":memory:"; },
           [](SqliteStoreOptions& o) { o.max_batch_ops = 0; },
           [](SqliteStoreOptions& o) { o.read_connections = 0; },
           [](SqliteStoreOptions& o) { o.max_queued_writes = 0; },
       }) {
    SqliteStoreOptions bad = options;
    mutate(bad);
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(bad);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().reason(), "invalid_store_options");
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("topup.db")));
}

// --- Merchants and money ---

TEST_F(SqliteStoreTest, CreateMerchantValidatesAndRefusesDuplicates) {
  EXPECT_TRUE(store_->CreateMerchant("m_1-A", "Shop", kT0Ms).ok());
  Status again = store_->CreateMerchant("m_1-A", "Other", kT0Ms);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.reason(), "merchant_exists");
  for (const std::string& bad : {std::string(""), std::string(65, 'a'), std::string("a b"),
                                 std::string("a.b"), std::string("x/y"), std::string("é")}) {
    Status status = store_->CreateMerchant(bad, "x", kT0Ms);
    EXPECT_EQ(status.reason(), "invalid_merchant_id") << "id '" << bad << "'";
  }
  EXPECT_TRUE(store_->CreateMerchant(std::string(64, 'z'), "Long", kT0Ms).ok());

  Result<Merchant> merchant = store_->GetMerchant("m_1-A");
  ASSERT_TRUE(merchant.ok());
  EXPECT_EQ(merchant->name, "Shop");
  EXPECT_EQ(merchant->balance_fen, 0);
  EXPECT_EQ(merchant->created_ms, kT0Ms);
  EXPECT_EQ(store_->GetMerchant("nobody").status().reason(), "unknown_merchant");
}

TEST_F(SqliteStoreTest, FundMerchantAddsWithALedgerRow) {
  AddMerchant("m1", 0);
  EXPECT_EQ(store_->FundMerchant("m1", 0, "", kT0Ms).status().reason(), "invalid_amount");
  EXPECT_EQ(store_->FundMerchant("m1", -5, "", kT0Ms).status().reason(), "invalid_amount");
  EXPECT_EQ(store_->FundMerchant("nobody", 5, "", kT0Ms).status().reason(), "unknown_merchant");

  Result<int64_t> first = store_->FundMerchant("m1", 500, "wire 1", kT0Ms + 1);
  Result<int64_t> second = store_->FundMerchant("m1", 250, "wire 2", kT0Ms + 2);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, 500);
  EXPECT_EQ(*second, 750);
  EXPECT_EQ(Balance("m1"), 750);

  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[0].kind, LedgerKind::kFund);
  EXPECT_EQ(ledger[0].amount_fen, 500);
  EXPECT_EQ(ledger[0].balance_after_fen, 500);
  EXPECT_EQ(ledger[0].order_id, "");
  EXPECT_EQ(ledger[0].note, "wire 1");
  EXPECT_EQ(ledger[1].balance_after_fen, 750);
  EXPECT_LT(ledger[0].entry_id, ledger[1].entry_id);

  // Paging: entries after the first one.
  Result<std::vector<LedgerEntry>> page = store_->ListLedger("m1", ledger[0].entry_id, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].entry_id, ledger[1].entry_id);
  EXPECT_EQ(store_->ListLedger("m1", 0, 1)->size(), 1u);
  EXPECT_EQ(store_->ListLedger("nobody", 0, 10).status().reason(), "unknown_merchant");
  ExpectBalanced();
}

// --- AcceptOrder ---

TEST_F(SqliteStoreTest, AcceptDebitsAndRecords) {
  AddMerchant("m1", 10'000);
  Order order = MakeOrder("o1", "m1", "mo-1", 980);
  Order stored = Accept(order);
  EXPECT_EQ(stored.order_id, "o1");
  EXPECT_EQ(stored.status, OrderStatus::kAccepted);

  Order read = Get("o1");
  EXPECT_EQ(read.merchant_id, "m1");
  EXPECT_EQ(read.merchant_order_id, "mo-1");
  EXPECT_EQ(read.phone, order.phone);
  EXPECT_EQ(read.carrier, Carrier::kChinaMobile);
  EXPECT_EQ(read.face_value_yuan, 10);
  EXPECT_EQ(read.price_fen, 980);
  EXPECT_EQ(read.notify_url, order.notify_url);
  EXPECT_EQ(read.status, OrderStatus::kAccepted);
  EXPECT_EQ(read.attempt_count, 0);
  EXPECT_EQ(read.created_ms, kT0Ms);
  EXPECT_EQ(read.deadline_ms, kT0Ms + 180'000);
  EXPECT_EQ(read.next_check_ms, kT0Ms);
  EXPECT_EQ(read.finished_ms, 0);

  EXPECT_EQ(Balance("m1"), 10'000 - 980);
  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[1].kind, LedgerKind::kDebit);
  EXPECT_EQ(ledger[1].order_id, "o1");
  EXPECT_EQ(ledger[1].amount_fen, -980);
  EXPECT_EQ(ledger[1].balance_after_fen, 10'000 - 980);

  Result<std::vector<OrderEvent>> events = store_->ListEvents("o1");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, "accepted");
  EXPECT_EQ((*events)[0].at_ms, kT0Ms);

  Result<Order> found = store_->FindOrderByMerchantOrderId("m1", "mo-1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->order_id, "o1");
  EXPECT_EQ(store_->FindOrderByMerchantOrderId("m1", "mo-2").status().reason(), "order_not_found");
  EXPECT_EQ(store_->GetOrder("nope").status().reason(), "order_not_found");
  EXPECT_EQ(store_->ListEvents("nope").status().reason(), "order_not_found");
  ExpectBalanced();
}

TEST_F(SqliteStoreTest, AcceptIsIdempotentOnMerchantOrderId) {
  AddMerchant("m1", 10'000);
  Accept(MakeOrder("o1", "m1", "mo-1"));

  // The same request again, under a new order id as the API would generate: the first order.
  Result<AcceptResult> again = store_->AcceptOrder(MakeOrder("o2", "m1", "mo-1"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->order.order_id, "o1");
  EXPECT_EQ(Balance("m1"), 9'000);
  EXPECT_EQ(store_->GetOrder("o2").status().reason(), "order_not_found");

  // Same merchant order id, different content: a conflict, nothing written.
  Order other_phone = MakeOrder("o3", "m1", "mo-1");
  other_phone.phone = "13900139000";
  Order other_value = MakeOrder("o4", "m1", "mo-1");
  other_value.face_value_yuan = 50;
  Order other_url = MakeOrder("o5", "m1", "mo-1");
  other_url.notify_url = "";
  for (const Order& conflicting : {other_phone, other_value, other_url}) {
    Result<AcceptResult> conflict = store_->AcceptOrder(conflicting);
    ASSERT_FALSE(conflict.ok());
    EXPECT_EQ(conflict.status().code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(conflict.status().reason(), "merchant_order_id_conflict");
  }

  // Another merchant may reuse the merchant order id.
  AddMerchant("m2", 10'000);
  Accept(MakeOrder("o6", "m2", "mo-1"));

  // A taken order id is refused, not overwritten.
  Result<AcceptResult> taken = store_->AcceptOrder(MakeOrder("o1", "m2", "mo-7"));
  EXPECT_EQ(taken.status().reason(), "order_id_exists");

  EXPECT_EQ(Balance("m1"), 9'000);
  EXPECT_EQ(Balance("m2"), 9'000);
  EXPECT_EQ(Ledger("m1").size(), 2u);
  EXPECT_EQ(Ledger("m2").size(), 2u);
  ExpectBalanced();
}

TEST_F(SqliteStoreTest, AcceptRejectsUnknownMerchantAndInsufficientBalance) {
  Result<AcceptResult> unknown = store_->AcceptOrder(MakeOrder("o1", "nobody", "mo-1"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().reason(), "unknown_merchant");

  AddMerchant("m1", 1500);
  Accept(MakeOrder("o1", "m1", "mo-1", 1000));
  Result<AcceptResult> poor = store_->AcceptOrder(MakeOrder("o2", "m1", "mo-2", 1000));
  ASSERT_FALSE(poor.ok());
  EXPECT_EQ(poor.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(poor.status().reason(), "insufficient_balance");

  // Nothing of the refused order exists: no order, no ledger row, no event, same balance.
  EXPECT_EQ(Balance("m1"), 500);
  EXPECT_EQ(Ledger("m1").size(), 2u);
  EXPECT_EQ(store_->GetOrder("o2").status().reason(), "order_not_found");
  EXPECT_EQ(store_->FindOrderByMerchantOrderId("m1", "mo-2").status().reason(), "order_not_found");
  EXPECT_EQ(store_->ListEvents("o2").status().reason(), "order_not_found");
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], 1);

  // Exactly the balance is enough.
  Accept(MakeOrder("o3", "m1", "mo-3", 500));
  EXPECT_EQ(Balance("m1"), 0);
  ExpectBalanced();
}

TEST_F(SqliteStoreTest, AcceptValidatesTheOrder) {
  AddMerchant("m1", 10'000);
  Order started = MakeOrder("o1", "m1", "mo-1");
  started.status = OrderStatus::kCharging;
  Order no_id = MakeOrder("", "m1", "mo-1");
  Order negative = MakeOrder("o1", "m1", "mo-1", -1);
  for (const Order& bad : {started, no_id, negative}) {
    EXPECT_EQ(store_->AcceptOrder(bad).status().reason(), "invalid_order");
  }
  EXPECT_EQ(Balance("m1"), 10'000);
}

// --- ApplyTransition ---

TEST_F(SqliteStoreTest, TransitionsSetTheDocumentedFields) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));
  ASSERT_TRUE(store_->ClaimOrders(std::vector<std::string>{"o1"}, "w1", kT0Ms, 10'000).ok());

  // accepted -> charging, attempt 1 starts.
  Transition start = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 10, "chan-a");
  ASSERT_EQ(store_->ApplyTransition(start).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kCharging);
  EXPECT_EQ(order.attempt_count, 1);
  EXPECT_EQ(order.supplier_order_id, "o1-1");
  EXPECT_EQ(order.channel, "chan-a");
  EXPECT_EQ(order.attempt_sent_ms, kT0Ms + 10);
  EXPECT_EQ(order.updated_ms, kT0Ms + 10);
  EXPECT_EQ(order.next_check_ms, kT0Ms + 10 + 5000);
  EXPECT_EQ(order.lease_owner, "w1");  // not released

  // charging -> unknown, keeping the attempt, storing the supplier's ref, releasing the lease.
  Transition unknown = Move(order, OrderStatus::kUnknown, kT0Ms + 20, Attempt::kKeep, "timeout");
  unknown.supplier_ref = "ref-9";
  unknown.release_lease = true;
  ASSERT_EQ(store_->ApplyTransition(unknown).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kUnknown);
  EXPECT_EQ(order.supplier_order_id, "o1-1");
  EXPECT_EQ(order.attempt_sent_ms, kT0Ms + 10);
  EXPECT_EQ(order.supplier_ref, "ref-9");
  EXPECT_EQ(order.lease_owner, "");
  EXPECT_EQ(order.lease_expires_ms, 0);

  // A schedule-only change needs no event and appends none.
  Transition poll = Move(order, OrderStatus::kUnknown, kT0Ms + 30, Attempt::kKeep, "");
  poll.next_check_ms = kT0Ms + 99'000;
  ASSERT_EQ(store_->ApplyTransition(poll).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.next_check_ms, kT0Ms + 99'000);
  EXPECT_EQ(order.supplier_ref, "ref-9");  // an empty ref does not erase the known one

  // unknown -> charging with the attempt confirmed failed: cleared.
  Transition clear = Move(order, OrderStatus::kCharging, kT0Ms + 40, Attempt::kClear, "failed");
  ASSERT_EQ(store_->ApplyTransition(clear).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kCharging);
  EXPECT_EQ(order.supplier_order_id, "");
  EXPECT_EQ(order.attempt_sent_ms, 0);
  EXPECT_EQ(order.channel, "chan-a");
  EXPECT_EQ(order.attempt_count, 1);

  // charging -> charging, attempt 2, then success.
  ASSERT_EQ(
      store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 50, "b")).value(),
      true);
  order = Get("o1");
  EXPECT_EQ(order.attempt_count, 2);
  EXPECT_EQ(order.supplier_order_id, "o1-2");
  Transition success = Move(order, OrderStatus::kSuccess, kT0Ms + 60, Attempt::kKeep, "succeeded");
  success.next_check_ms = 0;
  ASSERT_EQ(store_->ApplyTransition(success).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kSuccess);
  EXPECT_EQ(order.finished_ms, kT0Ms + 60);
  EXPECT_EQ(order.fail_reason, "");

  Result<std::vector<OrderEvent>> events = store_->ListEvents("o1");
  ASSERT_TRUE(events.ok());
  std::vector<std::string> kinds;
  for (const OrderEvent& e : *events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"accepted", "attempt_started", "timeout", "failed",
                                             "attempt_started", "succeeded"}));
  EXPECT_EQ((*events)[1].from, OrderStatus::kAccepted);
  EXPECT_EQ((*events)[1].to, OrderStatus::kCharging);
  EXPECT_EQ((*events)[1].attempt_no, 1);
  EXPECT_EQ((*events)[4].attempt_no, 2);
  EXPECT_EQ((*events)[5].at_ms, kT0Ms + 60);

  // Nothing leaves a final state.
  Result<bool> after_final =
      store_->ApplyTransition(Move(order, OrderStatus::kCharging, kT0Ms + 70, Attempt::kKeep, "x"));
  EXPECT_EQ(after_final.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Balance("m1"), 9'000);  // success keeps the money
  ExpectBalanced();
}

TEST_F(SqliteStoreTest, TransitionsAreValidated) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));

  Transition skip = Move(order, OrderStatus::kSuccess, kT0Ms + 1, Attempt::kKeep, "succeeded");
  EXPECT_EQ(store_->ApplyTransition(skip).status().reason(), "invalid_transition");

  Transition silent = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1);
  silent.event_kind = "";
  EXPECT_EQ(store_->ApplyTransition(silent).status().reason(), "invalid_transition");

  Transition wrong_id = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1);
  wrong_id.supplier_order_id = "o1-7";
  EXPECT_EQ(store_->ApplyTransition(wrong_id).status().reason(), "invalid_transition");

  EXPECT_EQ(Get("o1").status, OrderStatus::kAccepted);
  EXPECT_EQ(store_->ListEvents("o1")->size(), 1u);
}

TEST_F(SqliteStoreTest, FailingWithALiveAttemptIsRefused) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));
  ASSERT_TRUE(store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1)).ok());
  order = Get("o1");

  Result<bool> refused = store_->ApplyTransition(
      Move(order, OrderStatus::kFailed, kT0Ms + 2, Attempt::kKeep, "gave_up"));
  EXPECT_EQ(refused.status().reason(), "live_attempt");
  EXPECT_EQ(Get("o1").status, OrderStatus::kCharging);
  EXPECT_EQ(Balance("m1"), 9'000);

  ASSERT_EQ(
      store_
          ->ApplyTransition(Move(order, OrderStatus::kFailed, kT0Ms + 3, Attempt::kClear, "failed"))
          .value(),
      true);
  EXPECT_EQ(Balance("m1"), 10'000);
  ExpectBalanced();
}

TEST_F(SqliteStoreTest, FailedRefundsExactlyOnce) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1", 1234));
  EXPECT_EQ(Balance("m1"), 10'000 - 1234);

  Transition fail = Move(order, OrderStatus::kFailed, kT0Ms + 5, Attempt::kKeep, "expired");
  fail.fail_reason = "deadline_passed";
  ASSERT_EQ(store_->ApplyTransition(fail).value(), true);
  // The same compare-and-set again is a lost race, not a second refund.
  EXPECT_EQ(store_->ApplyTransition(fail).value(), false);

  Order failed = Get("o1");
  EXPECT_EQ(failed.status, OrderStatus::kFailed);
  EXPECT_EQ(failed.fail_reason, "deadline_passed");
  EXPECT_EQ(failed.finished_ms, kT0Ms + 5);
  EXPECT_EQ(Balance("m1"), 10'000);

  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger[2].kind, LedgerKind::kRefund);
  EXPECT_EQ(ledger[2].order_id, "o1");
  EXPECT_EQ(ledger[2].amount_fen, 1234);
  EXPECT_EQ(ledger[2].balance_after_fen, 10'000);
  EXPECT_EQ(ledger[2].note, "deadline_passed");
  ExpectBalanced();
}

TEST_F(SqliteStoreTest, ConcurrentCompareAndSetHasExactlyOneWinner) {
  constexpr int kOrders = 40;
  constexpr int kRacers = 4;
  AddMerchant("m1", 1'000'000);
  for (int i = 0; i < kOrders; ++i) {
    Accept(MakeOrder("o" + std::to_string(i), "m1", "mo-" + std::to_string(i)));
  }
  for (int i = 0; i < kOrders; ++i) {
    Order order = Get("o" + std::to_string(i));
    // Racers that saw the same (accepted, 0): half start an attempt, half fail the order.
    std::vector<Result<bool>> results(kRacers, Result<bool>(false));
    std::latch start_line(kRacers);
    std::vector<std::thread> racers;
    for (int r = 0; r < kRacers; ++r) {
      racers.emplace_back([&, r] {
        Transition t = r % 2 == 0 ? StartAttempt(order, OrderStatus::kCharging, kT0Ms + 100 + r)
                                  : Move(order, OrderStatus::kFailed, kT0Ms + 100 + r,
                                         Attempt::kKeep, "expired");
        start_line.arrive_and_wait();
        results[r] = store_->ApplyTransition(t);
      });
    }
    for (std::thread& t : racers) t.join();
    int winners = 0;
    for (const Result<bool>& result : results) {
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      winners += *result ? 1 : 0;
    }
    EXPECT_EQ(winners, 1) << "order " << order.order_id;
    Order after = Get(order.order_id);
    Result<std::vector<OrderEvent>> events = store_->ListEvents(order.order_id);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), 2u);  // accepted + the winner's
    if (after.status == OrderStatus::kCharging) {
      EXPECT_EQ(after.attempt_count, 1);
    } else {
      EXPECT_EQ(after.status, OrderStatus::kFailed);
      EXPECT_EQ(after.attempt_count, 0);
    }
  }
  ExpectBalanced();
}

// A seeded random walk of many orders through the state machine, with stale compare-and-sets
// mixed in. Whatever the path, the money must balance and exactly the failed orders are refunded.
TEST_F(SqliteStoreTest, RandomTransitionsKeepTheLedgerBalanced) {
  constexpr int kOrders = 150;
  constexpr int kSteps = 1500;
  const std::vector<std::string> merchants = {"m1", "m2", "m3"};
  for (const std::string& m : merchants) AddMerchant(m, 10'000'000);

  SeededRandom random(20240611);
  std::vector<std::string> ids;
  std::map<std::string, int64_t> price;
  for (int i = 0; i < kOrders; ++i) {
    std::string id = "o" + std::to_string(1000 + i);
    int64_t price_fen = 100 + static_cast<int64_t>(random.NextBelow(5000));
    Accept(MakeOrder(id, merchants[random.NextBelow(merchants.size())], "mo-" + id, price_fen));
    ids.push_back(id);
    price[id] = price_fen;
  }

  int64_t now_ms = kT0Ms + 1;
  int applied = 0;
  int lost = 0;
  for (int step = 0; step < kSteps; ++step) {
    const std::string& id = ids[random.NextBelow(ids.size())];
    Order order = Get(id);
    now_ms += 1;
    Transition t;
    const bool live = !order.supplier_order_id.empty();
    switch (order.status) {
      case OrderStatus::kAccepted:
        t = random.Chance(0.8)
                ? StartAttempt(order, OrderStatus::kCharging, now_ms)
                : Move(order, OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired");
        break;
      case OrderStatus::kCharging:
      case OrderStatus::kUnknown: {
        uint64_t pick = random.NextBelow(6);
        if (pick == 0) {
          t = StartAttempt(order, OrderStatus::kCharging, now_ms);
        } else if (pick == 1) {
          t = Move(order, OrderStatus::kUnknown, now_ms, Attempt::kKeep, "timeout");
        } else if (pick == 2) {
          t = Move(order, OrderStatus::kSuccess, now_ms, Attempt::kKeep, "succeeded");
        } else if (pick == 3) {
          t = Move(order, OrderStatus::kCharging, now_ms, Attempt::kClear, "attempt_failed");
        } else {
          t = Move(order, OrderStatus::kFailed, now_ms, live ? Attempt::kClear : Attempt::kKeep,
                   "failed");
        }
        break;
      }
      case OrderStatus::kSuccess:
      case OrderStatus::kFailed:
        continue;
    }
    const bool stale = random.Chance(0.2);
    if (stale) t.from_attempt_count += 1;  // a worker acting on an outdated read
    if (t.attempt == Attempt::kStart) {
      t.supplier_order_id = SupplierOrderId(t.order_id, t.from_attempt_count + 1);
    }
    Result<bool> result = store_->ApplyTransition(t);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(*result, !stale);
    (*result ? applied : lost) += 1;
  }
  // Most orders reach a final state early, after which steps on them are skipped.
  EXPECT_GT(applied, kOrders);
  EXPECT_GT(lost, 0);

  // Independent bookkeeping: each merchant keeps the price of every order that did not fail.
  std::map<std::string, int64_t> expected_balance;
  for (const std::string& m : merchants) expected_balance[m] = 10'000'000;
  int failed = 0;
  for (const std::string& id : ids) {
    Order order = Get(id);
    if (order.status == OrderStatus::kFailed) {
      ++failed;
    } else {
      expected_balance[order.merchant_id] -= price[id];
    }
  }
  EXPECT_GT(failed, 0);
  int refunds = 0;
  for (const std::string& m : merchants) {
    EXPECT_EQ(Balance(m), expected_balance[m]) << m;
    for (const LedgerEntry& entry : Ledger(m)) refunds += entry.kind == LedgerKind::kRefund;
  }
  EXPECT_EQ(refunds, failed);
  ExpectBalanced();
}

// --- Leases and the sweeper ---

TEST_F(SqliteStoreTest, ClaimOrdersRespectsLeases) {
  AddMerchant("m1", 100'000);
  for (const char* id : {"o1", "o2", "o3"}) Accept(MakeOrder(id, "m1", std::string("mo-") + id));
  Order o3 = Get("o3");
  ASSERT_TRUE(
      store_->ApplyTransition(Move(o3, OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
          .ok());

  const std::vector<std::string> ids = {"o1", "o2", "o3", "missing", "o1"};
  Result<std::vector<Order>> a = store_->ClaimOrders(ids, "worker-a", kT0Ms, 1000);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::set<std::string> claimed;
  for (const Order& o : *a) {
    claimed.insert(o.order_id);
    EXPECT_EQ(o.lease_owner, "worker-a");
    EXPECT_EQ(o.lease_expires_ms, kT0Ms + 1000);
  }
  EXPECT_EQ(claimed, (std::set<std::string>{"o1", "o2"}));  // final and unknown ids skipped
  EXPECT_EQ(a->size(), 2u);                                 // duplicates claimed once

  // Held by a: b gets nothing until the lease lapses.
  Result<std::vector<Order>> b = store_->ClaimOrders(ids, "worker-b", kT0Ms + 999, 1000);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
  // a may claim again (and so extend) its own lease.
  Result<std::vector<Order>> a_again =
      store_->ClaimOrders(std::vector<std::string>{"o1"}, "worker-a", kT0Ms + 500, 1000);
  ASSERT_TRUE(a_again.ok());
  ASSERT_EQ(a_again->size(), 1u);
  EXPECT_EQ((*a_again)[0].lease_expires_ms, kT0Ms + 1500);

  // o2's lease lapses at kT0Ms + 1000; o1's at kT0Ms + 1500.
  b = store_->ClaimOrders(ids, "worker-b", kT0Ms + 1000, 1000);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].order_id, "o2");
  EXPECT_EQ(Get("o2").lease_owner, "worker-b");

  // a no longer holds o2: renewing does nothing to it, but extends o1.
  ASSERT_TRUE(
      store_->RenewLeases(std::vector<std::string>{"o1", "o2"}, "worker-a", kT0Ms + 1200, 5000)
          .ok());
  EXPECT_EQ(Get("o1").lease_expires_ms, kT0Ms + 6200);
  EXPECT_EQ(Get("o2").lease_owner, "worker-b");
  EXPECT_EQ(Get("o2").lease_expires_ms, kT0Ms + 2000);

  // Releasing through a transition frees the order at once.
  Order o1 = Get("o1");
  Transition start = StartAttempt(o1, OrderStatus::kCharging, kT0Ms + 1300);
  start.release_lease = true;
  ASSERT_EQ(store_->ApplyTransition(start).value(), true);
  b = store_->ClaimOrders(std::vector<std::string>{"o1"}, "worker-b", kT0Ms + 1301, 1000);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 1u);

  EXPECT_EQ(store_->ClaimOrders(ids, "", kT0Ms, 1000).status().reason(), "invalid_lease");
  EXPECT_EQ(store_->ClaimOrders(ids, "w", kT0Ms, 0).status().reason(), "invalid_lease");
}

TEST_F(SqliteStoreTest, TakeDueOrdersSkipsLeasedAndFinalAndDoesNotRepeat) {
  AddMerchant("m1", 1'000'000);
  // o0..o9 due at kT0Ms + i*100.
  for (int i = 0; i < 10; ++i) {
    Order order = MakeOrder("o" + std::to_string(i), "m1", "mo-" + std::to_string(i));
    order.next_check_ms = kT0Ms + i * 100;
    Accept(order);
  }
  // o1 is leased, o2 has failed, o3 succeeded.
  ASSERT_EQ(store_->ClaimOrders(std::vector<std::string>{"o1"}, "w", kT0Ms, 60'000)->size(), 1u);
  ASSERT_TRUE(
      store_
          ->ApplyTransition(Move(Get("o2"), OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
          .ok());
  Order o3 = Get("o3");
  ASSERT_TRUE(store_->ApplyTransition(StartAttempt(o3, OrderStatus::kCharging, kT0Ms)).ok());
  o3 = Get("o3");
  Transition done = Move(o3, OrderStatus::kSuccess, kT0Ms, Attempt::kKeep, "succeeded");
  done.next_check_ms = kT0Ms;  // still "due": only the status keeps it out
  ASSERT_TRUE(store_->ApplyTransition(done).ok());

  constexpr int64_t kRedeliverMs = 30'000;
  const int64_t now_ms = kT0Ms + 450;  // o0..o4 are due
  Result<std::vector<std::string>> due = store_->TakeDueOrders(now_ms, 100, kRedeliverMs);
  ASSERT_TRUE(due.ok()) << due.status().ToString();
  EXPECT_EQ(std::set<std::string>(due->begin(), due->end()), (std::set<std::string>{"o0", "o4"}));
  EXPECT_EQ(Get("o0").next_check_ms, now_ms + kRedeliverMs);

  // Within redeliver_after: the taken ones are not returned again, newly due ones are.
  Result<std::vector<std::string>> later = store_->TakeDueOrders(kT0Ms + 650, 100, kRedeliverMs);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(std::set<std::string>(later->begin(), later->end()),
            (std::set<std::string>{"o5", "o6"}));

  // The limit holds, earliest due first.
  Result<std::vector<std::string>> limited = store_->TakeDueOrders(kT0Ms + 10'000, 2, kRedeliverMs);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(std::set<std::string>(limited->begin(), limited->end()),
            (std::set<std::string>{"o7", "o8"}));

  // Once redeliver_after has passed since an order was taken, it comes back if still open; o1
  // only once its lease lapsed.
  Result<std::vector<std::string>> again =
      store_->TakeDueOrders(now_ms + kRedeliverMs, 100, kRedeliverMs);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(std::set<std::string>(again->begin(), again->end()),
            (std::set<std::string>{"o0", "o4", "o9"}));
  Result<std::vector<std::string>> lapsed =
      store_->TakeDueOrders(kT0Ms + 60'000, 100, kRedeliverMs);
  ASSERT_TRUE(lapsed.ok());
  EXPECT_EQ(std::set<std::string>(lapsed->begin(), lapsed->end()),
            (std::set<std::string>{"o1", "o5", "o6", "o7", "o8"}));
  EXPECT_EQ(store_->TakeDueOrders(kT0Ms, 10, 0).status().reason(), "invalid_redelivery");
}

TEST_F(SqliteStoreTest, ConcurrentSweepersNeverTakeTheSameOrder) {
  constexpr int kOrders = 300;
  AddMerchant("m1", 10'000'000);
  for (int i = 0; i < kOrders; ++i)
    Accept(MakeOrder("o" + std::to_string(i), "m1", std::to_string(i)));
  std::vector<std::vector<std::string>> taken(4);
  std::vector<std::thread> sweepers;
  for (size_t s = 0; s < taken.size(); ++s) {
    sweepers.emplace_back([&, s] {
      for (int round = 0; round < 20; ++round) {
        Result<std::vector<std::string>> due = store_->TakeDueOrders(kT0Ms + 1, 7, 60'000);
        ASSERT_TRUE(due.ok());
        taken[s].insert(taken[s].end(), due->begin(), due->end());
      }
    });
  }
  for (std::thread& t : sweepers) t.join();
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& ids : taken) {
    total += ids.size();
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(total, all.size()) << "an order was taken twice";
  EXPECT_EQ(total, static_cast<size_t>(std::min(kOrders, 4 * 20 * 7)));
}

// --- Listing and counting ---

TEST_F(SqliteStoreTest, ListAndCountOrders) {
  AddMerchant("m1", 1'000'000);
  for (int i = 0; i < 25; ++i) {
    char id[8];
    snprintf(id, sizeof(id), "o%02d", i);
    Accept(MakeOrder(id, "m1", id));
  }
  ASSERT_TRUE(store_
                  ->ApplyTransition(
                      Move(Get("o03"), OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
                  .ok());
  std::vector<std::string> seen;
  std::string after;
  while (true) {
    Result<std::vector<Order>> page = store_->ListOrders(after, 10);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    EXPECT_LE(page->size(), 10u);
    for (const Order& o : *page) seen.push_back(o.order_id);
    after = page->back().order_id;
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], 24);
  EXPECT_EQ((*counts)[OrderStatus::kFailed], 1);
  EXPECT_EQ((*counts)[OrderStatus::kSuccess], 0);
  EXPECT_EQ(counts->size(), 5u);
}

// --- Durability and the audit ---

TEST(SqliteStoreReopenTest, EverythingSurvivesClosingAndReopening) {
  ScopedTempDir dir;
  const std::string path = dir.File("topup.db");
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsFor(path));
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());
    ASSERT_TRUE(store->FundMerchant("m1", 5000, "wire", kT0Ms).ok());
    ASSERT_TRUE(store->AcceptOrder(MakeOrder("o1", "m1", "mo-1", 1000)).ok());
    ASSERT_TRUE(store->AcceptOrder(MakeOrder("o2", "m1", "mo-2", 1000)).ok());
    Order o2 = store->GetOrder("o2").value();
    ASSERT_TRUE(store->ApplyTransition(StartAttempt(o2, OrderStatus::kCharging, kT0Ms + 1)).ok());
    o2 = store->GetOrder("o2").value();
    ASSERT_TRUE(
        store->ApplyTransition(Move(o2, OrderStatus::kFailed, kT0Ms + 2, Attempt::kClear, "failed"))
            .ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(path));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetMerchant("m1")->balance_fen, 4000);
  EXPECT_EQ(store->GetOrder("o1")->status, OrderStatus::kAccepted);
  Order o2 = store->GetOrder("o2").value();
  EXPECT_EQ(o2.status, OrderStatus::kFailed);
  EXPECT_EQ(o2.attempt_count, 1);
  EXPECT_EQ(o2.channel, "sim");
  EXPECT_EQ(store->ListEvents("o2")->size(), 3u);
  EXPECT_EQ(store->ListLedger("m1", 0, 100)->size(), 4u);  // fund, debit, debit, refund
  Result<LedgerAudit> audit = store->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
  EXPECT_EQ(audit->funded_fen, 5000);
  EXPECT_EQ(audit->debited_fen, 2000);
  EXPECT_EQ(audit->refunded_fen, 1000);
  EXPECT_EQ(audit->balance_fen, 4000);
  EXPECT_EQ(audit->open_and_succeeded_price_fen, 1000);
  EXPECT_EQ(audit->merchants, 1);
  // Idempotency holds across the restart too.
  Result<AcceptResult> retry = store->AcceptOrder(MakeOrder("o9", "m1", "mo-1", 1000));
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->created);
  EXPECT_EQ(retry->order.order_id, "o1");
}

TEST_F(SqliteStoreTest, AuditFindsTamperingAndTheLedgerIsAppendOnly) {
  AddMerchant("m1", 10'000);
  AddMerchant("m2", 10'000);
  Accept(MakeOrder("o1", "m1", "mo-1"));
  ExpectBalanced();

  Result<std::unique_ptr<sqlite::SqliteConnection>> raw = sqlite::SqliteConnection::Open(
      dir_.File("topup.db"), sqlite::SqliteConnection::Mode::kReadWrite, 5000);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_FALSE((*raw)->Exec("UPDATE ledger SET amount_fen = 0").ok());
  EXPECT_FALSE((*raw)->Exec("DELETE FROM order_events").ok());
  EXPECT_FALSE((*raw)->Exec("UPDATE merchants SET balance_fen = -1 WHERE merchant_id = 'm1'").ok());
  ExpectBalanced();

  // Money appearing from nowhere, and an order that escaped its debit's bookkeeping.
  ASSERT_TRUE((*raw)
                  ->Exec("UPDATE merchants SET balance_fen = balance_fen + 7 "
                         "WHERE merchant_id = 'm2'")
                  .ok());
  ASSERT_TRUE((*raw)->Exec("UPDATE orders SET price_fen = 999 WHERE order_id = 'o1'").ok());
  Result<LedgerAudit> audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_FALSE(audit->balanced);
  EXPECT_NE(audit->problems.find("merchant m2"), std::string::npos) << audit->problems;
  EXPECT_NE(audit->problems.find("order o1"), std::string::npos) << audit->problems;
}

}  // namespace
}  // namespace topup
