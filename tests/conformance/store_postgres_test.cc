// What only the PostgreSQL store has: its options and URL, a server that is down or restarts under
// a live store, the bounds of its connection pool and of a statement, batches that race other
// writers or lose their connection, and text PostgreSQL cannot store. The Store contract itself is
// checked by store_conformance_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "process/child_process.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_store.h"
#include "store_backends.h"

namespace topup::store_conformance {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(PostgresStoreOptionsTest, BadOptionsAreRefusedBeforeConnecting) {
  PostgresStoreOptions good;
  good.url = "postgresql://topup@127.0.0.1:1/postgres";
  for (auto mutate : std::vector<std::function<void(PostgresStoreOptions&)>>{
           [](PostgresStoreOptions& o) { o.url = ""; },
           [](PostgresStoreOptions& o) { o.url = "topup.db"; },
           [](PostgresStoreOptions& o) { o.url = "redis://127.0.0.1:6379/0"; },
           [](PostgresStoreOptions& o) { o.pool_size = 0; },
           [](PostgresStoreOptions& o) { o.pool_size = 257; },
           [](PostgresStoreOptions& o) { o.acquire_timeout_ms = -1; },
           [](PostgresStoreOptions& o) { o.connect_timeout_s = 0; },
           [](PostgresStoreOptions& o) { o.statement_timeout_ms = 0; },
       }) {
    PostgresStoreOptions bad = good;
    mutate(bad);
    Result<std::unique_ptr<Store>> store = OpenPostgresStore(bad);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store.status().reason(), "invalid_store_options");
  }
}

