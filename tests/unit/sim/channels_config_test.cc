// The configuration file of several simulated channels.
#include "sim/channels_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace topup::sim {
namespace {

constexpr const char* kFullConfig = R"({
  "seed": 7,
  "callback_threads": 3,
  "callback_queue_max": 500,
  "channels": [
    {"name": "alpha", "latency_median_ms": 20, "latency_p99_ms": 800, "latency_max_ms": 5000,
     "fail_rate": 0.05, "blackhole_rate": 0.01, "blackhole_hold_ms": 9000,
     "processing_rate": 0.1, "processing_ms": 2000, "query_lag_ms": 500, "dedup": false,
     "outages": [{"start_s": 10, "end_s": 25}, {"start_s": 40.5, "end_s": 41}],
     "outage_mode": "blackhole",
     "error_after_credit_rate": 0.01, "truncated_rate": 0.02, "wrong_content_rate": 0.03,
     "unknown_status_rate": 0.04, "reset_rate": 0.05, "query_error_rate": 0.06,
     "async": {"callback_url": "http://127.0.0.1:9000/v1/supplier-callbacks/alpha,http://127.0.0.1:9001/v1/supplier-callbacks/alpha",
               "callback_secret": "k1", "delay_median_ms": 300, "delay_p99_ms": 3000,
               "delay_max_ms": 20000, "duplicate_rate": 0.1, "loss_rate": 0.2}},
    {"name": "beta"}
  ]
})";

