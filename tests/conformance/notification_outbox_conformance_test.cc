// The notification outbox of the Store contract (topup/store.h), on every backend: a final
// transition of an order with a notify_url writes its notification in the same transaction;
// claims lease each row to one node at a time; tries are recorded; a crash loses nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store_backends.h"

namespace topup::store_conformance {
namespace {

using Attempt = Transition::Attempt;

constexpr char kUrl[] = "https://merchant.example/notify";

class OutboxConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<StoreBackend>> backend = MakeBackend(GetParam());
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreateMerchant("m1", "Merchant", kT0Ms).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 1'000'000, "opening", kT0Ms).ok());
  }

  std::unique_ptr<Store> OpenStore() {
    Result<std::unique_ptr<Store>> store = backend_->Open();
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  Order Accept(const std::string& id, const std::string& notify_url = kUrl) {
    Order order = MakeOrder(id, "m1", "mo-" + id, 1000);
    order.notify_url = notify_url;
    Result<AcceptResult> accepted = store_->AcceptOrder(order);
    EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
    return accepted.ok() ? accepted->order : Order();
  }

  // Accepted -> charging -> `to` at finished_ms.
  void Finish(const std::string& id, OrderStatus to, int64_t finished_ms) {
    Order order = store_->GetOrder(id).value();
    ASSERT_EQ(store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, finished_ms - 1))
                  .value(),
              true);
    order = store_->GetOrder(id).value();
    Transition end =
        Move(order, to, finished_ms, to == OrderStatus::kFailed ? Attempt::kClear : Attempt::kKeep,
             to == OrderStatus::kFailed ? "failed" : "succeeded");
    if (to == OrderStatus::kFailed) end.fail_reason = "supplier_failed";
    ASSERT_EQ(store_->ApplyTransition(end).value(), true);
  }

  std::vector<Notification> Notifications(const std::string& order_id) {
    Result<std::vector<Notification>> found = store_->ListNotifications(order_id);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : std::vector<Notification>{};
  }

  // The claimed rows, without their orders' fields.
  static std::vector<Notification> Claim(Store& store, const std::string& owner, int64_t now_ms,
                                         int64_t lease_ms, size_t limit) {
    Result<std::vector<ClaimedNotification>> claimed =
        store.ClaimNotifications(owner, now_ms, lease_ms, limit);
    EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
    std::vector<Notification> rows;
    if (claimed.ok()) {
      for (const ClaimedNotification& c : *claimed) rows.push_back(c.notification);
    }
    return rows;
  }

  NotificationOutcome Outcome(const Notification& n, const std::string& owner, int64_t at_ms,
                              int status, bool delivered, int64_t next_try_ms) {
    NotificationOutcome outcome;
    outcome.owner = owner;
    outcome.attempt.notification_id = n.notification_id;
    outcome.attempt.at_ms = at_ms;
    outcome.attempt.http_status = status;
    outcome.attempt.error = status == 0 ? "timeout" : "";
    outcome.attempt.latency_ms = 12;
    outcome.delivered = delivered;
    outcome.next_try_ms = next_try_ms;
    return outcome;
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_P(OutboxConformanceTest, AFinalTransitionWritesOneNotification) {
  Accept("o1");
  const int64_t finished_ms = kT0Ms + 500;
  // Open states write nothing.
  Order order = store_->GetOrder("o1").value();
  ASSERT_TRUE(
      store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1)).value());
  EXPECT_TRUE(Notifications("o1").empty());
  order = store_->GetOrder("o1").value();
  Transition success = Move(order, OrderStatus::kSuccess, finished_ms, Attempt::kKeep, "succeeded");
  success.supplier_ref = "ref-1";
  ASSERT_TRUE(store_->ApplyTransition(success).value());
  // Losing the compare-and-set again writes nothing more.
  EXPECT_FALSE(store_->ApplyTransition(success).value());

  std::vector<Notification> found = Notifications("o1");
  ASSERT_EQ(found.size(), 1u);
  const Notification& n = found[0];
  EXPECT_GT(n.notification_id, 0);
  EXPECT_EQ(n.order_id, "o1");
  EXPECT_EQ(n.merchant_id, "m1");
  EXPECT_EQ(n.notify_url, kUrl);
  EXPECT_EQ(n.order_status, OrderStatus::kSuccess);
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.schedule_start_ms, finished_ms);
  EXPECT_EQ(n.next_try_ms, finished_ms);
  EXPECT_EQ(n.tries, 0);
  EXPECT_EQ(n.delivered_ms, 0);
  EXPECT_EQ(n.lease_owner, "");
  EXPECT_EQ(n.created_ms, finished_ms);
  EXPECT_EQ(store_->GetNotification(n.notification_id)->order_id, "o1");
  EXPECT_EQ(store_->GetNotification(n.notification_id + 1000).status().reason(),
            "notification_not_found");
}

