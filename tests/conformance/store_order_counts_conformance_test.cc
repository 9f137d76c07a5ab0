// Store::CountOrders: the counts that the writes keep equal a count of the rows, hot and archived,
// after every kind of write: accepts that create orders and accepts refused, transitions applied
// and transitions whose compare-and-set lost, batches with a refused write among them, archiving,
// writers on several nodes at once, and a store whose counts the migration fills from the orders
// it already holds. Runs on every backend.
#include <gtest/gtest.h>

#include <future>
#include <initializer_list>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store_backends.h"

namespace topup::store_conformance {
namespace {

using Attempt = Transition::Attempt;

constexpr int64_t kCutoffMs = kT0Ms + 1'000'000;  // archive what finished before this

// Counts with every status, those not named at 0.
OrderCounts Counts(std::initializer_list<std::pair<OrderStatus, int64_t>> nonzero) {
  OrderCounts counts{{OrderStatus::kAccepted, 0},
                     {OrderStatus::kCharging, 0},
                     {OrderStatus::kUnknown, 0},
                     {OrderStatus::kSuccess, 0},
                     {OrderStatus::kFailed, 0}};
  for (const auto& [status, n] : nonzero) counts[status] = n;
  return counts;
}

class StoreOrderCountsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<StoreBackend>> backend = MakeBackend(GetParam());
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
    store_ = Open();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreateMerchant("m1", "Merchant m1", kT0Ms).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 1'000'000, "opening", kT0Ms).ok());
  }

  std::unique_ptr<Store> Open() {
    Result<std::unique_ptr<Store>> store = backend_->Open();
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // CountOrders is what the rows say, and `expected`.
  void ExpectCounts(const OrderCounts& expected) {
    Result<OrderCounts> counted = store_->CountOrders();
    ASSERT_TRUE(counted.ok()) << counted.status().ToString();
    Result<OrderCounts> rows = backend_->CountOrderRows();
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    OrderCounts in_rows = Counts({});
    for (const auto& [status, n] : *rows) in_rows[status] = n;
    EXPECT_EQ(*counted, in_rows) << "the counts are not those of the rows";
    EXPECT_EQ(*counted, expected);
  }

  // A new order of m1 without a notify_url (so that it is archivable once final).
  static Order NewOrder(const std::string& id, int64_t price_fen = 100) {
    Order order = MakeOrder(id, "m1", "mo-" + id, price_fen);
    order.notify_url = "";
    return order;
  }

  void Accept(const std::string& id) {
    Result<AcceptResult> accepted = store_->AcceptOrder(NewOrder(id));
    ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
    ASSERT_TRUE(accepted->created);
  }

  // ApplyTransition on the order as it is now, which must apply.
  void Apply(const std::string& id, OrderStatus to, Attempt attempt, int64_t now_ms = kT0Ms + 10) {
    Order order = store_->GetOrder(id).value();
    Transition t = attempt == Attempt::kStart
                       ? StartAttempt(order, to, now_ms)
                       : Move(order, to, now_ms, attempt, to == order.status ? "waited" : "moved");
    Result<bool> applied = store_->ApplyTransition(t);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
    ASSERT_TRUE(*applied) << id << " did not move";
  }

  ArchiveReport Archive() {
    ArchiveRequest request;
    request.finished_before_ms = kCutoffMs;
    request.batch_orders = 2;  // several batches
    Result<ArchiveReport> report = store_->ArchiveFinalOrders(request);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : ArchiveReport{};
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreOrderCountsTest, AnEmptyStoreCountsNothing) { ExpectCounts(Counts({})); }

TEST_P(StoreOrderCountsTest, OnlyAcceptsThatCreateAnOrderCount) {
  ASSERT_TRUE(store_->CreateMerchant("poor", "Merchant poor", kT0Ms).ok());
  ASSERT_TRUE(store_->FundMerchant("poor", 250, "opening", kT0Ms).ok());
  Accept("o1");
  // The same request again, a different one under the same merchant order id, an unknown
  // merchant and a balance too small: none creates an order.
  Order repeat = NewOrder("o1-again");
  repeat.merchant_order_id = "mo-o1";
  Result<AcceptResult> repeated = store_->AcceptOrder(repeat);
  ASSERT_TRUE(repeated.ok()) << repeated.status().ToString();
  EXPECT_FALSE(repeated->created);
  Order conflict = repeat;
  conflict.phone = "13900139000";
  EXPECT_EQ(store_->AcceptOrder(conflict).status().reason(), "merchant_order_id_conflict");
  Order stranger = NewOrder("o-stranger");
  stranger.merchant_id = "nobody";
  EXPECT_EQ(store_->AcceptOrder(stranger).status().reason(), "unknown_merchant");
  Order unpaid = NewOrder("o-unpaid", 300);
  unpaid.merchant_id = "poor";
  EXPECT_EQ(store_->AcceptOrder(unpaid).status().reason(), "insufficient_balance");
  ExpectCounts(Counts({{OrderStatus::kAccepted, 1}}));

  // The same mix at once, so that the store writes it in batches: 100 fen each for "poor", who
  // can pay two, and repeats of o1 among new orders of m1.
  std::vector<Order> orders;
  for (int i = 0; i < 4; ++i) {
    Order order = NewOrder("p" + std::to_string(i));
    order.merchant_id = "poor";
    orders.push_back(order);
    orders.push_back(NewOrder("n" + std::to_string(i)));
    orders.push_back(repeat);
  }
  std::vector<std::future<Result<AcceptResult>>> answers;
  for (const Order& order : orders) {
    auto answer = std::make_shared<std::promise<Result<AcceptResult>>>();
    answers.push_back(answer->get_future());
    store_->AcceptOrderAsync(order,
                             [answer](Result<AcceptResult> r) { answer->set_value(std::move(r)); });
  }
  int created = 0, short_of_money = 0;
  for (auto& answer : answers) {
    Result<AcceptResult> r = answer.get();
    if (r.ok()) {
      created += r->created ? 1 : 0;
    } else {
      EXPECT_EQ(r.status().reason(), "insufficient_balance") << r.status().ToString();
      short_of_money++;
    }
  }
  EXPECT_EQ(created, 2 + 4);
  EXPECT_EQ(short_of_money, 2);
  ExpectCounts(Counts({{OrderStatus::kAccepted, 1 + 6}}));
}

TEST_P(StoreOrderCountsTest, OnlyTransitionsThatApplyMoveACount) {
  for (const char* id : {"a", "b", "c", "d"}) Accept(id);
  Apply("a", OrderStatus::kCharging, Attempt::kStart);
  // Lost: "a" is no longer accepted.
  Transition stale = StartAttempt(NewOrder("a"), OrderStatus::kCharging, kT0Ms + 11);
  EXPECT_FALSE(store_->ApplyTransition(stale).value());
  ExpectCounts(Counts({{OrderStatus::kAccepted, 3}, {OrderStatus::kCharging, 1}}));

  Apply("a", OrderStatus::kUnknown, Attempt::kKeep);
  Apply("a", OrderStatus::kSuccess, Attempt::kKeep);
  Apply("b", OrderStatus::kCharging, Attempt::kStart);
  // Refused: "b" cannot fail while its attempt is live.
  Transition fail_live =
      Move(store_->GetOrder("b").value(), OrderStatus::kFailed, kT0Ms + 12, Attempt::kKeep, "no");
  EXPECT_EQ(store_->ApplyTransition(fail_live).status().reason(), "live_attempt");
  Apply("b", OrderStatus::kFailed, Attempt::kClear);
  Apply("c", OrderStatus::kAccepted, Attempt::kKeep);  // waits for a channel: no status change
  ExpectCounts(
      Counts({{OrderStatus::kAccepted, 2}, {OrderStatus::kSuccess, 1}, {OrderStatus::kFailed, 1}}));

  // A batch: "d" starts, "c" (still accepted) and "b" (failed) lose their compare-and-sets,
  // "a" (final) too, and "x" does not exist.
  Order as_charging = NewOrder("c");
  as_charging.status = OrderStatus::kCharging;
  Order b_before = NewOrder("b");
  b_before.status = OrderStatus::kCharging;
  b_before.attempt_count = 1;
  const std::vector<Transition> batch = {
      StartAttempt(store_->GetOrder("d").value(), OrderStatus::kCharging, kT0Ms + 20),
      Move(as_charging, OrderStatus::kUnknown, kT0Ms + 20, Attempt::kKeep, "lost"),
      Move(b_before, OrderStatus::kSuccess, kT0Ms + 20, Attempt::kKeep, "lost"),
      StartAttempt(NewOrder("a"), OrderStatus::kCharging, kT0Ms + 20),
      StartAttempt(NewOrder("x"), OrderStatus::kCharging, kT0Ms + 20)};
  std::vector<Result<bool>> results = store_->ApplyTransitions(batch);
  ASSERT_EQ(results.size(), batch.size());
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    EXPECT_EQ(*results[i], i == 0) << i;
  }
  ExpectCounts(Counts({{OrderStatus::kAccepted, 1},
                       {OrderStatus::kCharging, 1},
                       {OrderStatus::kSuccess, 1},
                       {OrderStatus::kFailed, 1}}));
}

