// The retention job (Store::ArchiveFinalOrders): what leaves the hot tables, what an archived
// order still answers and lists, that a crash in the middle of a batch loses and duplicates
// nothing, and that it runs while orders flow and on two nodes at once. Runs on every backend.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store_backends.h"

namespace topup::store_conformance {
namespace {

using Attempt = Transition::Attempt;

constexpr int64_t kCutoffMs = kT0Ms + 1'000'000;  // finished before this: old enough

class StoreArchiveTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<StoreBackend>> backend = MakeBackend(GetParam());
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
    Open();
    ASSERT_TRUE(store_->CreateMerchant("m1", "Merchant m1", kT0Ms).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 100'000, "opening", kT0Ms).ok());
  }

  void Open() {
    Result<std::unique_ptr<Store>> store = backend_->Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // An order accepted at kT0Ms, with no notify_url unless `notify`.
  void Accept(const std::string& id, bool notify = false) {
    Order order = MakeOrder(id, "m1", "mo-" + id, 1000);
    if (!notify) order.notify_url = "";
    Result<AcceptResult> accepted = store_->AcceptOrder(order);
    ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
    ASSERT_TRUE(accepted->created);
  }

  // Accepts `count` orders "<prefix>-<i>" at once and moves each to success, finished at kT0Ms
  // + 100: all archivable.
  void AcceptAndFinishOld(const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      const std::string id = prefix + "-" + std::to_string(i);
      Accept(id);
      Finish(id, OrderStatus::kSuccess, kT0Ms + 100);
    }
  }

  // An open order, accepted after all others: it owns the newest event, so every final order
  // may leave (SQLite keeps the owner of a table's newest row, whose id it would hand out again).
  void AcceptNewestOpenOrder() { Accept("newest-open"); }

  // Every order of the store, hot and archived, through ListOrders pages of `page` orders.
  std::vector<std::string> ListAll(size_t page) {
    std::vector<std::string> ids;
    std::string after;
    for (int pages = 0; pages < 10'000; ++pages) {
      Result<std::vector<Order>> orders = store_->ListOrders(after, page);
      EXPECT_TRUE(orders.ok()) << orders.status().ToString();
      if (!orders.ok() || orders->empty()) break;
      for (const Order& order : *orders) ids.push_back(order.order_id);
      after = ids.back();
    }
    return ids;
  }

  void Fund(int64_t amount_fen) {
    ASSERT_TRUE(store_->FundMerchant("m1", amount_fen, "more", kT0Ms).ok());
    funded_fen_ += amount_fen;
  }

