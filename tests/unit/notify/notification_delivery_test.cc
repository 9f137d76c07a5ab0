// The notifier's passes on their own: they never wait, every try goes through the injected
// sender, time comes only from the Clock, and the schedule (compressed by the test knob) decides
// when a row is due again.
#include "notify/notification_delivery.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "../store/store_test_util.h"
#include "auth/merchant_keys.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::notify {
namespace {

// Keeps every try; the test answers them.
class HeldSender final : public NotificationSender {
 public:
  void Send(NotificationRequest request, Done done) override {
    requests.push_back(std::move(request));
    pending.push_back(std::move(done));
  }
  std::vector<NotificationRequest> requests;
  std::vector<Done> pending;
};

http::HttpResponse Answered(int status) {
  http::HttpResponse response;
  response.status = status;
  return response;
}

class NotificationDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing_util::OpenOrDie(testing_util::OptionsFor(dir_.File("topup.db")));
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreateMerchant("m1", "Shop", clock_.NowMs()).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 1'000'000, "opening", clock_.NowMs()).ok());
    ASSERT_TRUE(auth::CreateMerchantKey(*store_, box_, "m1", clock_.NowMs()).ok());
  }
  void TearDown() override {
    delivery_.reset();
    store_.reset();
  }

  void Start(NotifierOptions options) {
    options.owner = "test-node";
    options.allow_private = true;
    delivery_ = std::make_unique<NotificationDelivery>(store_.get(), &clock_, &box_, &sender_,
                                                       options, [this] { ++wakes_; });
  }

  // A succeeded order of m1 whose notification is due now.
  void FinalOrder(const std::string& id) {
    const int64_t now_ms = clock_.NowMs();
    Order order = testing_util::MakeOrder(id, "m1", "mo-" + id, 1000, now_ms);
    ASSERT_TRUE(store_->AcceptOrder(order).ok());
    ASSERT_TRUE(
        store_->ApplyTransition(testing_util::StartAttempt(order, OrderStatus::kCharging, now_ms))
            .value());
    order = store_->GetOrder(id).value();
    ASSERT_TRUE(store_
                    ->ApplyTransition(testing_util::Move(order, OrderStatus::kSuccess, now_ms,
                                                         Transition::Attempt::kKeep, "final"))
                    .value());
  }

  Notification Only(const std::string& order_id) {
    std::vector<Notification> found = store_->ListNotifications(order_id).value();
    EXPECT_EQ(found.size(), 1u);
    return found.empty() ? Notification{} : found[0];
  }

  testing_util::ScopedTempDir dir_;
  FakeClock clock_{1'700'000'000'000};
  auth::SecretBox box_ = auth::SecretBox::Ephemeral();
  std::unique_ptr<Store> store_;
  HeldSender sender_;
  int wakes_ = 0;
  std::unique_ptr<NotificationDelivery> delivery_;
};

TEST_F(NotificationDeliveryTest, APassSendsWhatIsDueAndRecordsItsAnswerOnTheNext) {
  Start(NotifierOptions{.poll_interval_ms = 1'000});
  FinalOrder("o1");
  EXPECT_EQ(delivery_->DeliverOnce(), std::chrono::milliseconds(1'000));
  ASSERT_EQ(sender_.requests.size(), 1u);
  EXPECT_EQ(sender_.requests[0].target, "/notify");
  EXPECT_EQ(sender_.requests[0].timeout, std::chrono::milliseconds(5'000));
  EXPECT_EQ(delivery_->in_flight(), 1u);
  EXPECT_FALSE(delivery_->sender_idle());

  clock_.AdvanceMs(40);
  sender_.pending[0](Answered(204));
  EXPECT_EQ(wakes_, 1) << "a finished try asks for a pass";
  EXPECT_TRUE(delivery_->sender_idle());
  delivery_->DeliverOnce();
  EXPECT_EQ(delivery_->tries_recorded(), 1);
  EXPECT_EQ(delivery_->delivered(), 1);
  EXPECT_EQ(Only("o1").state, NotificationState::kDelivered);
  EXPECT_EQ(sender_.requests.size(), 1u) << "nothing more was due";
}

TEST_F(NotificationDeliveryTest, ATimeoutIsTriedAgainOnTheCompressedSchedule) {
  Start(NotifierOptions{.test_only_schedule_divisor = 60});
  FinalOrder("o1");
  const int64_t finished_ms = clock_.NowMs();
  delivery_->DeliverOnce();
  ASSERT_EQ(sender_.pending.size(), 1u);
  sender_.pending[0](DeadlineExceeded("timeout", "no answer"));
  delivery_->DeliverOnce();
  Notification n = Only("o1");
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.tries, 1);
  EXPECT_EQ(n.next_try_ms, finished_ms + 15'000 / 60);
  // Not due yet: a pass sends nothing.
  delivery_->DeliverOnce();
  EXPECT_EQ(sender_.requests.size(), 1u);
  clock_.AdvanceMs(15'000 / 60);
  delivery_->DeliverOnce();
  EXPECT_EQ(sender_.requests.size(), 2u);
}

TEST_F(NotificationDeliveryTest, FinishedTriesLingerWhileOthersAreOut) {
  Start(NotifierOptions{.max_in_flight = 4, .record_linger_ms = 20});
  FinalOrder("o1");
  FinalOrder("o2");
  delivery_->DeliverOnce();
  ASSERT_EQ(sender_.pending.size(), 2u);
  sender_.pending[0](Answered(200));
  EXPECT_EQ(delivery_->DeliverOnce(), std::chrono::milliseconds(20))
      << "rests until the linger ends";
  EXPECT_EQ(delivery_->tries_recorded(), 0);
  clock_.AdvanceMs(20);
  delivery_->DeliverOnce();
  EXPECT_EQ(delivery_->tries_recorded(), 1);
  sender_.pending[1](Answered(500));
  delivery_->DeliverOnce();
  EXPECT_EQ(delivery_->tries_recorded(), 2);
  EXPECT_EQ(delivery_->delivered(), 1);
}

// Found by `topup simulate` (seed 10): a row whose lease lapsed with its try still out (the clock
// jumped) was claimed and sent again by the same owner; both outcomes were recorded as moves
// planned from the same count of tries, so the next try came early by the schedule.
TEST_F(NotificationDeliveryTest, ARowClaimedAgainWhileItsTryIsOutIsNotSentTwice) {
  Start(NotifierOptions{.lease_ms = 30'000});
  FinalOrder("o1");
  const int64_t finished_ms = clock_.NowMs();
  delivery_->DeliverOnce();
  ASSERT_EQ(sender_.requests.size(), 1u);
  clock_.AdvanceMs(40'000);  // the lease lapses; the try is still out
  delivery_->DeliverOnce();
  EXPECT_EQ(sender_.requests.size(), 1u) << "sent twice at once";
  sender_.pending[0](DeadlineExceeded("timeout", "no answer"));
  delivery_->DeliverOnce();
  const Notification n = Only("o1");
  const std::vector<NotificationTry> tries =
      store_->ListNotificationTries(n.notification_id).value();
  EXPECT_EQ(tries.size(), 1u);
  EXPECT_EQ(n.tries, 1);
  EXPECT_EQ(tries[0].at_ms, finished_ms);
}

}  // namespace
}  // namespace topup::notify