TEST_P(OutboxConformanceTest, FailedOrdersNotifyAndOrdersWithoutAUrlDoNot) {
  Accept("o1");
  Accept("o2", "");
  Finish("o1", OrderStatus::kFailed, kT0Ms + 10);
  Finish("o2", OrderStatus::kSuccess, kT0Ms + 10);
  std::vector<Notification> found = Notifications("o1");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].order_status, OrderStatus::kFailed);
  EXPECT_TRUE(Notifications("o2").empty());
  Result<NotificationCounts> counts = store_->CountNotifications();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[NotificationState::kPending], 1);
  EXPECT_EQ((*counts)[NotificationState::kDelivered], 0);
  EXPECT_EQ((*counts)[NotificationState::kGivenUp], 0);
}

TEST_P(OutboxConformanceTest, BatchedTransitionsWriteTheirNotificationsToo) {
  std::vector<Transition> batch;
  for (int i = 0; i < 20; ++i) {
    const std::string id = "b" + std::to_string(i);
    Accept(id);
    Order order = store_->GetOrder(id).value();
    ASSERT_TRUE(
        store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1)).value());
    order = store_->GetOrder(id).value();
    batch.push_back(i % 2 == 0
                        ? Move(order, OrderStatus::kSuccess, kT0Ms + 9, Attempt::kKeep, "succeeded")
                        : Move(order, OrderStatus::kFailed, kT0Ms + 9, Attempt::kClear, "failed"));
  }
  for (const Result<bool>& r : store_->ApplyTransitions(batch)) ASSERT_TRUE(r.value());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Notifications("b" + std::to_string(i)).size(), 1u) << i;
  }
  Result<LedgerAudit> audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
}

TEST_P(OutboxConformanceTest, ClaimsLeaseDueRowsToOneOwnerAtATime) {
  Accept("o1");
  Accept("o2");
  Finish("o1", OrderStatus::kSuccess, kT0Ms + 100);
  Finish("o2", OrderStatus::kSuccess, kT0Ms + 200);
  // Not due yet.
  EXPECT_TRUE(Claim(*store_, "a", kT0Ms + 50, 1000, 10).empty());
  std::vector<Notification> a = Claim(*store_, "a", kT0Ms + 150, 1000, 10);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].order_id, "o1");
  EXPECT_EQ(a[0].lease_owner, "a");
  EXPECT_EQ(a[0].lease_expires_ms, kT0Ms + 1150);
  std::unique_ptr<Store> other = OpenStore();
  std::vector<Notification> b = Claim(*other, "b", kT0Ms + 300, 1000, 10);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].order_id, "o2");
  // Once a's lease lapses (a died mid-delivery), b takes o1 over.
  b = Claim(*other, "b", kT0Ms + 1150, 1000, 10);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].order_id, "o1");
  // a's late outcome is recorded as a try but moves nothing.
  EXPECT_FALSE(
      store_->RecordNotificationTry(Outcome(a[0], "a", kT0Ms + 150, 200, true, 0)).value());
  Notification n = store_->GetNotification(a[0].notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.lease_owner, "b");
  EXPECT_EQ(store_->ListNotificationTries(n.notification_id)->size(), 1u);
  EXPECT_EQ(store_->ClaimNotifications("", kT0Ms, 1000, 10).status().reason(), "invalid_lease");
}

