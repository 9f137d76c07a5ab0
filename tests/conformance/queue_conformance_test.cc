// One suite run against every Queue backend, so that a backend cannot quietly differ.
//
// Redis and RabbitMQ run for real: one private server each, started on first use and shared by
// the suite (each test uses its own stream or queue). A server that cannot start fails its tests.
//
// What the embedded queue does not promise, by design: it lives in one process's memory, so two
// instances never share ids, and it never delivers an id again (an unacknowledged id, or one lost
// with the process, is found again by the engine's sweeper from the store). The tests assert
// exactly that for it, and at-least-once redelivery for the brokers.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "process/child_process.h"
#include "queue/embedded/embedded_queue.h"
#include "queue/rabbitmq/rabbitmq_queue.h"
#include "queue/redis/redis_queue.h"
#include "testing/rabbitmq_server.h"
#include "testing/redis_server.h"
#include "topup/queue.h"

namespace topup {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Redis (min_idle) and RabbitMQ (requeue_after) deliver an unacknowledged id again after this
// long, even to a consumer that lives; short so tests of it are quick.
constexpr milliseconds kRedeliveryTime{1'000};
// For tests that hold deliveries unacknowledged for a few seconds on purpose.
constexpr milliseconds kLongRedeliveryTime{60'000};

// The shared servers: started on first use, stopped after the last test.
class Servers : public ::testing::Environment {
 public:
  static Servers& Get() { return *instance_; }

  // Null with *error set if the server could not start (then it is not tried again).
  testing::RedisServer* Redis(std::string* error) {
    std::lock_guard lock(mu_);
    if (!redis_ && redis_error_.empty()) {
      auto started = testing::RedisServer::Start();
      if (started.ok()) {
        redis_ = std::move(*started);
      } else {
        redis_error_ = started.status().ToString();
      }
    }
    *error = redis_error_;
    return redis_.get();
  }

  testing::RabbitMqServer* RabbitMq(std::string* error) {
    std::lock_guard lock(mu_);
    if (!rabbitmq_ && rabbitmq_error_.empty()) {
      Clock::time_point start = Clock::now();
      auto started = testing::RabbitMqServer::Start();
      if (started.ok()) {
        rabbitmq_ = std::move(*started);
        std::printf("RabbitMQ started in %lld ms\n",
                    static_cast<long long>(
                        std::chrono::duration_cast<milliseconds>(Clock::now() - start).count()));
      } else {
        rabbitmq_error_ = started.status().ToString();
      }
    }
    *error = rabbitmq_error_;
    return rabbitmq_.get();
  }

  void TearDown() override {
    std::lock_guard lock(mu_);
    redis_.reset();
    rabbitmq_.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<testing::RedisServer> redis_;
  std::string redis_error_;
  std::unique_ptr<testing::RabbitMqServer> rabbitmq_;
  std::string rabbitmq_error_;

  static Servers* const instance_;
};

// Registered before main(): gtest tears it down after the last test.
Servers* const Servers::instance_ =
    static_cast<Servers*>(::testing::AddGlobalTestEnvironment(new Servers));

// A channel name no other test uses: the stream or queue of one test.
std::string UniqueChannel() {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/') c = '.';
  }
  return "conformance." + name + "." + std::to_string(getpid()) + "." + std::to_string(counter++);
}

// How one backend is opened, and which of the properties below it promises.
struct Backend {
  std::string name;
  // Queues opened on the same channel share their ids (several processes on one broker).
  bool shared = false;
  // A delivery never acknowledged is delivered again after its consumer went away.
  bool redelivers = false;
  // How long that may take.
  milliseconds redelivery_max{0};
};

class QueueFactory {
 public:
  explicit QueueFactory(std::string backend) : backend_(std::move(backend)) {}

  // Sets up the server if needed. Returns an error to fail the test with.
  std::string Prepare() {
    std::string error;
    if (backend_ == "redis") redis_ = Servers::Get().Redis(&error);
    if (backend_ == "rabbitmq") rabbitmq_ = Servers::Get().RabbitMq(&error);
    return error;
  }

  Result<std::unique_ptr<Queue>> Open(const std::string& channel, const std::string& consumer,
                                      milliseconds redelivery_time) {
    if (backend_ == "embedded") return std::unique_ptr<Queue>(std::make_unique<EmbeddedQueue>());
    if (backend_ == "redis") {
      RedisQueueOptions options;
      options.url = redis_->url();
      options.stream = channel;
      options.group = "workers";
      options.consumer = consumer;
      options.max_len = 100'000;
      options.min_idle = redelivery_time;
      options.claim_interval = milliseconds(100);
      options.backoff_max = milliseconds(500);
      return OpenRedisQueue(options);
    }
    RabbitMqQueueOptions options;
    options.url = rabbitmq_->url();
    options.queue = channel;
    options.prefetch = 32;
    options.requeue_after = redelivery_time;
    options.backoff_max = milliseconds(1'000);
    return OpenRabbitMqQueue(options);
  }

  testing::RedisServer* redis() const { return redis_; }
  testing::RabbitMqServer* rabbitmq() const { return rabbitmq_; }

 private:
  const std::string backend_;
  testing::RedisServer* redis_ = nullptr;
  testing::RabbitMqServer* rabbitmq_ = nullptr;
};

Backend BackendNamed(const std::string& name) {
  if (name == "redis") return Backend{name, true, true, kRedeliveryTime + seconds(10)};
  if (name == "rabbitmq") return Backend{name, true, true, kRedeliveryTime + seconds(10)};
  return Backend{name, false, false, milliseconds(0)};
}

// Receives until `count` deliveries arrived or `deadline` passed; acknowledges them if `ack`.
std::vector<Delivery> ReceiveUntil(Queue& queue, size_t count, Clock::time_point deadline,
                                   bool ack) {
  std::vector<Delivery> received;
  while (received.size() < count && Clock::now() < deadline) {
    Result<std::vector<Delivery>> batch = queue.Receive(count - received.size(), milliseconds(200));
    if (!batch.ok()) break;
    if (ack && !batch->empty()) {
      EXPECT_TRUE(queue.Ack(*batch).ok());
    }
    received.insert(received.end(), batch->begin(), batch->end());
  }
  return received;
}

std::multiset<std::string> IdsOf(const std::vector<Delivery>& deliveries) {
  std::multiset<std::string> ids;
  for (const Delivery& delivery : deliveries) ids.insert(delivery.order_id);
  return ids;
}

std::vector<std::string> MakeIds(const std::string& prefix, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(prefix + "-" + std::to_string(i));
  return ids;
}

class QueueConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = BackendNamed(GetParam());
    factory_ = std::make_unique<QueueFactory>(GetParam());
    std::string error = factory_->Prepare();
    ASSERT_TRUE(error.empty()) << GetParam() << " server did not start: " << error;
    channel_ = UniqueChannel();
  }

  std::unique_ptr<Queue> Open(const std::string& consumer = "consumer-1",
                              milliseconds redelivery_time = kRedeliveryTime) {
    Result<std::unique_ptr<Queue>> queue = factory_->Open(channel_, consumer, redelivery_time);
    EXPECT_TRUE(queue.ok()) << queue.status().ToString();
    return queue.ok() ? std::move(*queue) : nullptr;
  }

  Backend backend_;
  std::unique_ptr<QueueFactory> factory_;
  std::string channel_;
};

TEST_P(QueueConformanceTest, PublishedIdsAreReceivedOnce) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  const std::vector<std::string> ids = {"order-a", "order-b", "order-c"};
  ASSERT_TRUE(queue->Publish(ids).ok());
  std::vector<Delivery> received =
      ReceiveUntil(*queue, ids.size(), Clock::now() + seconds(10), true);
  EXPECT_EQ(IdsOf(received), std::multiset<std::string>(ids.begin(), ids.end()));
  // Acknowledged: nothing comes again, not even after a redelivery delay.
  std::vector<Delivery> again =
      ReceiveUntil(*queue, 1, Clock::now() + backend_.redelivery_max / 4 + milliseconds(300), true);
  EXPECT_TRUE(again.empty()) << again.front().order_id;
}

TEST_P(QueueConformanceTest, PublishOfNothingIsOk) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  EXPECT_TRUE(queue->Publish({}).ok());
  EXPECT_TRUE(queue->Ack({}).ok());
}