  void Finish(const std::string& id, OrderStatus to, int64_t finished_ms) {
    Order order = store_->GetOrder(id).value();
    ASSERT_TRUE(
        store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, finished_ms - 1))
            .value());
    order = store_->GetOrder(id).value();
    Transition end =
        Move(order, to, finished_ms, to == OrderStatus::kFailed ? Attempt::kClear : Attempt::kKeep,
             to == OrderStatus::kFailed ? "failed" : "succeeded");
    if (to == OrderStatus::kFailed) end.fail_reason = "supplier_failed";
    ASSERT_TRUE(store_->ApplyTransition(end).value());
  }

  // Delivers every pending notification with one try.
  void DeliverNotifications(int64_t now_ms) {
    Result<std::vector<ClaimedNotification>> claimed =
        store_->ClaimNotifications("notifier", now_ms, 10'000, 100);
    ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
    std::vector<NotificationOutcome> outcomes;
    for (const ClaimedNotification& c : *claimed) {
      NotificationOutcome& outcome = outcomes.emplace_back();
      outcome.owner = "notifier";
      outcome.attempt.notification_id = c.notification.notification_id;
      outcome.attempt.at_ms = now_ms;
      outcome.attempt.http_status = 200;
      outcome.attempt.latency_ms = 5;
      outcome.delivered = true;
    }
    ASSERT_TRUE(store_->RecordNotificationTries(outcomes).ok());
  }

  // old-ok and old-failed (notified and delivered) are old and final; open is open; young
  // finished after the cutoff; old-pending is old and final with its notification undelivered
  // (tried once, last of all, and due again later).
  void MakeOrders() {
    Accept("old-ok", /*notify=*/true);
    Accept("old-failed");
    Accept("open");
    Accept("young");
    Finish("old-ok", OrderStatus::kSuccess, kT0Ms + 10);
    Finish("old-failed", OrderStatus::kFailed, kT0Ms + 20);
    Finish("young", OrderStatus::kSuccess, kCutoffMs + 10);
    DeliverNotifications(kT0Ms + 30);
    Accept("old-pending", /*notify=*/true);
    Finish("old-pending", OrderStatus::kSuccess, kT0Ms + 40);
    Result<std::vector<ClaimedNotification>> claimed =
        store_->ClaimNotifications("notifier", kT0Ms + 50, 10'000, 100);
    ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
    ASSERT_EQ(claimed->size(), 1u);
    NotificationOutcome retry;
    retry.owner = "notifier";
    retry.attempt.notification_id = claimed->at(0).notification.notification_id;
    retry.attempt.at_ms = kT0Ms + 50;
    retry.attempt.error = "timeout";
    retry.next_try_ms = kCutoffMs * 2;
    ASSERT_TRUE(store_->RecordNotificationTry(retry).ok());
  }

  ArchiveReport Archive(size_t batch = 5000) {
    ArchiveRequest request;
    request.finished_before_ms = kCutoffMs;
    request.batch_orders = batch;
    Result<ArchiveReport> report = store_->ArchiveFinalOrders(request);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : ArchiveReport{};
  }

  int64_t HotCount(const std::string& table_and_condition) {
    Result<int64_t> n = backend_->QueryInt("SELECT count(*) FROM " + table_and_condition);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }

  void ExpectBalanced() {
    Result<LedgerAudit> audit = store_->AuditLedger();
    ASSERT_TRUE(audit.ok()) << audit.status().ToString();
    EXPECT_TRUE(audit->balanced) << audit->problems;
    EXPECT_EQ(audit->merchants, 1);
    EXPECT_EQ(audit->funded_fen, funded_fen_);
  }

  int64_t funded_fen_ = 100'000;
  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreArchiveTest, MovesExactlyTheOldFinalOrdersWithTheirRows) {
  MakeOrders();
  const std::vector<OrderEvent> events_before = store_->ListEvents("old-ok").value();
  const Order before = store_->GetOrder("old-ok").value();
  const std::vector<LedgerEntry> ledger_before = store_->ListLedger("m1", 0, 100).value();

  ArchiveReport report = Archive();
  EXPECT_EQ(report.orders, 2);
  EXPECT_EQ(report.batches, 1);

  // What is left in the hot tables: the open, the young and the one still to notify.
  EXPECT_EQ(HotCount("orders"), 3);
  EXPECT_EQ(HotCount("orders WHERE order_id IN ('open', 'young', 'old-pending')"), 3);
  EXPECT_EQ(HotCount("order_events WHERE order_id IN ('old-ok', 'old-failed')"), 0);
  EXPECT_EQ(HotCount("notifications WHERE order_id = 'old-ok'"), 0);
  EXPECT_EQ(HotCount("notification_tries"), 1);  // old-pending's
  EXPECT_EQ(HotCount("notifications"), 1);

  // An archived order still answers, as it was.
  Result<Order> after = store_->GetOrder("old-ok");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->status, OrderStatus::kSuccess);
  EXPECT_EQ(after->finished_ms, before.finished_ms);
  EXPECT_EQ(after->supplier_order_id, before.supplier_order_id);
  std::vector<OrderEvent> events_after = store_->ListEvents("old-ok").value();
  ASSERT_EQ(events_after.size(), events_before.size());
  for (size_t i = 0; i < events_after.size(); ++i) {
    EXPECT_EQ(events_after[i].event_id, events_before[i].event_id);
    EXPECT_EQ(events_after[i].kind, events_before[i].kind);
  }
  EXPECT_EQ(store_->FindOrderByMerchantOrderId("m1", "mo-old-failed")->order_id, "old-failed");
  EXPECT_EQ(store_->GetOrder("nothing").status().reason(), "order_not_found");

  // The ledger stays whole and balanced.
  EXPECT_EQ(store_->ListLedger("m1", 0, 100).value().size(), ledger_before.size());
  ExpectBalanced();
}

TEST_P(StoreArchiveTest, RunsInBoundedBatchesAndAgainWithoutChange) {
  MakeOrders();
  ArchiveReport first = Archive(/*batch=*/1);
  EXPECT_EQ(first.orders, 2);
  EXPECT_EQ(first.batches, 2);
  ArchiveReport again = Archive(/*batch=*/1);
  EXPECT_EQ(again.orders, 0);
  EXPECT_EQ(again.batches, 0);
  EXPECT_EQ(HotCount("orders"), 3);
  EXPECT_EQ(store_->ListEvents("old-failed").value().size(), 3u);
  ExpectBalanced();
}

TEST_P(StoreArchiveTest, ARepeatedMerchantOrderIdIsAnsweredAsBeforeAndNotDebitedAgain) {
  MakeOrders();
  ASSERT_EQ(Archive().orders, 2);
  const int64_t balance = store_->GetMerchant("m1")->balance_fen;

  Order retry = MakeOrder("retry-id", "m1", "mo-old-ok", 1000);
  Result<AcceptResult> answer = store_->AcceptOrder(retry);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_FALSE(answer->created);
  EXPECT_EQ(answer->order.order_id, "old-ok");
  EXPECT_EQ(answer->order.status, OrderStatus::kSuccess);

  Order different = retry;
  different.phone = "13900139000";
  EXPECT_EQ(store_->AcceptOrder(different).status().reason(), "merchant_order_id_conflict");

  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, balance);
  EXPECT_EQ(store_->GetOrder("retry-id").status().reason(), "order_not_found");
  ExpectBalanced();
}

