// `topup bench --json FILE`: the report, machine-readable (demo, chaos and hostile share the code).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/server_support.h"

namespace topup {
namespace {

TEST(ReportJsonTest, BenchWritesItsReportAsJson) {
  Result<std::string> dir = testing::MakeTempDir("topup-report-");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const std::string path = *dir + "/report.json";
  const std::string command = std::string(TOPUP_BINARY) +
                              " bench --orders 300 --connections 8 --notify " + "--json " + path +
                              " > " + *dir + "/out.txt 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << testing::LastLines(*dir + "/out.txt", 30);
  std::ifstream file(path);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  const boost::json::object& report = parsed.as_object();
  EXPECT_TRUE(report.at("completed").as_bool());
  EXPECT_TRUE(report.at("correct").as_bool());
  EXPECT_EQ(report.at("requested").as_int64(), 300);
  EXPECT_EQ(report.at("accepted").as_int64(), 300);
  EXPECT_EQ(report.at("succeeded").as_int64(), 300);
  EXPECT_EQ(report.at("double_credits").as_int64(), 0);
  EXPECT_TRUE(report.at("ledger_balanced").as_bool());
  EXPECT_GT(report.at("final_per_s").as_double(), 0);
  EXPECT_EQ(report.at("deadline_s").as_int64(), 180);
  EXPECT_TRUE(report.at("misses").is_array());
  // --notify: the merchant's receiver acknowledged every order's notification.
  EXPECT_EQ(report.at("notifications_missing").as_int64(), 0);
  EXPECT_GE(report.at("notifications_acknowledged").as_int64(), 300);
  EXPECT_EQ(report.at("notification_bad_signatures").as_int64(), 0);
  EXPECT_GE(report.at("notify_latency_p99_ms").as_int64(),
            report.at("notify_latency_p50_ms").as_int64());
  std::filesystem::remove_all(*dir);
}

}  // namespace
}  // namespace topup