TEST_P(QueueConformanceTest, ReceiveOnAnEmptyQueueWaitsAboutItsBound) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  for (milliseconds wait : {milliseconds(0), milliseconds(300)}) {
    Clock::time_point start = Clock::now();
    Result<std::vector<Delivery>> batch = queue->Receive(10, wait);
    auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    EXPECT_TRUE(batch->empty());
    EXPECT_GE(elapsed, wait - milliseconds(20));
    EXPECT_LT(elapsed, wait + milliseconds(1'000));
  }
}

TEST_P(QueueConformanceTest, AWaitingReceiverWakesForAPublish) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  std::atomic<int64_t> waited_ms{-1};
  std::vector<Delivery> received;
  std::thread receiver([&] {
    Clock::time_point start = Clock::now();
    Result<std::vector<Delivery>> batch = queue->Receive(1, seconds(20));
    waited_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
    if (batch.ok()) received = *batch;
  });
  // Let the receiver block first (not required for correctness, only to test the wake-up).
  std::this_thread::sleep_for(milliseconds(200));
  const std::string id = "order-wake";
  ASSERT_TRUE(queue->Publish(std::span<const std::string>(&id, 1)).ok());
  receiver.join();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].order_id, id);
  EXPECT_LT(waited_ms.load(), 5'000);
  EXPECT_TRUE(queue->Ack(received).ok());
}