TEST_P(StoreOrderCountsTest, ArchivingChangesNoCount) {
  for (const char* id : {"ok1", "ok2", "failed", "open"}) Accept(id);
  for (const char* id : {"ok1", "ok2"}) {
    Apply(id, OrderStatus::kCharging, Attempt::kStart);
    Apply(id, OrderStatus::kSuccess, Attempt::kKeep);
  }
  Apply("failed", OrderStatus::kCharging, Attempt::kStart);
  Apply("failed", OrderStatus::kFailed, Attempt::kClear);
  Accept("newest");  // owns the newest rows, which SQLite keeps hot
  const OrderCounts expected =
      Counts({{OrderStatus::kAccepted, 2}, {OrderStatus::kSuccess, 2}, {OrderStatus::kFailed, 1}});
  ExpectCounts(expected);
  EXPECT_EQ(Archive().orders, 3);
  EXPECT_EQ(backend_->QueryInt("SELECT count(*) FROM orders").value(), 2);
  ExpectCounts(expected);
  EXPECT_EQ(Archive().orders, 0);
  ExpectCounts(expected);
}

// Several nodes accept and move orders at once, racing for the same orders; every count still
// adds up.
TEST_P(StoreOrderCountsTest, ConcurrentWritersOnSeveralNodesKeepTheCountsExact) {
  constexpr int kThreads = 6;
  constexpr int kOwnOrders = 40;
  constexpr int kShared = 30;
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) {
    nodes.push_back(Open());
    ASSERT_NE(nodes.back(), nullptr);
  }
  for (int i = 0; i < kShared; ++i) Accept("shared-" + std::to_string(i));

  std::latch start_line(kThreads);
  std::vector<std::thread> threads;
  std::vector<int> shared_moved(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& node = *nodes[t % nodes.size()];
      start_line.arrive_and_wait();
      std::vector<std::future<Result<AcceptResult>>> answers;
      std::vector<Transition> starts, ends;
      for (int i = 0; i < kOwnOrders; ++i) {
        const Order order = NewOrder("t" + std::to_string(t) + "-" + std::to_string(i));
        auto answer = std::make_shared<std::promise<Result<AcceptResult>>>();
        answers.push_back(answer->get_future());
        node.AcceptOrderAsync(
            order, [answer](Result<AcceptResult> r) { answer->set_value(std::move(r)); });
        starts.push_back(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 10));
        Order charging = order;
        charging.status = OrderStatus::kCharging;
        charging.attempt_count = 1;
        const bool fail = i % 3 == 0;
        ends.push_back(Move(charging, fail ? OrderStatus::kFailed : OrderStatus::kSuccess,
                            kT0Ms + 20, fail ? Attempt::kClear : Attempt::kKeep, "done"));
      }
      for (auto& answer : answers) {
        Result<AcceptResult> r = answer.get();
        EXPECT_TRUE(r.ok() && r->created) << r.status().ToString();
      }
      // Every thread tries to start every shared order: one wins each.
      for (int i = 0; i < kShared; ++i) {
        Result<bool> applied = node.ApplyTransition(
            StartAttempt(NewOrder("shared-" + std::to_string(i)), OrderStatus::kCharging,
                         kT0Ms + 10, "node" + std::to_string(t)));
        EXPECT_TRUE(applied.ok()) << applied.status().ToString();
        shared_moved[t] += applied.ok() && *applied ? 1 : 0;
      }
      for (const std::vector<Transition>* batch : {&starts, &ends}) {
        for (const Result<bool>& applied : node.ApplyTransitions(*batch)) {
          EXPECT_TRUE(applied.ok() && *applied) << applied.status().ToString();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  int moved = 0;
  for (int n : shared_moved) moved += n;
  EXPECT_EQ(moved, kShared);
  const int64_t failed = kThreads * ((kOwnOrders + 2) / 3);
  ExpectCounts(Counts({{OrderStatus::kCharging, kShared},
                       {OrderStatus::kSuccess, kThreads * kOwnOrders - failed},
                       {OrderStatus::kFailed, failed}}));
}

// A store from before the counts: the migration counts the orders it holds, hot and archived.
TEST_P(StoreOrderCountsTest, TheMigrationCountsTheOrdersAStoreAlreadyHolds) {
  for (const char* id : {"ok", "failed", "charging", "open"}) Accept(id);
  Apply("ok", OrderStatus::kCharging, Attempt::kStart);
  Apply("ok", OrderStatus::kSuccess, Attempt::kKeep);
  Apply("failed", OrderStatus::kCharging, Attempt::kStart);
  Apply("failed", OrderStatus::kFailed, Attempt::kClear);
  Apply("charging", OrderStatus::kCharging, Attempt::kStart);
  Accept("newest");
  ASSERT_EQ(Archive().orders, 2);
  Accept("late-ok");
  Apply("late-ok", OrderStatus::kCharging, Attempt::kStart);
  Apply("late-ok", OrderStatus::kSuccess, Attempt::kKeep, kCutoffMs + 1);
  const OrderCounts expected = Counts({{OrderStatus::kAccepted, 2},
                                       {OrderStatus::kCharging, 1},
                                       {OrderStatus::kSuccess, 2},
                                       {OrderStatus::kFailed, 1}});
  ExpectCounts(expected);

  store_.reset();
  ASSERT_TRUE(backend_
                  ->Execute("DROP TABLE order_counts;"
                            " DELETE FROM schema_version WHERE name = 'order counts'")
                  .ok());
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  ExpectCounts(expected);
  // And the writes keep them from there.
  Accept("after");
  ExpectCounts(Counts({{OrderStatus::kAccepted, 3},
                       {OrderStatus::kCharging, 1},
                       {OrderStatus::kSuccess, 2},
                       {OrderStatus::kFailed, 1}}));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreOrderCountsTest, ::testing::ValuesIn(BackendNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace topup::store_conformance