TEST_P(StoreArchiveTest, RefusesABadRequest) {
  ArchiveRequest request;
  request.finished_before_ms = kCutoffMs;
  request.batch_orders = 0;
  EXPECT_EQ(store_->ArchiveFinalOrders(request).status().reason(), "invalid_archive_request");
  request.batch_orders = 10;
  request.finished_before_ms = 0;
  EXPECT_EQ(store_->ArchiveFinalOrders(request).status().reason(), "invalid_archive_request");
}

// A child process is SIGKILLed in the middle of a batch, once its rows are written to the archive
// and before they are gone from the hot tables for good: on SQLite the copy is committed and the
// hot rows still there, so the orders are in both places; on PostgreSQL the batch's transaction is
// cut short and rolled back. Either way they are answered and counted once, and the next run
// moves them.
TEST_P(StoreArchiveTest, ACrashInTheMiddleOfABatchLosesAndDuplicatesNothing) {
  MakeOrders();
  const size_t events_before = store_->ListEvents("old-ok").value().size();
  store_.reset();

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<std::unique_ptr<Store>> store = backend_->Open();
    if (!store.ok()) _exit(1);
    ArchiveRequest request;
    request.finished_before_ms = kCutoffMs;
    request.batch_orders = 5000;
    request.on_batch_copied = [](size_t) { raise(SIGKILL); };
    (void)(*store)->ArchiveFinalOrders(request);
    _exit(2);  // not reached when a batch was copied
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
      << "the child was not killed in the middle of a batch (status " << wait_status << ")";
  ASSERT_TRUE(backend_->DatabaseServerCrash().ok());

  Open();
  EXPECT_EQ(HotCount("orders"), 5);  // nothing left the hot tables
  EXPECT_EQ(store_->GetOrder("old-ok")->status, OrderStatus::kSuccess);
  EXPECT_EQ(store_->ListEvents("old-ok").value().size(), events_before);
  ExpectBalanced();

  ArchiveReport report = Archive();
  EXPECT_EQ(report.orders, 2);
  EXPECT_EQ(HotCount("orders"), 3);
  EXPECT_EQ(store_->GetOrder("old-ok")->status, OrderStatus::kSuccess);
  EXPECT_EQ(store_->ListEvents("old-ok").value().size(), events_before);
  EXPECT_FALSE(store_->AcceptOrder(MakeOrder("again", "m1", "mo-old-ok", 1000))->created);
  ExpectBalanced();
}

TEST_P(StoreArchiveTest, ListingsShowArchivedOrdersUnderTheSameCursor) {
  MakeOrders();
  const std::vector<std::string> before = ListAll(2);
  ASSERT_EQ(before.size(), 5u);
  ASSERT_EQ(Archive().orders, 2);
  EXPECT_EQ(ListAll(2), before);
  EXPECT_EQ(ListAll(1000), before);

  OrderFilter succeeded;
  succeeded.merchant_id = "m1";
  succeeded.status = OrderStatus::kSuccess;
  std::vector<std::string> found;
  const std::vector<Order> orders = store_->FindOrders(succeeded).value();
  for (const Order& order : orders) found.push_back(order.order_id);
  EXPECT_EQ(found, (std::vector<std::string>{"old-ok", "old-pending", "young"}));
  succeeded.after_order_id = "old-ok";
  succeeded.limit = 1;
  ASSERT_EQ(store_->FindOrders(succeeded)->size(), 1u);
  EXPECT_EQ(store_->FindOrders(succeeded)->at(0).order_id, "old-pending");

  // The counts are of every order, archived or not.
  OrderCounts counts = store_->CountOrders().value();
  EXPECT_EQ(counts[OrderStatus::kSuccess], 3);  // old-ok (archived), young and old-pending
  EXPECT_EQ(counts[OrderStatus::kFailed], 1);   // old-failed (archived)
}