// What the engine's local hand-offs rely on: a hand-off wakes a dispatcher waiting in Receive.
TEST_P(QueueConformanceTest, WakeEndsTheWaitOfAWaitingReceiver) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  std::atomic<int64_t> waited_ms{-1};
  Result<std::vector<Delivery>> batch = std::vector<Delivery>();
  std::thread receiver([&] {
    Clock::time_point start = Clock::now();
    batch = queue->Receive(10, seconds(60));
    waited_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  });
  // Let the receiver block first (the wake ends the next wait otherwise, which is also correct).
  std::this_thread::sleep_for(milliseconds(300));
  queue->Wake();
  receiver.join();
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_TRUE(batch->empty());
  EXPECT_LT(waited_ms.load(), 5'000);
  // The queue still works afterwards.
  const std::string id = "order-after-wake";
  ASSERT_TRUE(queue->Publish(std::span<const std::string>(&id, 1)).ok());
  std::vector<Delivery> received = ReceiveUntil(*queue, 1, Clock::now() + seconds(10), true);
  EXPECT_EQ(IdsOf(received), std::multiset<std::string>({id}));
}

TEST_P(QueueConformanceTest, AWakeWithNoReceiverEndsTheNextWaitOnly) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  queue->Wake();
  Clock::time_point start = Clock::now();
  Result<std::vector<Delivery>> woken = queue->Receive(10, seconds(60));
  ASSERT_TRUE(woken.ok()) << woken.status().ToString();
  EXPECT_TRUE(woken->empty());
  EXPECT_LT(Clock::now() - start, seconds(5));
  // Spent: the next receive waits its bound again.
  start = Clock::now();
  Result<std::vector<Delivery>> next = queue->Receive(10, milliseconds(300));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_GE(Clock::now() - start, milliseconds(280));
}

TEST_P(QueueConformanceTest, ReceiveReturnsAtMostMaxCount) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  std::vector<std::string> ids = MakeIds("order", 10);
  ASSERT_TRUE(queue->Publish(ids).ok());
  std::vector<Delivery> all;
  Clock::time_point deadline = Clock::now() + seconds(10);
  while (all.size() < ids.size() && Clock::now() < deadline) {
    Result<std::vector<Delivery>> batch = queue->Receive(3, milliseconds(200));
    ASSERT_TRUE(batch.ok());
    EXPECT_LE(batch->size(), 3u);
    ASSERT_TRUE(queue->Ack(*batch).ok());
    all.insert(all.end(), batch->begin(), batch->end());
  }
  EXPECT_EQ(IdsOf(all), std::multiset<std::string>(ids.begin(), ids.end()));
}

// At least once: a delivery whose consumer went away without acknowledging it comes again.
TEST_P(QueueConformanceTest, AnUnacknowledgedDeliveryIsDeliveredAgainToAnotherConsumer) {
  std::unique_ptr<Queue> first = Open("consumer-1");
  ASSERT_NE(first, nullptr);
  const std::string id = "order-unacked";
  ASSERT_TRUE(first->Publish(std::span<const std::string>(&id, 1)).ok());
  std::vector<Delivery> taken = ReceiveUntil(*first, 1, Clock::now() + seconds(10), false);
  ASSERT_EQ(taken.size(), 1u);
  ASSERT_EQ(taken[0].order_id, id);
  // The consumer dies without acknowledging (its connection closes; Redis notices nothing).
  first->Close();
  first.reset();

  std::unique_ptr<Queue> second = Open("consumer-2");
  ASSERT_NE(second, nullptr);
  if (backend_.redelivers) {
    std::vector<Delivery> again =
        ReceiveUntil(*second, 1, Clock::now() + backend_.redelivery_max, true);
    ASSERT_EQ(again.size(), 1u) << "not delivered again within " << backend_.redelivery_max.count()
                                << " ms";
    EXPECT_EQ(again[0].order_id, id);
    EXPECT_EQ(second->Figures().redelivered, 1);  // counted where it came again
  } else {
    // In memory: gone with its queue. The store's sweeper publishes the order again.
    EXPECT_TRUE(ReceiveUntil(*second, 1, Clock::now() + milliseconds(300), true).empty());
  }
}