TEST(PostgresStoreOptionsTest, AServerThatIsNotThereIsUnavailable) {
  Result<uint16_t> port = process::PickFreePort();  // nothing listens on it
  ASSERT_TRUE(port.ok());
  PostgresStoreOptions options;
  options.url = "postgresql://topup@127.0.0.1:" + std::to_string(*port) + "/postgres";
  options.connect_timeout_s = 2;
  const auto start = Clock::now();
  Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.status().reason(), "store_unavailable");
  EXPECT_LT(SecondsSince(start), 10.0);
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<testing::PostgresServer*> server = SharedPostgresServer();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = *server;
    static std::atomic<int> databases{0};
    database_ = "pg_" + std::to_string(++databases);
    Result<std::string> url = server_->CreateDatabase(database_);
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    url_ = *url;
  }

  void TearDown() override {
    if (server_ == nullptr || url_.empty()) return;
    Status dropped = server_->DropDatabase(database_);
    EXPECT_TRUE(dropped.ok()) << dropped.ToString();
  }

  std::unique_ptr<Store> Open(PostgresStoreOptions options) {
    options.url = url_;
    Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::unique_ptr<postgres::PgConnection> Connect() {
    Result<std::unique_ptr<postgres::PgConnection>> connection =
        postgres::PgConnection::Open(url_, 5, 60'000);
    EXPECT_TRUE(connection.ok()) << connection.status().ToString();
    return connection.ok() ? std::move(connection).value() : nullptr;
  }

  // Holds a lock on `table` (by default an exclusive one on merchants) in its own transaction
  // until Release, so that store calls that need a conflicting lock wait.
  class TableLock {
   public:
    explicit TableLock(std::unique_ptr<postgres::PgConnection> connection,
                       const std::string& table = "merchants",
                       const std::string& mode = "ACCESS EXCLUSIVE")
        : connection_(std::move(connection)) {
      Status status = connection_->Run("BEGIN; LOCK TABLE " + table + " IN " + mode + " MODE");
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
    // Runs `sql` in the lock's transaction.
    void Run(const std::string& sql) {
      Status status = connection_->Run(sql);
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
    void Release() {
      Status status = connection_->Run("COMMIT");
      EXPECT_TRUE(status.ok()) << status.ToString();
    }

   private:
    std::unique_ptr<postgres::PgConnection> connection_;
  };

  // Waits, at most 30 s, until some session waits for a lock.
  bool WaitForABlockedSession() {
    std::unique_ptr<postgres::PgConnection> observer = Connect();
    if (observer == nullptr) return false;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      postgres::PgResult waiting = observer->ExecuteOnce(
          "SELECT count(*) FROM pg_locks WHERE NOT granted", postgres::Params());
      if (!waiting.ok()) return false;
      if (waiting.Int(0, 0) > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  testing::PostgresServer* server_ = nullptr;
  std::string database_;
  std::string url_;
};

TEST_F(PostgresStoreTest, KeepsWorkingAcrossAServerRestart) {
  PostgresStoreOptions options;
  options.pool_size = 4;
  options.connect_timeout_s = 2;
  std::unique_ptr<Store> store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m1", 5000, "", kT0Ms).ok());
  ASSERT_TRUE(store->AcceptOrder(MakeOrder("o1", "m1", "mo-1")).ok());

  // While the server is down every call fails, soon, with a reason a caller can retry on.
  server_->Stop();
  const auto start = Clock::now();
  Result<Merchant> down = store->GetMerchant("m1");
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(down.status().reason(), "store_unavailable");
  Result<AcceptResult> refused = store->AcceptOrder(MakeOrder("o2", "m1", "mo-2"));
  EXPECT_EQ(refused.status().reason(), "store_unavailable");
  EXPECT_LT(SecondsSince(start), 10.0);

  // Once it is back, the pool replaces its dead connections and nothing was lost.
  ASSERT_TRUE(server_->Restart().ok());
  Result<Merchant> up = store->GetMerchant("m1");
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->balance_fen, 4000);
  Result<AcceptResult> accepted = store->AcceptOrder(MakeOrder("o2", "m1", "mo-2"));
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  EXPECT_TRUE(accepted->created);
  Result<LedgerAudit> audit = store->AuditLedger();
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  EXPECT_TRUE(audit->balanced) << audit->problems;
  EXPECT_EQ(audit->debited_fen, 2000);
}

TEST_F(PostgresStoreTest, CallersWaitABoundedTimeForAConnection) {
  PostgresStoreOptions options;
  options.pool_size = 1;
  options.acquire_timeout_ms = 300;
  std::unique_ptr<Store> store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());

  TableLock lock(Connect());
  std::optional<Result<Merchant>> first;
  std::thread holder([&] { first.emplace(store->GetMerchant("m1")); });  // takes the only one
  ASSERT_TRUE(WaitForABlockedSession());
  const auto start = Clock::now();
  Result<Merchant> second = store->GetMerchant("m1");
  const double waited_s = SecondsSince(start);
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(second.status().reason(), "store_overloaded");
  EXPECT_GE(waited_s, 0.25);
  EXPECT_LT(waited_s, 5.0);

  lock.Release();
  holder.join();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->ok()) << first->status().ToString();
  EXPECT_TRUE(store->GetMerchant("m1").ok());
}

TEST_F(PostgresStoreTest, AStatementThatWaitsTooLongTimesOut) {
  PostgresStoreOptions options;
  options.statement_timeout_ms = 300;
  std::unique_ptr<Store> store = Open(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());

  TableLock lock(Connect());
  Result<int64_t> funded = store->FundMerchant("m1", 100, "", kT0Ms);
  EXPECT_EQ(funded.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(funded.status().reason(), "store_timeout");
  lock.Release();

  // The cancelled statement wrote nothing, and the store goes on.
  EXPECT_EQ(store->GetMerchant("m1")->balance_fen, 0);
  EXPECT_EQ(store->FundMerchant("m1", 100, "", kT0Ms).value(), 100);
  EXPECT_EQ(store->ListLedger("m1", 0, 10)->size(), 1u);
}

// A batch of the archive job that PostgreSQL aborts for a deadlock is tried again: the run goes
// on instead of failing. The deadlock is made on purpose: another transaction holds the
// notification of the order the batch took, and then asks for that order; the batch, waiting
// longest and with the shorter deadlock_timeout, is the one aborted.
TEST_F(PostgresStoreTest, AnArchiveBatchAbortedForADeadlockIsTriedAgain) {
  std::unique_ptr<Store> store = Open(PostgresStoreOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m1", 5000, "", kT0Ms).ok());
  Order order = MakeOrder("o1", "m1", "mo-1");
  ASSERT_TRUE(store->AcceptOrder(order)->created);
  ASSERT_TRUE(
      store->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1)).value());
  order = store->GetOrder("o1").value();
  ASSERT_TRUE(store
                  ->ApplyTransition(Move(order, OrderStatus::kSuccess, kT0Ms + 2,
                                         Transition::Attempt::kKeep, "succeeded"))
                  .value());
  Result<std::vector<ClaimedNotification>> claimed =
      store->ClaimNotifications("notifier", kT0Ms + 3, 10'000, 10);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1u);
  NotificationOutcome delivered;
  delivered.owner = "notifier";
  delivered.attempt.notification_id = claimed->at(0).notification.notification_id;
  delivered.attempt.at_ms = kT0Ms + 3;
  delivered.attempt.http_status = 200;
  delivered.delivered = true;
  ASSERT_TRUE(store->RecordNotificationTry(delivered).value());

  std::unique_ptr<postgres::PgConnection> other = Connect();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other
                  ->Run("BEGIN; SET LOCAL deadlock_timeout = '60s';"
                        " SELECT 1 FROM notifications WHERE order_id = 'o1' FOR UPDATE")
                  .ok());
  std::optional<Result<ArchiveReport>> archived;
  std::thread archiver([&] {
    ArchiveRequest request;
    request.finished_before_ms = kT0Ms + 1'000'000;
    archived.emplace(store->ArchiveFinalOrders(request));
  });
  ASSERT_TRUE(WaitForABlockedSession());  // the batch holds o1 and waits for its notification
  // Waits for the batch in turn, until PostgreSQL aborts the batch; then this one goes on.
  Status cycle = other->Run("SELECT 1 FROM orders WHERE order_id = 'o1' FOR UPDATE");
  EXPECT_TRUE(cycle.ok()) << cycle.ToString();
  ASSERT_TRUE(other->Run("COMMIT").ok());
  archiver.join();
  ASSERT_TRUE(archived.has_value());
  ASSERT_TRUE(archived->ok()) << archived->status().ToString();
  // The batch tried again may have found o1 still locked by the other transaction and passed it
  // over; a later run moves it.
  if ((*archived)->orders == 0) {
    ArchiveRequest request;
    request.finished_before_ms = kT0Ms + 1'000'000;
    EXPECT_EQ(store->ArchiveFinalOrders(request)->orders, 1);
  }
  EXPECT_EQ(store->GetOrder("o1")->status, OrderStatus::kSuccess);
}

// An accept batch reads the balance without a lock and debits the balance it finds when it
// writes: funds that arrive in between are kept, and the ledger's balances follow the real ones.
TEST_F(PostgresStoreTest, AnAcceptBatchDebitsTheBalanceItFindsNotTheOneItRead) {
  std::unique_ptr<Store> store = Open(PostgresStoreOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m1", 1500, "", kT0Ms).ok());

  // EXCLUSIVE lets the batch read the merchant but not lock its row for the debit.
  TableLock lock(Connect(), "merchants", "EXCLUSIVE");
  auto answer = std::make_shared<std::promise<Result<AcceptResult>>>();
  std::future<Result<AcceptResult>> answered = answer->get_future();
  store->AcceptOrderAsync(MakeOrder("o1", "m1", "mo-1", 1000),
                          [answer](Result<AcceptResult> result) { answer->set_value(result); });
  ASSERT_TRUE(WaitForABlockedSession());
  lock.Run(
      "UPDATE merchants SET balance_fen = balance_fen + 1000 WHERE merchant_id = 'm1';"
      "INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, balance_after_fen, created_ms,"
      " note) SELECT merchant_id, NULL, 0, 1000, balance_fen, 1, 'wire' FROM merchants"
      " WHERE merchant_id = 'm1'");
  lock.Release();

  ASSERT_EQ(answered.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  Result<AcceptResult> accepted = answered.get();
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  EXPECT_TRUE(accepted->created);
  EXPECT_EQ(store->GetMerchant("m1")->balance_fen, 1500);
  Result<std::vector<LedgerEntry>> ledger = store->ListLedger("m1", 0, 10);
  ASSERT_TRUE(ledger.ok());
  ASSERT_EQ(ledger->size(), 3u);
  EXPECT_EQ(ledger->back().amount_fen, -1000);
  EXPECT_EQ(ledger->back().balance_after_fen, 1500);
  Result<LedgerAudit> audit = store->AuditLedger();
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  EXPECT_TRUE(audit->balanced) << audit->problems;
}

// A transition batch sends its statements and its COMMIT in one pipeline. When its connection
// dies before the COMMIT, each transition is answered: either applied (on its own, afterwards) or
// store_unavailable, and what the store holds agrees with every answer.
TEST_F(PostgresStoreTest, ATransitionBatchWhoseConnectionDiesMidPipelineAnswersEveryTransition) {
  std::unique_ptr<Store> store = Open(PostgresStoreOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m1", 5000, "", kT0Ms).ok());
  std::vector<Transition> batch;
  for (const char* id : {"o1", "o2", "o3"}) {
    Result<AcceptResult> accepted = store->AcceptOrder(MakeOrder(id, "m1", id));
    ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
    batch.push_back(StartAttempt(accepted->order, OrderStatus::kCharging, kT0Ms + 1));
  }

  TableLock lock(Connect(), "orders", "EXCLUSIVE");  // the batch's row locks wait
  std::vector<Result<bool>> results;
  std::thread applying([&] { results = store->ApplyTransitions(batch); });
  ASSERT_TRUE(WaitForABlockedSession());
  std::unique_ptr<postgres::PgConnection> killer = Connect();
  ASSERT_NE(killer, nullptr);
  postgres::PgResult killed = killer->ExecuteOnce(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE NOT granted AND pid <> "
      "pg_backend_pid()",
      postgres::Params());
  ASSERT_TRUE(killed.ok()) << killed.message();
  ASSERT_GE(killed.rows(), 1);
  lock.Release();
  applying.join();

  ASSERT_EQ(results.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string& id = batch[i].order_id;
    Result<Order> order = store->GetOrder(id);
    ASSERT_TRUE(order.ok()) << order.status().ToString();
    if (results[i].ok()) {
      EXPECT_TRUE(*results[i]) << id;
      EXPECT_EQ(order->status, OrderStatus::kCharging) << id;
      EXPECT_EQ(store->ListEvents(id)->size(), 2u) << id;
    } else {
      // Killed before its COMMIT: nothing of it is written, and it can be applied again.
      EXPECT_EQ(results[i].status().reason(), "store_unavailable") << id;
      EXPECT_EQ(order->status, OrderStatus::kAccepted) << id;
      EXPECT_EQ(store->ApplyTransition(batch[i]).value(), true) << id;
    }
  }
  Result<LedgerAudit> audit = store->AuditLedger();
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  EXPECT_TRUE(audit->balanced) << audit->problems;
}

TEST_F(PostgresStoreTest, TextPostgresCannotStoreIsRefusedInIdsAndCleanedInFreeText) {
  std::unique_ptr<Store> store = Open(PostgresStoreOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m1", "Shop", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m1", 5000, std::string("wire\0x", 6), kT0Ms).ok());
  EXPECT_EQ(store->ListLedger("m1", 0, 10)->at(0).note, "wire?x");
  EXPECT_EQ(store->CreateMerchant("m2", "bad \xff name", kT0Ms).reason(), "invalid_merchant_name");

  Order bad_phone = MakeOrder("o1", "m1", "mo-1");
  bad_phone.phone = "138\xff";
  Order nul_id = MakeOrder("o1", "m1", std::string("mo\0-1", 5));
  for (const Order& bad : {bad_phone, nul_id}) {
    EXPECT_EQ(store->AcceptOrder(bad).status().reason(), "invalid_order");
  }
  EXPECT_EQ(store->GetOrder("o\xff").status().reason(), "order_not_found");
  EXPECT_EQ(store->ListEvents(std::string("o\0", 2)).status().reason(), "order_not_found");

  // A supplier's reason with broken bytes must not strand the order: it is stored cleaned.
  Result<AcceptResult> accepted = store->AcceptOrder(MakeOrder("o1", "m1", "mo-1"));
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  Transition fail;
  fail.order_id = "o1";
  fail.from = OrderStatus::kAccepted;
  fail.to = OrderStatus::kFailed;
  fail.now_ms = kT0Ms + 1;
  fail.event_kind = "failed";
  fail.event_detail = "caf\xc3";
  fail.fail_reason = std::string("no\0pe \xe4\xbd\xa0", 9);
  ASSERT_EQ(store->ApplyTransition(fail).value(), true);
  Result<Order> failed = store->GetOrder("o1");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->fail_reason, "no?pe \xe4\xbd\xa0");
  EXPECT_EQ(store->ListEvents("o1")->back().detail, "caf?");
  EXPECT_EQ(store->GetMerchant("m1")->balance_fen, 5000);
}

}  // namespace
}  // namespace topup::store_conformance
