#include "engine/channel_router.h"

#include <gtest/gtest.h>

#include <map>

namespace topup {
namespace {

class NamedChannel final : public SupplierChannel {
 public:
  explicit NamedChannel(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  SupplierAnswer Submit(const SubmitRequest&) override { return {}; }
  SupplierAnswer Query(std::string_view) override { return {}; }

 private:
  std::string name_;
};

Result<std::unique_ptr<SupplierChannel>> MakeNamed(const ChannelConfig& config) {
  return std::unique_ptr<SupplierChannel>(new NamedChannel(config.name));
}

ChannelConfig Channel(std::string name, int32_t priority, std::set<Carrier> carriers = {},
                      std::set<int32_t> face_values = {}) {
  ChannelConfig config;
  config.name = std::move(name);
  config.base_url = "http://127.0.0.1:1";
  config.priority = priority;
  config.carriers = std::move(carriers);
  config.face_values = std::move(face_values);
  return config;
}

Order MobileOrder(int32_t face_value = 50) {
  Order order;
  order.order_id = "o1";
  order.phone = "13800138000";
  order.carrier = Carrier::kChinaMobile;
  order.face_value_yuan = face_value;
  order.deadline_ms = 180'000;
  return order;
}

std::unique_ptr<ChannelRouter> Router(RoutingConfig config, Random* random) {
  auto router = ChannelRouter::Create(std::move(config), MakeNamed, random);
  EXPECT_TRUE(router.ok()) << router.status().ToString();
  return std::move(*router);
}

TEST(ChannelRouterTest, PicksTheBestChannelServingCarrierAndFaceValue) {
  SeededRandom random(1);
  RoutingConfig config;
  config.channels = {Channel("unicom_only", 0, {Carrier::kChinaUnicom}),
                     Channel("small_faces", 0, {}, {10, 20}), Channel("backup", 5),
                     Channel("primary", 1, {Carrier::kChinaMobile})};
  auto router = Router(config, &random);
  auto chosen = router->Admit(MobileOrder(), 0);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ((*chosen)->config().name, "primary");
  (*chosen)->Release();
  auto small = router->Admit(MobileOrder(20), 0);
  EXPECT_EQ((*small)->config().name, "small_faces");
  (*small)->Release();
}

TEST(ChannelRouterTest, FailsOverAwayFromTheChannelThatJustFailed) {
  SeededRandom random(2);
  RoutingConfig config;
  config.channels = {Channel("primary", 1), Channel("backup", 2)};
  auto router = Router(config, &random);
  Order order = MobileOrder();
  order.channel = "primary";  // its last attempt died there
  auto chosen = router->Admit(order, 0);
  EXPECT_EQ((*chosen)->config().name, "backup");
  (*chosen)->Release();
  order.channel = "backup";
  chosen = router->Admit(order, 0);
  EXPECT_EQ((*chosen)->config().name, "primary");
  (*chosen)->Release();
}

TEST(ChannelRouterTest, NoChannelVersusBusy) {
  SeededRandom random(3);
  RoutingConfig config;
  ChannelConfig only = Channel("only", 1, {Carrier::kChinaTelecom});
  only.max_concurrent_attempts = 1;
  config.channels = {only};
  auto router = Router(config, &random);
  EXPECT_EQ(router->Admit(MobileOrder(), 0).status().reason(), "no_channel");
  Order telecom = MobileOrder();
  telecom.phone = "18912345678";
  telecom.carrier = Carrier::kChinaTelecom;
  auto first = router->Admit(telecom, 0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(router->Admit(telecom, 0).status().reason(), "channels_busy");
  (*first)->Release();
  EXPECT_TRUE(router->Admit(telecom, 0).ok());
}

TEST(ChannelRouterTest, PortedNumbersOverrideTheSegment) {
  SeededRandom random(4);
  RoutingConfig config;
  config.channels = {Channel("unicom", 1, {Carrier::kChinaUnicom})};
  config.ported_numbers["13800138000"] = Carrier::kChinaUnicom;
  auto router = Router(config, &random);
  EXPECT_EQ(router->CarrierOf(MobileOrder()), Carrier::kChinaUnicom);
  EXPECT_TRUE(router->Admit(MobileOrder(), 0).ok());
}

TEST(ChannelRouterTest, RateLimitHoldsAcrossCallers) {
  SeededRandom random(5);
  RoutingConfig config;
  ChannelConfig limited = Channel("limited", 1);
  limited.rate_limit_per_s = 5;
  config.channels = {limited};
  auto router = Router(config, &random);
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    auto chosen = router->Admit(MobileOrder(), 1'000);
    if (chosen.ok()) {
      ++admitted;
      (*chosen)->Release();
    }
  }
  EXPECT_EQ(admitted, 5);                                 // a burst of one second's worth
  EXPECT_TRUE(router->Admit(MobileOrder(), 1'200).ok());  // 200 ms later: one more token
}

TEST(ChannelRouterTest, AnOpenBreakerIsSkipped) {
  SeededRandom random(6);
  RoutingConfig config;
  config.channels = {Channel("flaky", 1), Channel("steady", 2)};
  auto router = Router(config, &random);
  auto flaky = router->Find("flaky");
  for (int i = 0; i < 50; ++i) flaky->breaker().Record(CircuitBreaker::Outcome::kFailure, 0);
  auto chosen = router->Admit(MobileOrder(), 1);
  EXPECT_EQ((*chosen)->config().name, "steady");
  (*chosen)->Release();
}

TEST(ChannelRouterTest, AnOpenBreakerHoldsAnOrderBackOnlyWhileItCanAffordToWait) {
  SeededRandom random(9);
  RoutingConfig config;
  config.channels = {Channel("only", 1)};
  config.channels[0].attempt_timeout_ms = 10'000;
  auto router = Router(config, &random);
  auto only = router->Find("only");
  for (int i = 0; i < 50; ++i) only->breaker().Record(CircuitBreaker::Outcome::kFailure, 0);
  ASSERT_EQ(only->breaker().state(1), CircuitBreaker::State::kOpen);

  Order order = MobileOrder();
  auto early = router->Admit(order, 1);
  EXPECT_EQ(early.status().reason(), "channels_busy");
  // 20 s left = twice the attempt budget: waiting longer would only spend the deadline.
  auto late = router->Admit(order, order.deadline_ms - 20'000);
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  EXPECT_EQ(*late, only);
  EXPECT_EQ(only->in_flight(), 1);
  (*late)->Release();

  // The budget grows with what the channel has shown about its time to a final answer.
  for (int i = 0; i < 50; ++i) only->time_to_final().Record(40'000);
  EXPECT_EQ(only->AttemptBudgetMs(), 40'000);
  EXPECT_TRUE(router->Admit(order, order.deadline_ms - 79'000).ok());
}

TEST(ChannelRouterTest, WeightsShareTrafficWithinAPriority) {
  SeededRandom random(7);
  RoutingConfig config;
  ChannelConfig heavy = Channel("heavy", 1), light = Channel("light", 1);
  heavy.weight = 3;
  config.channels = {heavy, light};
  auto router = Router(config, &random);
  std::map<std::string, int> picks;
  for (int i = 0; i < 4000; ++i) {
    auto chosen = router->Admit(MobileOrder(), 0);
    picks[(*chosen)->config().name]++;
    (*chosen)->Release();
  }
  EXPECT_NEAR(picks["heavy"] / 4000.0, 0.75, 0.03);
}

TEST(ChannelRouterTest, ReloadKeepsRemovedChannelsForQueries) {
  SeededRandom random(8);
  RoutingConfig config;
  config.channels = {Channel("old", 1)};
  auto router = Router(config, &random);
  auto old = router->Find("old");
  RoutingConfig next;
  next.channels = {Channel("new", 1)};
  ASSERT_TRUE(router->Reload(next).ok());
  EXPECT_EQ(router->Find("old"), old);  // live attempts there can still be queried
  auto chosen = router->Admit(MobileOrder(), 0);
  EXPECT_EQ((*chosen)->config().name, "new");
  (*chosen)->Release();
  RoutingConfig same = next;
  auto before = router->Find("new");
  ASSERT_TRUE(router->Reload(same).ok());
  EXPECT_EQ(router->Find("new"), before);  // unchanged channels keep their state
}

TEST(ChannelConfigTest, ParsesAndRejects) {
  auto config = ParseRoutingConfig(R"({
    "channels": [{"name": "a", "base_url": "http://127.0.0.1:9", "carriers": ["china_mobile"],
                  "face_values": [50, 100], "priority": 2, "weight": 3,
                  "max_concurrent_attempts": 7, "rate_limit_per_s": 1.5,
                  "attempt_timeout_ms": 4000, "callback_secret": "s"}],
    "ported_numbers": {"13800138000": "china_unicom"}})");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const ChannelConfig& a = config->channels[0];
  EXPECT_TRUE(a.Serves(Carrier::kChinaMobile, 50));
  EXPECT_FALSE(a.Serves(Carrier::kChinaMobile, 10));
  EXPECT_FALSE(a.Serves(Carrier::kChinaTelecom, 50));
  EXPECT_EQ(a.max_concurrent_attempts, 7);
  EXPECT_EQ(a.rate_limit_per_s, 1.5);
  EXPECT_EQ(config->ported_numbers["13800138000"], Carrier::kChinaUnicom);
  for (const char* bad : {"{}", "[]", R"({"channels": []})", R"({"channels": [{"name": "a"}]})",
                          R"({"channels": [{"name": "a", "base_url": "x", "carriers": ["mars"]}]})",
                          R"({"channels": [{"name": "a", "base_url": "x", "weight": 0}]})",
                          R"({"channels": [{"name": "a", "base_url": "x"},
                                           {"name": "a", "base_url": "y"}]})"}) {
    auto parsed = ParseRoutingConfig(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().reason(), "invalid_channel_config");
    }
  }
}

}  // namespace
}  // namespace topup