// The depth counts the ids published and not yet received, whatever was acknowledged meanwhile
// and in whichever order. (Out of order is the case Redis's lag cannot tell: an entry older than
// the last delivered one still pending, a later one deleted with its acknowledgement.)
TEST_P(QueueConformanceTest, TheDepthCountsWhatWaitsToBeReceived) {
  std::unique_ptr<Queue> queue = Open("consumer-1", kLongRedeliveryTime);
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->Figures().depth, 0);
  EXPECT_EQ(queue->Figures().redelivered, 0);
  const std::vector<std::string> ids = MakeIds("order-waiting-", 6);
  ASSERT_TRUE(queue->Publish(ids).ok());
  // A broker's count may be a second old.
  auto depth_becomes = [&](int64_t expected) {
    const Clock::time_point deadline = Clock::now() + seconds(10);
    while (queue->Figures().depth != expected && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    return queue->Figures().depth;
  };
  EXPECT_EQ(depth_becomes(6), 6);
  const std::vector<Delivery> held = ReceiveUntil(*queue, 2, Clock::now() + seconds(10), false);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(depth_becomes(4), 4);
  ASSERT_TRUE(queue->Ack(std::span<const Delivery>(&held[1], 1)).ok());
  ASSERT_EQ(ReceiveUntil(*queue, 1, Clock::now() + seconds(10), true).size(), 1u);
  EXPECT_EQ(depth_becomes(3), 3);
  ASSERT_TRUE(queue->Ack(std::span<const Delivery>(&held[0], 1)).ok());
  ASSERT_EQ(ReceiveUntil(*queue, 3, Clock::now() + seconds(10), true).size(), 3u);
  EXPECT_EQ(depth_becomes(0), 0);
  EXPECT_EQ(queue->Figures().redelivered, 0);
}

TEST_P(QueueConformanceTest, AnAcknowledgedDeliveryIsNotDeliveredAgain) {
  std::unique_ptr<Queue> first = Open("consumer-1");
  ASSERT_NE(first, nullptr);
  const std::string id = "order-acked";
  ASSERT_TRUE(first->Publish(std::span<const std::string>(&id, 1)).ok());
  std::vector<Delivery> taken = ReceiveUntil(*first, 1, Clock::now() + seconds(10), true);
  ASSERT_EQ(taken.size(), 1u);
  first->Close();
  first.reset();
  std::unique_ptr<Queue> second = Open("consumer-2");
  ASSERT_NE(second, nullptr);
  std::vector<Delivery> again = ReceiveUntil(
      *second, 1, Clock::now() + (backend_.redelivers ? kRedeliveryTime * 2 : milliseconds(300)),
      true);
  EXPECT_TRUE(again.empty()) << again.front().order_id;
}

// An unacknowledged delivery stays with its live consumer until the redelivery time (which a
// worker never approaches): it is not handed to anyone else meanwhile.
TEST_P(QueueConformanceTest, AnUnacknowledgedDeliveryIsNotSharedWhileItsConsumerLives) {
  std::unique_ptr<Queue> first = Open("consumer-1");
  ASSERT_NE(first, nullptr);
  const std::string id = "order-held";
  ASSERT_TRUE(first->Publish(std::span<const std::string>(&id, 1)).ok());
  std::vector<Delivery> taken = ReceiveUntil(*first, 1, Clock::now() + seconds(10), false);
  ASSERT_EQ(taken.size(), 1u);
  std::unique_ptr<Queue> second = Open("consumer-2");
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(ReceiveUntil(*second, 1, Clock::now() + kRedeliveryTime / 2, true).empty());
  EXPECT_TRUE(first->Ack(taken).ok());
}

