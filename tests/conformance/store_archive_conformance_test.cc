// The retention job (Store::ArchiveFinalOrders): what leaves the hot tables, what an archived
// order still answers, and that a crash between copying a batch and deleting it loses nothing.
// Runs on every backend that has an archive.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
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
  // finished after the cutoff; old-pending is old and final with its notification undelivered.
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
    EXPECT_EQ(audit->funded_fen, 100'000);
  }

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
  EXPECT_EQ(HotCount("notification_tries"), 0);
  EXPECT_EQ(HotCount("notifications"), 1);  // old-pending's

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

// A child process copies a batch into the archive and is SIGKILLed before it deletes the hot
// rows. The orders are then in both places; they are answered and counted once, and the next run
// finishes the move.
TEST_P(StoreArchiveTest, ACrashBetweenCopyAndDeleteLosesAndDuplicatesNothing) {
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
      << "the child was not killed between copy and delete (status " << wait_status << ")";
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

// PostgreSQL joins when its store has an archive (it answers FailedPrecondition today).
INSTANTIATE_TEST_SUITE_P(Backends, StoreArchiveTest, ::testing::Values("sqlite"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace topup::store_conformance
