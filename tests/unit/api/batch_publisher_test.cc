#include "api/batch_publisher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "queue/embedded/embedded_queue.h"

namespace topup::api {
namespace {

std::vector<std::string> Drain(EmbeddedQueue& queue) {
  std::vector<std::string> ids;
  while (true) {
    Result<std::vector<Delivery>> got = queue.Receive(1000, std::chrono::milliseconds(0));
    if (!got.ok() || got->empty()) return ids;
    for (const Delivery& delivery : *got) ids.push_back(delivery.order_id);
  }
}

TEST(BatchPublisherTest, PublishesEveryIdInOrderByTheTimeItIsDestroyed) {
  EmbeddedQueue queue;
  {
    BatchPublisher publisher(&queue);
    for (int i = 0; i < 500; ++i) publisher.Add("o" + std::to_string(i));
  }
  std::vector<std::string> ids = Drain(queue);
  ASSERT_EQ(ids.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(ids[static_cast<size_t>(i)], "o" + std::to_string(i));
}

TEST(BatchPublisherTest, AFullQueueLosesIdsButNeverBlocks) {
  EmbeddedQueue queue(/*capacity=*/10);
  {
    BatchPublisher publisher(&queue);
    for (int i = 0; i < 100; ++i) publisher.Add("o" + std::to_string(i));
  }
  // What the queue refused is left to the sweeper, which finds the orders in the store.
  EXPECT_LE(Drain(queue).size(), 10u);
}

}  // namespace
}  // namespace topup::api
