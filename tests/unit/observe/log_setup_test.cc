#include "observe/log_setup.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <boost/json.hpp>

#include "core/invariant.h"

namespace topup::observe {
namespace {

namespace json = boost::json;

std::string Format(LogFormat format, std::string_view message) {
  spdlog::details::log_msg msg("serve", spdlog::level::warn,
                               spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t out;
  MakeLogFormatter(format)->format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(LogSetupTest, MasksMobileNumbersButNotIdsOrOtherNumbers) {
  EXPECT_EQ(MaskPhones("phone 13800138000 rejected"), "phone 138****8000 rejected");
  EXPECT_EQ(MaskPhones(R"({"phone":"15912345678"})"), R"({"phone":"159****5678"})");
  EXPECT_EQ(MaskPhones("13800138000"), "138****8000");
  EXPECT_EQ(MaskPhones("a 138001380001 b"), "a 138001380001 b");  // 12 digits
  EXPECT_EQ(MaskPhones("23800138000"), "23800138000");            // not a mobile number
  EXPECT_EQ(MaskPhones("order_id=18c13800138000ab"), "order_id=18c13800138000ab");  // hex id
  EXPECT_EQ(MaskPhones("1700000000000 ms"), "1700000000000 ms");
}

TEST(LogSetupTest, RedactsThePasswordsOfUrls) {
  EXPECT_EQ(RedactUrlCredentials("store postgresql://topup:hunter2@db:5432/topup and more"),
            "store postgresql://topup:***@db:5432/topup and more");
  EXPECT_EQ(RedactUrlCredentials("amqp://u:p@mq:5672/%2f, redis://mq:6379/0"),
            "amqp://u:***@mq:5672/%2f, redis://mq:6379/0");
  EXPECT_EQ(RedactUrlCredentials("postgresql://topup@db/topup"), "postgresql://topup@db/topup");
  EXPECT_EQ(RedactUrlCredentials("http://127.0.0.1:9090/submit"), "http://127.0.0.1:9090/submit");
}

TEST(LogSetupTest, JsonLinesCarryTimeLevelThreadMessageAndTheOrdersFields) {
  pthread_setname_np(pthread_self(), "log-test");
  const std::string line =
      Format(LogFormat::kJson,
             "transition failed order_id=0190ab12cd34ef merchant_id=shop1 channel=alpha: "
             "store \"busy\" for phone 13800138000");
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  json::object parsed = json::parse(line).as_object();
  EXPECT_EQ(parsed.at("level").as_string(), "warning");
  EXPECT_EQ(parsed.at("thread").as_string(), "log-test");
  EXPECT_EQ(parsed.at("order_id").as_string(), "0190ab12cd34ef");
  EXPECT_EQ(parsed.at("merchant_id").as_string(), "shop1");
  EXPECT_EQ(parsed.at("channel").as_string(), "alpha");
  const std::string message(parsed.at("message").as_string());
  EXPECT_NE(message.find("store \"busy\" for phone 138****8000"), std::string::npos) << message;
  const std::string time(parsed.at("time").as_string());
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-01-02T03:04:05.678Z
  EXPECT_EQ(time.back(), 'Z');
}

TEST(LogSetupTest, JsonLinesWithoutFieldsHaveNone) {
  json::object parsed =
      json::parse(Format(LogFormat::kJson, "channel configuration reloaded")).as_object();
  EXPECT_FALSE(parsed.contains("order_id"));
  EXPECT_FALSE(parsed.contains("channel"));  // "channel" alone is not channel=...
}

TEST(LogSetupTest, TextLinesAreMaskedToo) {
  const std::string line = Format(LogFormat::kText, "queue amqp://u:secret@mq/ phone 13800138000");
  EXPECT_NE(line.find("[warning] [serve] queue amqp://u:***@mq/ phone 138****8000"),
            std::string::npos)
      << line;
}

TEST(LogSetupDeathTest, AFailedInvariantIsLoggedAsACriticalLineBeforeTheAbort) {
  EXPECT_DEATH(
      {
        SetUpLogging("invariant-test", LogFormat::kJson, spdlog::level::info);
        TOPUP_ASSERT(false, "two owners of order_id=o1");
      },
      "\"level\":\"critical\".*invariant broken at .*log_setup_test.cc:[0-9]+: two owners of "
      "order_id=o1 \\(false\\)");
}

TEST(LogSetupTest, ParsesFormatsAndLevelsAndCyclesLevels) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);  // as --log-level spells it
  EXPECT_EQ(*ParseLogLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(LogLevelName(spdlog::level::warn), "warn");
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  spdlog::level::level_enum level = spdlog::level::info;
  std::vector<spdlog::level::level_enum> seen;
  for (int i = 0; i < 5; ++i) seen.push_back(level = NextLogLevel(level));
  EXPECT_EQ(seen, (std::vector<spdlog::level::level_enum>{
                      spdlog::level::debug, spdlog::level::trace, spdlog::level::warn,
                      spdlog::level::err, spdlog::level::info}));
}

}  // namespace
}  // namespace topup::observe
