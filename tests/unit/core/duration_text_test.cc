#include "core/duration_text.h"

#include <gtest/gtest.h>

namespace topup {
namespace {

TEST(ParseDurationMsTest, ReadsEachUnit) {
  EXPECT_EQ(ParseDurationMs("500ms").value(), 500);
  EXPECT_EQ(ParseDurationMs("90s").value(), 90'000);
  EXPECT_EQ(ParseDurationMs("15m").value(), 900'000);
  EXPECT_EQ(ParseDurationMs("12h").value(), 43'200'000);
  EXPECT_EQ(ParseDurationMs("30d").value(), 2'592'000'000);
  EXPECT_EQ(ParseDurationMs("1ms").value(), 1);
}

TEST(ParseDurationMsTest, RefusesWhatIsNotOneCountAndOneUnit) {
  for (const char* text : {"", "d", "30", "0d", "-1d", "+1d", "1.5h", "1 h", " 1h", "1h ", "1H",
                           "1y", "1w", "1dd", "1h30m", "ms", "1sec", "0x10s"}) {
    Result<int64_t> parsed = ParseDurationMs(text);
    ASSERT_FALSE(parsed.ok()) << "'" << text << "' gave " << *parsed;
    EXPECT_EQ(parsed.status().reason(), "invalid_duration") << text;
  }
}

TEST(ParseDurationMsTest, RefusesMoreThanAHundredYears) {
  EXPECT_EQ(ParseDurationMs("36500d").value(), 36'500LL * 86'400'000);
  EXPECT_FALSE(ParseDurationMs("36501d").ok());
  EXPECT_FALSE(ParseDurationMs("3153600000001ms").ok());
  EXPECT_FALSE(ParseDurationMs("99999999999999999999d").ok());  // beyond int64_t
}

}  // namespace
}  // namespace topup
