// The notifier against a real SQLite store and a local receiver: signed bodies, acknowledgement,
// the retry schedule, giving up, re-sending, slow and silent receivers, the address guard at
// connect time, and HTTPS with a private CA.
#include "notify/notifier.h"

#include <gtest/gtest.h>
#include <netdb.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <mutex>
#include <thread>

#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "http/private_ca.h"
#include "notify/retry_schedule.h"
#include "notify_receiver.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::notify {
namespace {

using namespace std::chrono_literals;
using testing::Answer;
using testing::NotifyReceiver;

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-notify-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Result<std::unique_ptr<Store>> store =
        OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "topup.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_TRUE(store_->CreateMerchant("m1", "Shop", clock_.NowMs()).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 1'000'000, "opening", clock_.NowMs()).ok());
    Result<auth::NewMerchantKey> key = auth::CreateMerchantKey(*store_, box_, "m1", clock_.NowMs());
    ASSERT_TRUE(key.ok());
    key_ = *key;
  }
  void TearDown() override {
    notifier_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartNotifier(NotifierOptions options = {}) {
    options.owner = "test-node";
    options.poll_interval_ms = 20;
    options.on_try = [this](const TryReport& report) {
      std::lock_guard lock(reports_mu_);
      reports_.push_back(report);
    };
    notifier_ = std::make_unique<Notifier>(store_.get(), &clock_, &box_, options);
  }

  // The outcomes told to on_try so far, in order.
  std::vector<std::string> Outcomes() {
    std::lock_guard lock(reports_mu_);
    std::vector<std::string> outcomes;
    for (const TryReport& report : reports_) outcomes.emplace_back(report.outcome);
    return outcomes;
  }
  std::vector<TryReport> Reports() {
    std::lock_guard lock(reports_mu_);
    return reports_;
  }

  // An order of m1 with `url`, accepted and then made final (success with a reference).
  std::string FinalOrder(const std::string& id, const std::string& url,
                         OrderStatus to = OrderStatus::kSuccess) {
    const int64_t now_ms = clock_.NowMs();
    Order order;
    order.order_id = id;
    order.merchant_id = "m1";
    order.merchant_order_id = "mo-" + id;
    order.phone = "13800138000";
    order.carrier = Carrier::kChinaMobile;
    order.face_value_yuan = 10;
    order.price_fen = 1000;
    order.notify_url = url;
    order.created_ms = now_ms;
    order.deadline_ms = now_ms + 180'000;
    order.updated_ms = now_ms;
    order.next_check_ms = now_ms;
    EXPECT_TRUE(store_->AcceptOrder(order).ok());
    Transition start;
    start.order_id = id;
    start.to = OrderStatus::kCharging;
    start.now_ms = now_ms;
    start.attempt = Transition::Attempt::kStart;
    start.supplier_order_id = SupplierOrderId(id, 1);
    start.channel = "sim";
    start.event_kind = "attempt_started";
    EXPECT_TRUE(store_->ApplyTransition(start).value());
    Transition end;
    end.order_id = id;
    end.from = OrderStatus::kCharging;
    end.from_attempt_count = 1;
    end.to = to;
    end.now_ms = now_ms;
    end.attempt =
        to == OrderStatus::kFailed ? Transition::Attempt::kClear : Transition::Attempt::kKeep;
    end.supplier_ref = to == OrderStatus::kSuccess ? "ref-" + id : "";
    end.fail_reason = to == OrderStatus::kFailed ? "supplier_failed" : "";
    end.event_kind = "final";
    EXPECT_TRUE(store_->ApplyTransition(end).value());
    return id;
  }

  Notification Only(const std::string& order_id) {
    std::vector<Notification> found = store_->ListNotifications(order_id).value();
    EXPECT_EQ(found.size(), 1u);
    return found.empty() ? Notification{} : found[0];
  }

  // Waits (bounded) until the order's notification satisfies `done`.
  bool WaitUntil(const std::string& order_id, const std::function<bool(const Notification&)>& done,
                 std::chrono::milliseconds timeout = 10s) {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < give_up) {
      if (done(Only(order_id))) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  bool WaitForTries(const std::string& order_id, int tries) {
    return WaitUntil(order_id, [tries](const Notification& n) { return n.tries >= tries; });
  }

  std::string Url(uint16_t port, const std::string& host = "127.0.0.1") {
    return "http://" + host + ":" + std::to_string(port) + "/notify?shop=1";
  }

  std::filesystem::path dir_;
  FakeClock clock_{SystemClock()->NowMs()};
  auth::SecretBox box_ = auth::SecretBox::Ephemeral();
  auth::NewMerchantKey key_;
  std::unique_ptr<Store> store_;
  std::mutex reports_mu_;
  std::vector<TryReport> reports_;  // GUARDED_BY(reports_mu_)
  std::unique_ptr<Notifier> notifier_;
};

TEST(RetryScheduleTest, FollowsTheOffsetsThenGivesUp) {
  const int64_t start_ms = 1'000'000;
  EXPECT_EQ(NextTryMs(start_ms, 1, start_ms), start_ms + 15'000);
  EXPECT_EQ(NextTryMs(start_ms, 2, start_ms), start_ms + 60'000);
  EXPECT_EQ(NextTryMs(start_ms, 3, start_ms), start_ms + 300'000);
  EXPECT_EQ(NextTryMs(start_ms, 4, start_ms), start_ms + 1'800'000);
  EXPECT_EQ(NextTryMs(start_ms, 5, start_ms), start_ms + 7'200'000);
  EXPECT_EQ(NextTryMs(start_ms, 6, start_ms), start_ms + 21'600'000);
  EXPECT_EQ(NextTryMs(start_ms, 7, start_ms), 0);
  // Late: at once, not before now.
  EXPECT_EQ(NextTryMs(start_ms, 1, start_ms + 99'000), start_ms + 99'000);
}

TEST_F(NotifierTest, DeliversASignedBodyAndA2xxAcknowledges) {
  NotifyReceiver receiver([](int) { return Answer{204}; });
  StartNotifier(NotifierOptions{.allow_private = true});
  FinalOrder("o1", Url(receiver.port()));
  ASSERT_TRUE(WaitUntil(
      "o1", [](const Notification& n) { return n.state == NotificationState::kDelivered; }));
  ASSERT_EQ(receiver.WaitForRequests(1, 1s), 1u);
  const testing::ReceivedRequest request = receiver.requests()[0];
  EXPECT_EQ(request.target, "/notify?shop=1");

  // The merchant verifies it with the secret it holds, as the server verifies its requests.
  EXPECT_EQ(request.headers.at("x-topup-key"), key_.key_id);
  const std::string signature = auth::RequestSignature(
      key_.secret, "POST", request.target, request.headers.at("x-topup-timestamp"),
      request.headers.at("x-topup-nonce"), request.body);
  EXPECT_EQ(request.headers.at("x-topup-signature"), signature);

  boost::json::object body = boost::json::parse(request.body).as_object();
  EXPECT_EQ(body.at("order_id").as_string(), "o1");
  EXPECT_EQ(body.at("merchant_order_id").as_string(), "mo-o1");
  EXPECT_EQ(body.at("status").as_string(), "success");
  EXPECT_EQ(body.at("face_value").as_int64(), 10);
  EXPECT_EQ(body.at("price_fen").as_int64(), 1000);
  EXPECT_EQ(body.at("supplier_ref").as_string(), "ref-o1");
  EXPECT_TRUE(body.contains("created_at"));
  EXPECT_TRUE(body.contains("finished_at"));

  std::vector<NotificationTry> tries =
      store_->ListNotificationTries(Only("o1").notification_id).value();
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].http_status, 204);
  EXPECT_EQ(tries[0].error, "");
}

TEST_F(NotifierTest, AFailedOrderNotifiesWithoutASupplierRef) {
  NotifyReceiver receiver([](int) { return Answer{200}; });
  StartNotifier(NotifierOptions{.allow_private = true});
  FinalOrder("o1", Url(receiver.port()), OrderStatus::kFailed);
  ASSERT_EQ(receiver.WaitForRequests(1, 10s), 1u);
  boost::json::object body = boost::json::parse(receiver.requests()[0].body).as_object();
  EXPECT_EQ(body.at("status").as_string(), "failed");
  EXPECT_FALSE(body.contains("supplier_ref"));
}

TEST_F(NotifierTest, RetriesOnTheScheduleUntilA2xx) {
  // 500, then a 302 (not 2xx), then 200.
  NotifyReceiver receiver([](int i) { return Answer{i == 0 ? 500 : i == 1 ? 302 : 200}; });
  StartNotifier(NotifierOptions{.allow_private = true});
  const int64_t finished_ms = clock_.NowMs();
  FinalOrder("o1", Url(receiver.port()));
  ASSERT_TRUE(WaitForTries("o1", 1));
  Notification n = Only("o1");
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.next_try_ms, finished_ms + 15'000);
  // Nothing more before it is due.
  clock_.AdvanceMs(14'000);
  notifier_->Wake();
  EXPECT_EQ(receiver.WaitForRequests(2, 300ms), 1u);
  clock_.AdvanceMs(1'000);
  notifier_->Wake();
  ASSERT_TRUE(WaitForTries("o1", 2));
  EXPECT_EQ(Only("o1").next_try_ms, finished_ms + 60'000);
  clock_.AdvanceMs(45'000);
  notifier_->Wake();
  ASSERT_TRUE(WaitUntil(
      "o1", [](const Notification& n) { return n.state == NotificationState::kDelivered; }));
  std::vector<NotificationTry> tries = store_->ListNotificationTries(n.notification_id).value();
  ASSERT_EQ(tries.size(), 3u);
  EXPECT_EQ(tries[0].http_status, 500);
  EXPECT_EQ(tries[1].http_status, 302);
  EXPECT_EQ(tries[2].http_status, 200);
  EXPECT_EQ(tries[1].at_ms, finished_ms + 15'000);
  // For the metrics: two failed tries, then the acknowledgement a minute after finality.
  EXPECT_EQ(Outcomes(), (std::vector<std::string>{"failed", "failed", "acknowledged"}));
  const std::vector<TryReport> reports = Reports();
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[2].delivered_after_ms, 60'000);
  EXPECT_FALSE(reports[0].gave_up || reports[1].gave_up || reports[2].gave_up);
}

TEST_F(NotifierTest, GivesUpAfterTheLastTryAndAReSendStartsAgain) {
  std::atomic<bool> healthy{false};
  NotifyReceiver receiver([&](int) { return Answer{healthy ? 200 : 503}; });
  StartNotifier(NotifierOptions{.allow_private = true});
  const int64_t finished_ms = clock_.NowMs();
  FinalOrder("o1", Url(receiver.port()));
  for (int tries = 1; tries <= 7; ++tries) {
    ASSERT_TRUE(WaitForTries("o1", tries)) << tries;
    if (tries < 7) {
      clock_.SetMs(finished_ms + kTryOffsetsMs[static_cast<size_t>(tries)]);
      notifier_->Wake();
    }
  }
  Notification n = Only("o1");
  EXPECT_EQ(n.state, NotificationState::kGivenUp);
  EXPECT_EQ(n.tries, 7);
  {
    const std::vector<TryReport> reports = Reports();
    ASSERT_EQ(reports.size(), 7u);
    for (size_t i = 0; i < 6; ++i) EXPECT_FALSE(reports[i].gave_up) << i;
    EXPECT_TRUE(reports[6].gave_up);
  }
  EXPECT_EQ(receiver.requests().size(), 7u);
  clock_.AdvanceMs(86'400'000);
  notifier_->Wake();
  EXPECT_EQ(receiver.WaitForRequests(8, 300ms), 7u);  // no eighth try

  healthy = true;
  ASSERT_TRUE(store_->ResendNotification(n.notification_id, clock_.NowMs()).ok());
  notifier_->Wake();
  ASSERT_TRUE(WaitUntil(
      "o1", [](const Notification& n) { return n.state == NotificationState::kDelivered; }));
  EXPECT_EQ(store_->ListNotificationTries(n.notification_id)->size(), 8u);
}

TEST_F(NotifierTest, ASlowReceiverWithinTheTimeoutAcknowledges) {
  NotifyReceiver receiver([](int) { return Answer{200, 700ms}; });
  clock_.SetMs(SystemClock()->NowMs());
  StartNotifier(NotifierOptions{.allow_private = true});
  FinalOrder("o1", Url(receiver.port()));
  ASSERT_TRUE(WaitUntil(
      "o1", [](const Notification& n) { return n.state == NotificationState::kDelivered; }));
}

TEST_F(NotifierTest, ANeverAnsweringReceiverTimesOutAndIsTriedAgainLater) {
  NotifyReceiver receiver([](int i) { return i == 0 ? Answer{200, -1ms} : Answer{200}; });
  StartNotifier(NotifierOptions{.try_timeout_ms = 300, .allow_private = true});
  const int64_t finished_ms = clock_.NowMs();
  FinalOrder("o1", Url(receiver.port()));
  ASSERT_TRUE(WaitForTries("o1", 1));
  Notification n = Only("o1");
  EXPECT_EQ(n.state, NotificationState::kPending);
  EXPECT_EQ(n.next_try_ms, finished_ms + 15'000);
  std::vector<NotificationTry> tries = store_->ListNotificationTries(n.notification_id).value();
  ASSERT_EQ(tries.size(), 1u);
  EXPECT_EQ(tries[0].http_status, 0);
  EXPECT_NE(tries[0].error.find("timeout"), std::string::npos) << tries[0].error;
  clock_.AdvanceMs(15'000);
  notifier_->Wake();
  ASSERT_TRUE(WaitUntil(
      "o1", [](const Notification& n) { return n.state == NotificationState::kDelivered; }));
  EXPECT_EQ(Outcomes(), (std::vector<std::string>{"timeout", "acknowledged"}));
}

TEST_F(NotifierTest, RefusesPrivateAddressesAtConnectTime) {
  NotifyReceiver receiver([](int) { return Answer{200}; });
  // A name that is not obviously local but resolves to loopback: this machine's own name.
  char name[256] = {};
  ASSERT_EQ(gethostname(name, sizeof name - 1), 0);
  addrinfo* found = nullptr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  if (getaddrinfo(name, nullptr, &hints, &found) != 0 || found == nullptr) {
    GTEST_SKIP() << "this machine's name does not resolve";
  }
  char text[64] = {};
  getnameinfo(found->ai_addr, found->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST);
  freeaddrinfo(found);
  if (std::string(text).rfind("127.", 0) != 0) GTEST_SKIP() << "its name resolves to " << text;

  StartNotifier(NotifierOptions{.try_timeout_ms = 1'000, .allow_private = false});
  FinalOrder("by-name", Url(receiver.port(), name));
  FinalOrder("literal", Url(receiver.port()));
  ASSERT_TRUE(WaitForTries("by-name", 1));
  ASSERT_TRUE(WaitForTries("literal", 1));
  for (const char* id : {"by-name", "literal"}) {
    std::vector<NotificationTry> tries =
        store_->ListNotificationTries(Only(id).notification_id).value();
    ASSERT_EQ(tries.size(), 1u);
    EXPECT_EQ(tries[0].http_status, 0);
    EXPECT_NE(tries[0].error.find("loopback"), std::string::npos) << tries[0].error;
  }
  EXPECT_EQ(receiver.requests().size(), 0u);
  // Both count as refused by the guard: the literal before connecting, the name once resolved.
  EXPECT_EQ(Outcomes(), (std::vector<std::string>{"refused", "refused"}));
}

TEST_F(NotifierTest, DeliversOverHttpsTrustingAPrivateCa) {
  Result<http::PrivateCaFiles> certs = http::MakePrivateCa(dir_.string());
  ASSERT_TRUE(certs.ok()) << certs.status().ToString();
  NotifyReceiver receiver([](int) { return Answer{200}; }, &*certs);
  StartNotifier(NotifierOptions{.allow_private = true, .ca_file = certs->ca_file});
  FinalOrder("o1", "https://127.0.0.1:" + std::to_string(receiver.port()) + "/tls");
  ASSERT_TRUE(WaitUntil(
      "o1", [](const Notification& n) { return n.state == NotificationState::kDelivered; }));
  ASSERT_GE(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.requests()[0].target, "/tls");
}

TEST_F(NotifierTest, AnUntrustedCertificateIsAFailedTry) {
  Result<http::PrivateCaFiles> certs = http::MakePrivateCa(dir_.string());
  ASSERT_TRUE(certs.ok()) << certs.status().ToString();
  NotifyReceiver receiver([](int) { return Answer{200}; }, &*certs);
  StartNotifier(NotifierOptions{.allow_private = true});  // the system store only
  FinalOrder("o1", "https://127.0.0.1:" + std::to_string(receiver.port()) + "/tls");
  ASSERT_TRUE(WaitForTries("o1", 1));
  EXPECT_EQ(Only("o1").state, NotificationState::kPending);
  EXPECT_EQ(receiver.requests().size(), 0u);
}

TEST_F(NotifierTest, ManyNotificationsWithABoundInFlight) {
  NotifyReceiver receiver([](int) { return Answer{200, 20ms}; });
  StartNotifier(NotifierOptions{.max_in_flight = 4, .allow_private = true});
  for (int i = 0; i < 40; ++i) FinalOrder("o" + std::to_string(i), Url(receiver.port()));
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(WaitUntil("o" + std::to_string(i), [](const Notification& n) {
      return n.state == NotificationState::kDelivered;
    }));
  }
  EXPECT_EQ(receiver.requests().size(), 40u);
  // Kept alive: no more connections than tries at once.
  EXPECT_LE(receiver.connections_accepted(), 4);
}

}  // namespace
}  // namespace topup::notify