// A delivery its (live) consumer never acknowledges, e.g. because the store failed, comes again
// after the redelivery time rather than being held forever.
TEST_P(QueueConformanceTest, AnUnacknowledgedDeliveryComesAgainAfterTheRedeliveryTime) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  const std::string id = "order-dropped";
  ASSERT_TRUE(queue->Publish(std::span<const std::string>(&id, 1)).ok());
  std::vector<Delivery> taken = ReceiveUntil(*queue, 1, Clock::now() + seconds(10), false);
  ASSERT_EQ(taken.size(), 1u);
  Clock::time_point taken_at = Clock::now();
  if (backend_.redelivers) {
    std::vector<Delivery> again =
        ReceiveUntil(*queue, 1, Clock::now() + backend_.redelivery_max, true);
    ASSERT_EQ(again.size(), 1u) << "not delivered again within " << backend_.redelivery_max.count()
                                << " ms";
    EXPECT_EQ(again[0].order_id, id);
    EXPECT_GE(Clock::now() - taken_at, kRedeliveryTime - milliseconds(100));
    EXPECT_EQ(queue->Figures().redelivered, 1);
    // The first delivery's acknowledgement is late and harmless.
    EXPECT_TRUE(queue->Ack(taken).ok());
  } else {
    EXPECT_TRUE(ReceiveUntil(*queue, 1, Clock::now() + kRedeliveryTime * 2, true).empty());
  }
}

TEST_P(QueueConformanceTest, QueuesOnOneChannelShareTheWork) {
  std::unique_ptr<Queue> first = Open("consumer-1");
  std::unique_ptr<Queue> second = Open("consumer-2");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  const std::vector<std::string> ids = MakeIds("shared", 200);
  ASSERT_TRUE(first->Publish(ids).ok());
  std::mutex mu;
  std::vector<Delivery> all;
  std::atomic<bool> done{false};
  auto consume = [&](Queue* queue) {
    while (!done) {
      Result<std::vector<Delivery>> batch = queue->Receive(8, milliseconds(100));
      if (!batch.ok()) return;
      EXPECT_TRUE(queue->Ack(*batch).ok());
      std::lock_guard lock(mu);
      all.insert(all.end(), batch->begin(), batch->end());
    }
  };
  std::thread a(consume, first.get());
  std::thread b(consume, second.get());
  Clock::time_point deadline = Clock::now() + seconds(20);
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (all.size() >= ids.size()) break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (backend_.shared) {
    // Give a duplicate time to show up before judging.
    std::this_thread::sleep_for(milliseconds(300));
  }
  done = true;
  a.join();
  b.join();
  // Every id exactly once, whichever consumer took it (no failures, so no redelivery).
  EXPECT_EQ(IdsOf(all), std::multiset<std::string>(ids.begin(), ids.end()));
}

TEST_P(QueueConformanceTest, ManyIdsFromSeveralThreadsAreAllReceived) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  constexpr int kPublishers = 4;
  constexpr int kIdsPerPublisher = 1'000;
  constexpr int kReceivers = 4;
  std::mutex mu;
  std::map<std::string, int> seen;
  std::atomic<int> distinct{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int r = 0; r < kReceivers; ++r) {
    threads.emplace_back([&] {
      while (!stop) {
        Result<std::vector<Delivery>> batch = queue->Receive(16, milliseconds(100));
        if (!batch.ok()) return;
        EXPECT_TRUE(queue->Ack(*batch).ok());
        std::lock_guard lock(mu);
        for (const Delivery& delivery : *batch) {
          if (seen[delivery.order_id]++ == 0) distinct++;
        }
      }
    });
  }
  std::atomic<int> publish_failures{0};
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      std::vector<std::string> ids = MakeIds("p" + std::to_string(p), kIdsPerPublisher);
      // Batches of varying size, as the API (one id) and the sweeper (many) publish.
      size_t begin = 0;
      for (size_t size = 1; begin < ids.size(); size = size % 37 + 1) {
        size_t end = std::min(ids.size(), begin + size);
        if (!queue->Publish(std::span<const std::string>(ids).subspan(begin, end - begin)).ok()) {
          publish_failures++;
        }
        begin = end;
      }
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  Clock::time_point deadline = Clock::now() + seconds(60);
  while (distinct < kPublishers * kIdsPerPublisher && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(publish_failures.load(), 0);
  EXPECT_EQ(distinct.load(), kPublishers * kIdsPerPublisher);
  int duplicates = 0;
  for (const auto& [id, count] : seen) duplicates += count - 1;
  // No failure happened, so nothing had a reason to come twice.
  EXPECT_EQ(duplicates, 0);
}