// A retried request for an archived order through the batched accept path.
TEST_P(StoreArchiveTest, ARepeatedMerchantOrderIdOfAnArchivedOrderIsAnsweredAsBeforeWhenBatched) {
  MakeOrders();
  ASSERT_EQ(Archive().orders, 2);
  const int64_t balance = store_->GetMerchant("m1")->balance_fen;
  std::vector<std::future<Result<AcceptResult>>> answers;
  for (const std::string mo : {"mo-old-ok", "mo-old-failed", "mo-old-ok"}) {
    auto answer = std::make_shared<std::promise<Result<AcceptResult>>>();
    answers.push_back(answer->get_future());
    Order retry = MakeOrder("retry-" + std::to_string(answers.size()), "m1", mo, 1000);
    if (mo == "mo-old-failed") retry.notify_url = "";
    store_->AcceptOrderAsync(retry,
                             [answer](Result<AcceptResult> r) { answer->set_value(std::move(r)); });
  }
  const char* expected[] = {"old-ok", "old-failed", "old-ok"};
  for (size_t i = 0; i < answers.size(); ++i) {
    Result<AcceptResult> answer = answers[i].get();
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_FALSE(answer->created);
    EXPECT_EQ(answer->order.order_id, expected[i]);
  }
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, balance);
  ExpectBalanced();
}

// One thread accepts orders and finishes them (each archivable as soon as it is final) while
// another archives, in small batches, again and again. Every order is then answered, listed once
// and counted once by the audit, and the orders that left are exactly those the runs reported.
TEST_P(StoreArchiveTest, ArchivesWhileOrdersFlow) {
  constexpr int kOrders = 300;
  Fund(kOrders * 1000);
  std::atomic<bool> flowing{true};
  int64_t moved = 0;
  std::thread archiver([&] {
    for (int run = 0; run < 100'000 && flowing.load(); ++run) {
      ArchiveRequest request;
      request.finished_before_ms = kCutoffMs;
      request.batch_orders = 7;
      Result<ArchiveReport> report = store_->ArchiveFinalOrders(request);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      moved += report->orders;
    }
  });
  const auto started = std::chrono::steady_clock::now();
  AcceptAndFinishOld("flow", kOrders);
  const auto took = std::chrono::steady_clock::now() - started;
  flowing = false;
  archiver.join();
  ASSERT_LT(took, std::chrono::seconds(120));
  AcceptNewestOpenOrder();
  moved += Archive(/*batch=*/7).orders;

  EXPECT_EQ(moved, kOrders);
  EXPECT_EQ(HotCount("orders WHERE order_id LIKE 'flow-%'"), 0);
  const std::vector<std::string> listed = ListAll(50);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), listed.size());
  EXPECT_EQ(listed.size(), static_cast<size_t>(kOrders) + 1);
  for (int i = 0; i < kOrders; i += 37) {
    const std::string id = "flow-" + std::to_string(i);
    Result<Order> order = store_->GetOrder(id);
    ASSERT_TRUE(order.ok()) << id << ": " << order.status().ToString();
    EXPECT_EQ(order->status, OrderStatus::kSuccess) << id;
    Result<Order> found = store_->FindOrderByMerchantOrderId("m1", "mo-" + id);
    ASSERT_TRUE(found.ok()) << id << ": " << found.status().ToString();
    EXPECT_EQ(found->order_id, id);
    Result<std::vector<OrderEvent>> events = store_->ListEvents(id);
    ASSERT_TRUE(events.ok()) << id << ": " << events.status().ToString();
    EXPECT_EQ(events->size(), 3u) << id;
  }
  ExpectBalanced();
}

// Two nodes run the job at once on the same orders: each order leaves once, whichever node moves
// it, and the two reports add up to the orders there were to move.
TEST_P(StoreArchiveTest, TwoArchiversAtOnceMoveEachOrderOnce) {
  constexpr int kOrders = 200;
  Fund(kOrders * 1000);
  AcceptAndFinishOld("both", kOrders);
  AcceptNewestOpenOrder();
  Result<std::unique_ptr<Store>> other = backend_->Open();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  Store* stores[] = {store_.get(), other->get()};
  int64_t moved[2] = {0, 0};
  std::vector<std::thread> archivers;
  for (int n = 0; n < 2; ++n) {
    archivers.emplace_back([&, n] {
      // Each runs until a run finds nothing it can move: the other may hold the rest for a while.
      for (int run = 0; run < 1'000; ++run) {
        ArchiveRequest request;
        request.finished_before_ms = kCutoffMs;
        request.batch_orders = 9;
        Result<ArchiveReport> report = stores[n]->ArchiveFinalOrders(request);
        ASSERT_TRUE(report.ok()) << report.status().ToString();
        moved[n] += report->orders;
        if (report->orders == 0) break;
      }
    });
  }
  for (std::thread& archiver : archivers) archiver.join();
  moved[0] += Archive().orders;  // what both passed over while the other held it

  EXPECT_EQ(moved[0] + moved[1], kOrders);
  EXPECT_EQ(HotCount("orders"), 1);
  const std::vector<std::string> listed = ListAll(64);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(),
            static_cast<size_t>(kOrders) + 1);
  EXPECT_EQ(listed.size(), static_cast<size_t>(kOrders) + 1);
  ExpectBalanced();
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreArchiveTest, ::testing::ValuesIn(BackendNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace topup::store_conformance
