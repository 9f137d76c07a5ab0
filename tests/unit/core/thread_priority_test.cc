#include "core/thread_priority.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace topup {
namespace {

int OwnNice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))); }

// Only the calling thread is lowered, and what it starts afterwards inherits it.
TEST(ThreadPriorityTest, LowersTheCallingThreadAndWhatItStarts) {
  const int before = OwnNice();
  int lowered = 0;
  int started_by_it = 0;
  std::thread worker([&] {
    ASSERT_TRUE(LowerThreadPriority(5));
    lowered = OwnNice();
    std::thread child([&] { started_by_it = OwnNice(); });
    child.join();
  });
  worker.join();
  EXPECT_EQ(lowered, std::min(before + 5, 19));
  EXPECT_EQ(started_by_it, lowered);
  EXPECT_EQ(OwnNice(), before);
}

}  // namespace
}  // namespace topup