TEST_P(QueueConformanceTest, CloseWakesEveryReceiverAndLaterCallsFail) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  constexpr int kReceivers = 4;
  std::atomic<int> closed_results{0};
  std::atomic<int64_t> slowest_ms{0};
  std::vector<std::thread> receivers;
  Clock::time_point closed_at;
  std::mutex mu;
  for (int i = 0; i < kReceivers; ++i) {
    receivers.emplace_back([&] {
      Result<std::vector<Delivery>> batch = queue->Receive(1, seconds(30));
      Clock::time_point returned = Clock::now();
      if (!batch.ok() && batch.status().reason() == "queue_closed") closed_results++;
      std::lock_guard lock(mu);
      slowest_ms = std::max<int64_t>(
          slowest_ms, std::chrono::duration_cast<milliseconds>(returned - closed_at).count());
    });
  }
  std::this_thread::sleep_for(milliseconds(300));  // let them block
  {
    std::lock_guard lock(mu);
    closed_at = Clock::now();
  }
  queue->Close();
  for (std::thread& receiver : receivers) receiver.join();
  EXPECT_EQ(closed_results.load(), kReceivers);
  EXPECT_LT(slowest_ms.load(), 2'000);
  queue->Close();  // idempotent
  const std::string id = "order-late";
  EXPECT_FALSE(queue->Publish(std::span<const std::string>(&id, 1)).ok());
  Result<std::vector<Delivery>> late = queue->Receive(1, milliseconds(10));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().reason(), "queue_closed");
}

INSTANTIATE_TEST_SUITE_P(Backends, QueueConformanceTest,
                         ::testing::Values("embedded", "redis", "rabbitmq"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Broker faults: the server stops or restarts under the queue.
class QueueFaultTest : public QueueConformanceTest {
 protected:
  Status StopServer() {
    if (factory_->redis() != nullptr) factory_->redis()->Stop();
    if (factory_->rabbitmq() != nullptr) factory_->rabbitmq()->Stop();
    return Status::Ok();
  }
  Status RestartServer() {
    if (factory_->redis() != nullptr) return factory_->redis()->Restart();
    return factory_->rabbitmq()->Restart();
  }
  // Bound on the queue being back after the server is.
  milliseconds RecoveryMax() const { return backend_.redelivery_max + seconds(30); }
};

TEST_P(QueueFaultTest, WhileTheServerIsDownPublishFailsAndReceiveReturnsEmpty) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  const std::string before = "order-before";
  ASSERT_TRUE(queue->Publish(std::span<const std::string>(&before, 1)).ok());
  ASSERT_EQ(ReceiveUntil(*queue, 1, Clock::now() + seconds(10), true).size(), 1u);

  ASSERT_TRUE(StopServer().ok());
  const std::string during = "order-during";
  for (int i = 0; i < 3; ++i) {
    Clock::time_point start = Clock::now();
    Status published = queue->Publish(std::span<const std::string>(&during, 1));
    EXPECT_EQ(published.code(), StatusCode::kUnavailable) << published.ToString();
    EXPECT_LT(Clock::now() - start, seconds(10));
    start = Clock::now();
    Result<std::vector<Delivery>> batch = queue->Receive(1, milliseconds(300));
    auto elapsed = Clock::now() - start;
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    EXPECT_TRUE(batch->empty());
    EXPECT_GE(elapsed, milliseconds(280));
    EXPECT_LT(elapsed, seconds(5));
  }

  ASSERT_TRUE(RestartServer().ok());
  // Back: a publish succeeds within the reconnect backoff, and its id arrives.
  const std::string after = "order-after";
  Clock::time_point deadline = Clock::now() + RecoveryMax();
  Status published;
  do {
    published = queue->Publish(std::span<const std::string>(&after, 1));
    if (!published.ok()) std::this_thread::sleep_for(milliseconds(100));
  } while (!published.ok() && Clock::now() < deadline);
  ASSERT_TRUE(published.ok()) << published.ToString();
  std::vector<Delivery> received = ReceiveUntil(*queue, 1, deadline, true);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].order_id, after);
}

