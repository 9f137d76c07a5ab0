#include "store/rules/archive_rules.h"

#include <gtest/gtest.h>

namespace topup::store_rules {
namespace {

using std::chrono::milliseconds;

TEST(ArchiveRetryDelayTest, ABusyBatchIsTriedAgainWithADoublingBackOffUpToTheBound) {
  const Status busy = Unavailable("store_busy", "postgres: deadlock detected (SQLSTATE 40P01)");
  EXPECT_EQ(ArchiveRetryDelay(busy, 1), milliseconds(10));
  EXPECT_EQ(ArchiveRetryDelay(busy, 2), milliseconds(20));
  EXPECT_EQ(ArchiveRetryDelay(busy, kMaxArchiveBatchAttempts - 1), milliseconds(80));
  EXPECT_EQ(ArchiveRetryDelay(busy, kMaxArchiveBatchAttempts), std::nullopt);
}

TEST(ArchiveRetryDelayTest, OtherFailuresEndTheRun) {
  EXPECT_EQ(ArchiveRetryDelay(Unavailable("store_unavailable", "connection lost"), 1),
            std::nullopt);
  EXPECT_EQ(ArchiveRetryDelay(Internal("postgres: syntax error"), 1), std::nullopt);
  EXPECT_EQ(ArchiveRetryDelay(DeadlineExceeded("store_timeout", "statement timeout"), 1),
            std::nullopt);
}

}  // namespace
}  // namespace topup::store_rules