TEST(ChannelsConfigTest, ReadsEveryField) {
  SimOptions options;
  options.port = 1234;
  ASSERT_TRUE(ParseSimChannelsConfig(kFullConfig, &options).ok());
  EXPECT_EQ(options.port, 1234) << "process settings not in the file are kept";
  EXPECT_EQ(options.seed, 7u);
  EXPECT_EQ(options.callback_threads, 3);
  EXPECT_EQ(options.callback_queue_max, 500u);
  ASSERT_EQ(options.channels.size(), 2u);

  const ChannelSimOptions& alpha = options.channels[0];
  EXPECT_EQ(alpha.name, "alpha");
  EXPECT_EQ(alpha.latency_median_ms, 20);
  EXPECT_EQ(alpha.latency_p99_ms, 800);
  EXPECT_EQ(alpha.latency_max_ms, 5000);
  EXPECT_DOUBLE_EQ(alpha.fail_rate, 0.05);
  EXPECT_DOUBLE_EQ(alpha.blackhole_rate, 0.01);
  EXPECT_EQ(alpha.blackhole_hold_ms, 9000);
  EXPECT_DOUBLE_EQ(alpha.processing_rate, 0.1);
  EXPECT_EQ(alpha.processing_ms, 2000);
  EXPECT_EQ(alpha.query_lag_ms, 500);
  EXPECT_FALSE(alpha.dedup);
  ASSERT_EQ(alpha.outages.size(), 2u);
  EXPECT_EQ(alpha.outages[0].start_ms, 10'000);
  EXPECT_EQ(alpha.outages[0].end_ms, 25'000);
  EXPECT_EQ(alpha.outages[1].start_ms, 40'500);
  EXPECT_EQ(alpha.outages[1].end_ms, 41'000);
  EXPECT_EQ(alpha.outage_mode, OutageMode::kBlackhole);
  EXPECT_DOUBLE_EQ(alpha.error_after_credit_rate, 0.01);
  EXPECT_DOUBLE_EQ(alpha.truncated_rate, 0.02);
  EXPECT_DOUBLE_EQ(alpha.wrong_content_rate, 0.03);
  EXPECT_DOUBLE_EQ(alpha.unknown_status_rate, 0.04);
  EXPECT_DOUBLE_EQ(alpha.reset_rate, 0.05);
  EXPECT_DOUBLE_EQ(alpha.query_error_rate, 0.06);
  ASSERT_TRUE(alpha.async.has_value());
  EXPECT_EQ(alpha.async->callback_secret, "k1");
  EXPECT_EQ(alpha.async->delay_median_ms, 300);
  EXPECT_EQ(alpha.async->delay_p99_ms, 3000);
  EXPECT_EQ(alpha.async->delay_max_ms, 20000);
  EXPECT_DOUBLE_EQ(alpha.async->duplicate_rate, 0.1);
  EXPECT_DOUBLE_EQ(alpha.async->loss_rate, 0.2);

  const ChannelSimOptions& beta = options.channels[1];
  EXPECT_EQ(beta.name, "beta");
  EXPECT_EQ(beta.fail_rate, 0);
  EXPECT_TRUE(beta.dedup);
  EXPECT_TRUE(beta.outages.empty());
  EXPECT_EQ(beta.outage_mode, OutageMode::kRefuse);
  EXPECT_EQ(beta.error_after_credit_rate + beta.truncated_rate + beta.wrong_content_rate +
                beta.unknown_status_rate + beta.reset_rate + beta.query_error_rate,
            0);
  EXPECT_FALSE(beta.async.has_value());
}

TEST(ChannelsConfigTest, RejectsWhatItDoesNotUnderstand) {
  for (const char* text : {
           "not json",
           R"({"channels": []})",
           R"({"channels": [{"name": "a"}], "sede": 1})",
           R"({"channels": [{"name": "a", "fail_rat": 0.5}]})",
           R"({"channels": [{"fail_rate": 0.5}]})",
           R"({"channels": [{"name": "a", "fail_rate": "high"}]})",
           R"({"channels": [{"name": "a", "processing_ms": 1.5}]})",
           R"({"channels": [{"name": "a", "dedup": 1}]})",
           R"({"channels": [{"name": "a", "outage_mode": "sulk"}]})",
           R"({"channels": [{"name": "a", "outages": [{"start_s": 1}]}]})",
           R"({"channels": [{"name": "a", "outages": [{"start_s": 1, "end_s": 2, "x": 3}]}]})",
           R"({"channels": [{"name": "a", "async": {"callback_secret": "k"}}]})",
           R"({"channels": [{"name": "a", "async": {"callback_url": "u", "lost_rate": 1}}]})",
           R"({"channels": [{"name": "a"}], "callback_threads": 0})",
           R"({"channels": [{"name": "a", "reset_rat": 0.5}]})",
           R"({"channels": [{"name": "a", "truncated_rate": "often"}]})",
       }) {
    SimOptions options;
    Status status = ParseSimChannelsConfig(text, &options);
    EXPECT_EQ(status.reason(), "bad_sim_config") << text;
    EXPECT_TRUE(options.channels.empty()) << "nothing is stored on an error: " << text;
  }
}

TEST(ChannelsConfigTest, RejectsARateOutsideZeroToOne) {
  for (const char* field : {"fail_rate", "blackhole_rate", "processing_rate",
                            "error_after_credit_rate", "truncated_rate", "wrong_content_rate",
                            "unknown_status_rate", "reset_rate", "query_error_rate"}) {
    for (const char* bad : {"-0.01", "1.01", "2"}) {
      const std::string text =
          std::string(R"({"channels": [{"name": "a", ")") + field + "\": " + bad + "}]}";
      SimOptions options;
      Status status = ParseSimChannelsConfig(text, &options);
      EXPECT_EQ(status.reason(), "bad_sim_config") << text;
      EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
      EXPECT_TRUE(options.channels.empty()) << text;
    }
    for (const char* good : {"0", "1", "0.5"}) {
      const std::string text =
          std::string(R"({"channels": [{"name": "a", ")") + field + "\": " + good + "}]}";
      SimOptions options;
      EXPECT_TRUE(ParseSimChannelsConfig(text, &options).ok()) << text;
    }
  }
  for (const char* bad : {R"("duplicate_rate": 1.5)", R"("loss_rate": -1)"}) {
    const std::string text = std::string(R"({"channels": [{"name": "a", "async": {)") +
                             R"("callback_url": "http://127.0.0.1:9/cb", )" + bad + "}}]}";
    SimOptions options;
    EXPECT_EQ(ParseSimChannelsConfig(text, &options).reason(), "bad_sim_config") << text;
  }
}

TEST(ChannelsConfigTest, SeedMayUseAllSixtyFourBits) {
  SimOptions options;
  ASSERT_TRUE(ParseSimChannelsConfig(
                  R"({"seed": 18446744073709551615, "channels": [{"name": "a"}]})", &options)
                  .ok());
  EXPECT_EQ(options.seed, 18446744073709551615ull);
  EXPECT_EQ(
      ParseSimChannelsConfig(R"({"seed": -1, "channels": [{"name": "a"}]})", &options).reason(),
      "bad_sim_config");
}

TEST(ChannelsConfigTest, LoadsAFile) {
  const std::string path = ::testing::TempDir() + "sim_channels_config_test.json";
  {
    std::ofstream file(path);
    file << kFullConfig;
  }
  SimOptions options;
  ASSERT_TRUE(LoadSimChannelsConfig(path, &options).ok());
  EXPECT_EQ(options.channels.size(), 2u);
  std::remove(path.c_str());
  EXPECT_EQ(LoadSimChannelsConfig(path, &options).reason(), "sim_config_file");
}

}  // namespace
}  // namespace topup::sim