// The server restarts while ids flow. Ids whose Publish failed are published again, as the
// sweeper does; every id must arrive. The flow goes on after the restart until some ids were
// published after it, so the queue is shown to work again, not only to deliver what it had.
TEST_P(QueueFaultTest, RestartMidStreamLosesNothing) {
  std::unique_ptr<Queue> queue = Open();
  ASSERT_NE(queue, nullptr);
  constexpr int kIdsBeforeRestart = 200;
  constexpr int kIdsAfterRestart = 200;
  std::mutex mu;
  std::set<std::string> seen;       // GUARDED_BY(mu)
  std::set<std::string> published;  // GUARDED_BY(mu): every id handed to Publish
  std::vector<std::string> after;   // GUARDED_BY(mu): published once the restart was over
  std::atomic<bool> stop{false};
  std::vector<std::thread> receivers;
  for (int r = 0; r < 2; ++r) {
    receivers.emplace_back([&] {
      while (!stop) {
        Result<std::vector<Delivery>> batch = queue->Receive(8, milliseconds(100));
        if (!batch.ok()) return;
        (void)queue->Ack(*batch);  // may fail while the server is down: delivered again later
        std::lock_guard lock(mu);
        for (const Delivery& delivery : *batch) seen.insert(delivery.order_id);
      }
    });
  }
  std::atomic<int> published_ok{0};
  std::atomic<int> published_after{0};
  std::atomic<bool> restarted{false};
  std::atomic<int> failures{0};
  const Clock::time_point publish_deadline = Clock::now() + seconds(180);
  std::thread publisher([&] {
    std::vector<std::string> retry;
    for (int next = 0; Clock::now() < publish_deadline;) {
      const bool restart_over = restarted.load();
      if (retry.empty() && restart_over && published_after >= kIdsAfterRestart) break;
      std::vector<std::string> batch = std::move(retry);
      retry.clear();
      for (int i = 0; i < 4; ++i) batch.push_back("flow-" + std::to_string(next++));
      {
        std::lock_guard lock(mu);
        published.insert(batch.begin(), batch.end());
      }
      if (queue->Publish(batch).ok()) {
        published_ok += static_cast<int>(batch.size());
        if (restart_over) {
          published_after += static_cast<int>(batch.size());
          std::lock_guard lock(mu);
          after.insert(after.end(), batch.begin(), batch.end());
        }
      } else {
        failures++;
        retry = std::move(batch);
        std::this_thread::sleep_for(milliseconds(50));
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  });
  Clock::time_point deadline = Clock::now() + seconds(60);
  while (published_ok < kIdsBeforeRestart && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  Status restart = RestartServer();
  restarted = true;
  publisher.join();
  deadline = Clock::now() + RecoveryMax();
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (seen.size() >= published.size()) break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  stop = true;
  for (std::thread& receiver : receivers) receiver.join();
  ASSERT_TRUE(restart.ok()) << restart.ToString();
  std::lock_guard lock(mu);
  ASSERT_GE(after.size(), static_cast<size_t>(kIdsAfterRestart)) << "publishing never recovered";
  std::vector<std::string> missing;
  for (const std::string& id : published) {
    if (!seen.contains(id)) missing.push_back(id);
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << published.size()
                               << " ids never arrived, e.g. " << missing.front() << " ("
                               << failures.load() << " failed publishes)";
  for (const std::string& id : after) EXPECT_TRUE(seen.contains(id)) << id;
}

INSTANTIATE_TEST_SUITE_P(Brokers, QueueFaultTest, ::testing::Values("redis", "rabbitmq"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// What only one backend promises: Redis's bounded stream, RabbitMQ's queue type.

class RedisQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = Servers::Get().Redis(&error);
    ASSERT_NE(server_, nullptr) << "redis server did not start: " << error;
  }

  RedisQueueOptions Options() const {
    RedisQueueOptions options;
    options.url = server_->url();
    options.stream = UniqueChannel();
    options.consumer = "consumer-1";
    return options;
  }

  // Runs one command on a connection of its own.
  long long Integer(const std::vector<std::string>& args) {
    redisContext* c = redisConnect("127.0.0.1", server_->port());
    EXPECT_TRUE(c != nullptr && c->err == 0);
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.c_str());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    long long value = -1;
    if (reply != nullptr && reply->type == REDIS_REPLY_INTEGER) value = reply->integer;
    if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
      value = reply->element[0]->integer;  // XPENDING's summary starts with the count
    }
    freeReplyObject(reply);
    redisFree(c);
    return value;
  }

  testing::RedisServer* server_ = nullptr;
};

TEST_F(RedisQueueTest, TheStreamStaysNearMaxLen) {
  RedisQueueOptions options = Options();
  options.max_len = 100;
  auto queue = OpenRedisQueue(options);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  const std::vector<std::string> ids = MakeIds("bounded", 2'000);
  ASSERT_TRUE((*queue)->Publish(ids).ok());
  // MAXLEN ~ trims whole stream nodes (100 entries each by default): a little over 100 remain.
  long long length = Integer({"XLEN", options.stream});
  EXPECT_GE(length, 100);
  EXPECT_LE(length, 300);
}

TEST_F(RedisQueueTest, AcknowledgedEntriesLeaveTheStreamAndThePendingList) {
  RedisQueueOptions options = Options();
  auto queue = OpenRedisQueue(options);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  const std::vector<std::string> ids = MakeIds("acked", 20);
  ASSERT_TRUE((*queue)->Publish(ids).ok());
  std::vector<Delivery> received =
      ReceiveUntil(**queue, ids.size(), Clock::now() + seconds(10), false);
  ASSERT_EQ(received.size(), ids.size());
  EXPECT_EQ(Integer({"XPENDING", options.stream, options.group}), 20);
  ASSERT_TRUE((*queue)->Ack(received).ok());
  EXPECT_EQ(Integer({"XPENDING", options.stream, options.group}), 0);
  EXPECT_EQ(Integer({"XLEN", options.stream}), 0);
  // Acknowledging again does nothing.
  EXPECT_TRUE((*queue)->Ack(received).ok());
}

TEST_F(RedisQueueTest, OpenRejectsBadOptionsAndUnreachableServers) {
  RedisQueueOptions options = Options();
  options.url = "http://127.0.0.1:1";
  EXPECT_EQ(OpenRedisQueue(options).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.consumer = "";
  EXPECT_EQ(OpenRedisQueue(options).status().code(), StatusCode::kInvalidArgument);
  Result<uint16_t> closed_port = process::PickFreePort();
  ASSERT_TRUE(closed_port.ok());
  options = Options();
  options.url = "redis://127.0.0.1:" + std::to_string(*closed_port);
  EXPECT_EQ(OpenRedisQueue(options).status().code(), StatusCode::kUnavailable);
}

class RabbitMqQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = Servers::Get().RabbitMq(&error);
    ASSERT_NE(server_, nullptr) << "RabbitMQ server did not start: " << error;
  }

  RabbitMqQueueOptions Options() const {
    RabbitMqQueueOptions options;
    options.url = server_->url();
    options.queue = UniqueChannel();
    return options;
  }

  // Declares `queue` durable with x-queue-type `type` on a connection of its own. Returns "" if
  // the broker agreed, else why not.
  std::string Declare(const std::string& queue, const std::string& type) {
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(c);
    std::string result = "connect failed";
    if (amqp_socket_open(socket, "127.0.0.1", server_->port()) == AMQP_STATUS_OK &&
        amqp_login(c, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
                .reply_type == AMQP_RESPONSE_NORMAL) {
      amqp_channel_open(c, 1);
      amqp_table_entry_t entry;
      entry.key = amqp_cstring_bytes("x-queue-type");
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = amqp_cstring_bytes(type.c_str());
      amqp_table_t arguments{1, &entry};
      amqp_queue_declare(c, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, arguments);
      amqp_rpc_reply_t reply = amqp_get_rpc_reply(c);
      result = "";
      if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
          reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        result = std::string(static_cast<char*>(close->reply_text.bytes), close->reply_text.len);
      } else if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        result = "declare failed";
      } else {
        amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
      }
      amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(c);
    return result;
  }

  testing::RabbitMqServer* server_ = nullptr;
};

TEST_F(RabbitMqQueueTest, TheQueueIsAQuorumQueue) {
  RabbitMqQueueOptions options = Options();
  auto queue = OpenRabbitMqQueue(options);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  EXPECT_EQ(Declare(options.queue, "quorum"), "");
  EXPECT_NE(Declare(options.queue, "classic"), "");
}

TEST_F(RabbitMqQueueTest, AnExistingClassicQueueIsUsedAsItIs) {
  RabbitMqQueueOptions options = Options();
  ASSERT_EQ(Declare(options.queue, "classic"), "");
  auto queue = OpenRabbitMqQueue(options);
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  const std::vector<std::string> ids = MakeIds("classic", 5);
  ASSERT_TRUE((*queue)->Publish(ids).ok());
  std::vector<Delivery> received =
      ReceiveUntil(**queue, ids.size(), Clock::now() + seconds(10), true);
  EXPECT_EQ(IdsOf(received), std::multiset<std::string>(ids.begin(), ids.end()));
}

TEST_F(RabbitMqQueueTest, OpenRejectsBadOptionsAndCredentials) {
  RabbitMqQueueOptions options = Options();
  options.url = "redis://127.0.0.1:1";
  EXPECT_EQ(OpenRabbitMqQueue(options).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.prefetch = 0;
  EXPECT_EQ(OpenRabbitMqQueue(options).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.url = "amqp://guest:wrong@127.0.0.1:" + std::to_string(server_->port()) + "/%2f";
  EXPECT_EQ(OpenRabbitMqQueue(options).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace topup
