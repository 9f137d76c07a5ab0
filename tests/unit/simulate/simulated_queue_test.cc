// The simulated broker's bounds: what waits (kMaxDepth) and what is given and not acknowledged
// (kMaxUnacked, a prefetch limit).
#include "simulate/simulated_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace topup::simulate {
namespace {

class SimulatedQueueTest : public ::testing::Test {
 protected:
  std::vector<std::string> Ids(size_t n, const std::string& prefix) {
    std::vector<std::string> ids;
    ids.reserve(n);
    for (size_t i = 0; i < n; ++i) ids.push_back(prefix + std::to_string(i));
    return ids;
  }

  SeededRandom random_{7};
  Faults faults_{.queue_loss = false, .queue_duplicate = false};  // every id given once
  Trace trace_;
  EventQueue events_{&random_, 0};
  SimulatedQueue queue_{&random_, &faults_, &trace_, &events_};
};

TEST_F(SimulatedQueueTest, PublishingBeyondTheDepthIsRefused) {
  ASSERT_TRUE(queue_.Publish(Ids(SimulatedQueue::kMaxDepth, "a")).ok());
  Status full = queue_.Publish(Ids(1, "b"));
  EXPECT_EQ(full.reason(), "queue_full");
  EXPECT_EQ(queue_.depth(), SimulatedQueue::kMaxDepth);
}

TEST_F(SimulatedQueueTest, NothingMoreIsGivenBeyondThePrefetchLimitUntilAcknowledged) {
  ASSERT_TRUE(queue_.Publish(Ids(SimulatedQueue::kMaxUnacked, "a")).ok());
  Result<std::vector<Delivery>> given = queue_.Receive(SimulatedQueue::kMaxUnacked, {});
  ASSERT_TRUE(given.ok());
  ASSERT_EQ(given->size(), SimulatedQueue::kMaxUnacked);
  ASSERT_TRUE(queue_.Publish(Ids(3, "b")).ok());
  EXPECT_TRUE(queue_.Receive(10, {})->empty());
  ASSERT_TRUE(queue_.Ack(std::span<const Delivery>(given->data(), 2)).ok());
  Result<std::vector<Delivery>> more = queue_.Receive(10, {});
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->size(), 2u);
  EXPECT_EQ(queue_.depth(), 1u);
}

}  // namespace
}  // namespace topup::simulate