TEST_P(OutboxConformanceTest, TriesAreRecordedAndMoveTheRow) {
  Accept("o1");
  Finish("o1", OrderStatus::kSuccess, kT0Ms + 100);
  Notification n = Claim(*store_, "a", kT0Ms + 100, 1000, 10).at(0);
  // A 500: retried at +15 s.
  ASSERT_TRUE(
      store_->RecordNotificationTry(Outcome(n, "a", kT0Ms + 100, 500, false, kT0Ms + 15'100))
          .value());
  n = store_->GetNotification(n.notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.tries, 1);
  EXPECT_EQ(n.next_try_ms, kT0Ms + 15'100);
  EXPECT_EQ(n.lease_owner, "");
  EXPECT_TRUE(Claim(*store_, "a", kT0Ms + 15'000, 1000, 10).empty());
  n = Claim(*store_, "a", kT0Ms + 15'100, 1000, 10).at(0);
  // A 2xx delivers it.
  ASSERT_TRUE(store_->RecordNotificationTry(Outcome(n, "a", kT0Ms + 15'100, 204, true, 0)).value());
  n = store_->GetNotification(n.notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kDelivered);
  EXPECT_EQ(n.tries, 2);
  EXPECT_EQ(n.delivered_ms, kT0Ms + 15'112);
  EXPECT_TRUE(Claim(*store_, "a", kT0Ms + 99'999'999, 1000, 10).empty());

  std::vector<NotificationTry> tries = store_->ListNotificationTries(n.notification_id).value();
  ASSERT_EQ(tries.size(), 2u);
  EXPECT_EQ(tries[0].at_ms, kT0Ms + 100);
  EXPECT_EQ(tries[0].http_status, 500);
  EXPECT_EQ(tries[0].latency_ms, 12);
  EXPECT_EQ(tries[1].http_status, 204);
  NotificationOutcome unknown = Outcome(n, "a", kT0Ms, 200, true, 0);
  unknown.attempt.notification_id = n.notification_id + 99;
  EXPECT_EQ(store_->RecordNotificationTry(unknown).status().reason(), "notification_not_found");
}

// A claim brings what the notification's body needs, so a notifier reads nothing more.
TEST_P(OutboxConformanceTest, ClaimsCarryTheirOrdersFields) {
  Accept("o1");
  Accept("o2");
  Order order = store_->GetOrder("o1").value();
  ASSERT_TRUE(
      store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1)).value());
  order = store_->GetOrder("o1").value();
  Transition success = Move(order, OrderStatus::kSuccess, kT0Ms + 100, Attempt::kKeep, "succeeded");
  success.supplier_ref = "ref-1";
  ASSERT_TRUE(store_->ApplyTransition(success).value());
  Finish("o2", OrderStatus::kFailed, kT0Ms + 200);

  std::vector<ClaimedNotification> claimed =
      store_->ClaimNotifications("a", kT0Ms + 300, 1000, 10).value();
  ASSERT_EQ(claimed.size(), 2u);
  for (const ClaimedNotification& c : claimed) {
    const Order final_order = store_->GetOrder(c.notification.order_id).value();
    EXPECT_EQ(c.notification.order_status, final_order.status);
    EXPECT_EQ(c.notification.lease_owner, "a");
    EXPECT_EQ(c.order.merchant_order_id, final_order.merchant_order_id);
    EXPECT_EQ(c.order.face_value_yuan, final_order.face_value_yuan);
    EXPECT_EQ(c.order.price_fen, final_order.price_fen);
    EXPECT_EQ(c.order.created_ms, final_order.created_ms);
    EXPECT_EQ(c.order.finished_ms, final_order.finished_ms);
    EXPECT_EQ(c.order.supplier_ref, final_order.supplier_ref);
  }
  EXPECT_EQ(claimed[0].notification.order_id, "o1");
  EXPECT_EQ(claimed[0].order.merchant_order_id, "mo-o1");
  EXPECT_EQ(claimed[0].order.finished_ms, kT0Ms + 100);
  EXPECT_EQ(claimed[0].order.supplier_ref, "ref-1");
  EXPECT_EQ(claimed[1].notification.order_id, "o2");
  EXPECT_EQ(claimed[1].order.supplier_ref, "");
}

// One call records many tries, each as RecordNotificationTry would: delivered, retried, given
// up, a lease another owner took, and a notification that does not exist.
TEST_P(OutboxConformanceTest, ABatchRecordsEveryTryInOneCall) {
  for (const char* id : {"o1", "o2", "o3", "o4"}) {
    Accept(id);
    Finish(id, OrderStatus::kSuccess, kT0Ms + 100);
  }
  std::vector<Notification> mine = Claim(*store_, "a", kT0Ms + 100, 1000, 4);
  ASSERT_EQ(mine.size(), 4u);
  const Notification lost = mine[3];
  // a's leases lapse and b takes them all; it frees three and keeps `lost`.
  ASSERT_EQ(Claim(*store_, "b", kT0Ms + 1100, 1000, 10).size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        store_->RecordNotificationTry(Outcome(mine[i], "b", kT0Ms + 1100, 0, false, kT0Ms + 100))
            .value());
  }
  mine = Claim(*store_, "a", kT0Ms + 1200, 1000, 10);
  ASSERT_EQ(mine.size(), 3u);
  Notification unknown = lost;
  unknown.notification_id = lost.notification_id + 999;

  const std::vector<NotificationOutcome> outcomes = {
      Outcome(mine[0], "a", kT0Ms + 1200, 200, true, 0),
      Outcome(mine[1], "a", kT0Ms + 1200, 503, false, kT0Ms + 60'100),
      Outcome(mine[2], "a", kT0Ms + 1200, 0, false, 0),
      Outcome(lost, "a", kT0Ms + 1200, 200, true, 0),
      Outcome(unknown, "a", kT0Ms + 1200, 200, true, 0)};
  std::vector<TryRecorded> recorded = store_->RecordNotificationTries(outcomes).value();
  EXPECT_EQ(recorded,
            (std::vector<TryRecorded>{TryRecorded::kMoved, TryRecorded::kMoved, TryRecorded::kMoved,
                                      TryRecorded::kLeaseLost, TryRecorded::kNoSuchNotification}));
  Notification n = store_->GetNotification(mine[0].notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kDelivered);
  EXPECT_EQ(n.delivered_ms, kT0Ms + 1212);
  EXPECT_EQ(n.tries, 2);
  n = store_->GetNotification(mine[1].notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.next_try_ms, kT0Ms + 60'100);
  EXPECT_EQ(n.lease_owner, "");
  EXPECT_EQ(store_->GetNotification(mine[2].notification_id)->state, NotificationState::kGivenUp);
  n = store_->GetNotification(lost.notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.lease_owner, "b");
  // Every try is kept, the lost lease's too, with what the outcome said.
  for (const Notification& each : mine) {
    EXPECT_EQ(store_->ListNotificationTries(each.notification_id)->size(), 2u);
  }
  std::vector<NotificationTry> tries = store_->ListNotificationTries(lost.notification_id).value();
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].http_status, 200);
  EXPECT_EQ(tries[0].at_ms, kT0Ms + 1200);
  EXPECT_EQ(tries[0].latency_ms, 12);
  EXPECT_EQ(store_->ListNotificationTries(mine[1].notification_id)->at(1).http_status, 503);
  EXPECT_TRUE(store_->RecordNotificationTries({}).value().empty());
}

// A batch that names a notification twice, or has no owner, is refused whole.
TEST_P(OutboxConformanceTest, ABatchThatCannotBeRecordedWritesNothing) {
  Accept("o1");
  Accept("o2");
  Finish("o1", OrderStatus::kSuccess, kT0Ms + 100);
  Finish("o2", OrderStatus::kSuccess, kT0Ms + 100);
  std::vector<Notification> mine = Claim(*store_, "a", kT0Ms + 100, 1000, 10);
  ASSERT_EQ(mine.size(), 2u);
  const std::vector<NotificationOutcome> twice = {Outcome(mine[0], "a", kT0Ms + 100, 200, true, 0),
                                                  Outcome(mine[1], "a", kT0Ms + 100, 200, true, 0),
                                                  Outcome(mine[0], "a", kT0Ms + 110, 200, true, 0)};
  EXPECT_EQ(store_->RecordNotificationTries(twice).status().reason(), "invalid_outcome");
  const std::vector<NotificationOutcome> ownerless = {
      Outcome(mine[1], "", kT0Ms + 100, 200, true, 0)};
  EXPECT_EQ(store_->RecordNotificationTries(ownerless).status().reason(), "invalid_outcome");
  for (const Notification& each : mine) {
    EXPECT_TRUE(store_->ListNotificationTries(each.notification_id)->empty());
    EXPECT_EQ(store_->GetNotification(each.notification_id)->lease_owner, "a");
  }
}

TEST_P(OutboxConformanceTest, GivingUpAndResending) {
  Accept("o1");
  Finish("o1", OrderStatus::kSuccess, kT0Ms + 100);
  Notification n = Claim(*store_, "a", kT0Ms + 100, 1000, 10).at(0);
  ASSERT_TRUE(store_->RecordNotificationTry(Outcome(n, "a", kT0Ms + 100, 0, false, 0)).value());
  n = store_->GetNotification(n.notification_id).value();
  EXPECT_EQ(n.state, NotificationState::kGivenUp);
  EXPECT_TRUE(Claim(*store_, "a", kT0Ms + 99'999'999, 1000, 10).empty());

  Notification resent = store_->ResendNotification(n.notification_id, kT0Ms + 50'000).value();
  EXPECT_EQ(resent.state, NotificationState::kPending);
  EXPECT_EQ(resent.tries, 0);
  EXPECT_EQ(resent.schedule_start_ms, kT0Ms + 50'000);
  EXPECT_EQ(resent.next_try_ms, kT0Ms + 50'000);
  ASSERT_EQ(Claim(*store_, "a", kT0Ms + 50'000, 1000, 10).size(), 1u);
  EXPECT_EQ(store_->ResendNotification(n.notification_id + 7, kT0Ms).status().reason(),
            "notification_not_found");
  // The history keeps every try across the re-send.
  EXPECT_EQ(store_->ListNotificationTries(n.notification_id)->size(), 1u);
}

// The backlog the metrics show: pending rows and the oldest one's schedule start.
TEST_P(OutboxConformanceTest, TheOpenOrdersSummaryCountsThePendingBacklog) {
  Accept("o1");
  Accept("o2");
  Finish("o1", OrderStatus::kSuccess, kT0Ms + 100);
  Finish("o2", OrderStatus::kFailed, kT0Ms + 200);
  OpenOrdersSummary summary = store_->SummarizeOpenOrders(kT0Ms + 300).value();
  EXPECT_EQ(summary.notifications_pending, 2);
  EXPECT_EQ(summary.oldest_pending_notification_ms, kT0Ms + 100);
  Notification first = Claim(*store_, "a", kT0Ms + 300, 1000, 1).at(0);
  ASSERT_EQ(first.order_id, "o1");
  ASSERT_TRUE(
      store_->RecordNotificationTry(Outcome(first, "a", kT0Ms + 300, 200, true, 0)).value());
  summary = store_->SummarizeOpenOrders(kT0Ms + 400).value();
  EXPECT_EQ(summary.notifications_pending, 1);
  EXPECT_EQ(summary.oldest_pending_notification_ms, kT0Ms + 200);
  Notification second = Claim(*store_, "a", kT0Ms + 400, 1000, 1).at(0);
  ASSERT_TRUE(
      store_->RecordNotificationTry(Outcome(second, "a", kT0Ms + 400, 0, false, 0)).value());
  summary = store_->SummarizeOpenOrders(kT0Ms + 500).value();
  EXPECT_EQ(summary.notifications_pending, 0);  // given up is not pending
  EXPECT_EQ(summary.oldest_pending_notification_ms, 0);
}

TEST_P(OutboxConformanceTest, ConcurrentClaimsFromSeveralNodesNeverShareARow) {
  constexpr int kOrders = 60;
  for (int i = 0; i < kOrders; ++i) {
    Accept("o" + std::to_string(i));
    Finish("o" + std::to_string(i), OrderStatus::kSuccess, kT0Ms + 10);
  }
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(OpenStore());
  std::mutex mu;
  std::map<int64_t, int> claims;
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 20; ++round) {
        Result<std::vector<ClaimedNotification>> got =
            nodes[i]->ClaimNotifications("node" + std::to_string(i), kT0Ms + 20, 60'000, 3);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        std::lock_guard<std::mutex> lock(mu);
        for (const ClaimedNotification& c : *got) ++claims[c.notification.notification_id];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(claims.size(), static_cast<size_t>(kOrders));
  for (const auto& [id, count] : claims) EXPECT_EQ(count, 1) << id;
}

// A node killed (SIGKILL, store open) right after the final states committed, before any
// delivery, with one row claimed: the rows are there when the store comes back, due, and another
// node claims them.
TEST_P(OutboxConformanceTest, ACrashBetweenFinalityAndDeliveryLosesNothing) {
  store_.reset();
  Status crashed = backend_->CrashAfter([&]() -> Store* {
    store_ = OpenStore();
    if (store_ == nullptr) return nullptr;
    Accept("o1");
    Accept("o2");
    Finish("o1", OrderStatus::kSuccess, kT0Ms + 100);
    Finish("o2", OrderStatus::kFailed, kT0Ms + 100);
    Result<std::vector<ClaimedNotification>> claimed =
        store_->ClaimNotifications("dead", kT0Ms + 100, 5'000, 1);
    if (!claimed.ok() || claimed->size() != 1 || HasFailure()) return nullptr;
    return store_.get();
  });
  ASSERT_TRUE(crashed.ok()) << crashed.ToString();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Notifications("o1").size(), 1u);
  EXPECT_EQ(Notifications("o2").size(), 1u);
  std::vector<Notification> claimed = Claim(*store_, "alive", kT0Ms + 5'100, 5'000, 10);
  std::set<std::string> orders;
  for (const Notification& n : claimed) orders.insert(n.order_id);
  EXPECT_EQ(orders, (std::set<std::string>{"o1", "o2"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, OutboxConformanceTest, ::testing::ValuesIn(BackendNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace topup::store_conformance
