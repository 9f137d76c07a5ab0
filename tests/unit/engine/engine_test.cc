// The engine against a real SQLite store and a small in-process fake supplier that credits every
// request it gets (no deduplication), so any resend would show up as a double credit.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "queue/embedded/embedded_queue.h"
#include "store/sqlite/sqlite_store.h"
#include "topup/random.h"

namespace topup {
namespace {

// A supplier that decides each submit from a seed: success, failure, processing, or credited but
// answered with a timeout. Queries tell the truth.
class FakeSupplier final : public SupplierChannel {
 public:
  struct Rates {
    double fail = 0, processing = 0, unknown_after_credit = 0, not_sent = 0;
  };
  FakeSupplier(uint64_t seed, Rates rates) : random_(seed), rates_(rates) {}

  const std::string& name() const override { return name_; }

  SupplierAnswer Submit(const SubmitRequest& request) override {
    std::lock_guard lock(mu_);
    submits_++;
    if (random_.Chance(rates_.not_sent)) return {SupplierOutcome::kNotSent, "", "refused"};
    SupplierOutcome final_outcome =
        random_.Chance(rates_.fail) ? SupplierOutcome::kFailed : SupplierOutcome::kSuccess;
    outcomes_[request.supplier_order_id] = final_outcome;
    if (final_outcome == SupplierOutcome::kSuccess) {
      credits_[*OrderIdOfSupplierOrderId(request.supplier_order_id)]++;
    }
    if (random_.Chance(rates_.unknown_after_credit))
      return {SupplierOutcome::kUnknown, "", "timeout"};
    if (random_.Chance(rates_.processing)) {
      processing_.insert(request.supplier_order_id);
      return {SupplierOutcome::kProcessing, "", ""};
    }
    return {final_outcome, "ref-" + request.supplier_order_id, ""};
  }

  SupplierAnswer Query(std::string_view supplier_order_id) override {
    std::lock_guard lock(mu_);
    queries_++;
    auto it = outcomes_.find(std::string(supplier_order_id));
    if (it == outcomes_.end()) return {SupplierOutcome::kNotFound, "", ""};
    // A processing attempt is still processing on its first query.
    if (processing_.erase(std::string(supplier_order_id)) > 0) {
      return {SupplierOutcome::kProcessing, "", ""};
    }
    return {it->second, "ref", ""};
  }

  std::map<std::string, int> credits() {
    std::lock_guard lock(mu_);
    return credits_;
  }
  int submits() {
    std::lock_guard lock(mu_);
    return submits_;
  }

 private:
  const std::string name_ = "fake";
  std::mutex mu_;
  SeededRandom random_;
  Rates rates_;
  std::map<std::string, SupplierOutcome> outcomes_;  // GUARDED_BY(mu_)
  std::set<std::string> processing_;                 // GUARDED_BY(mu_)
  std::map<std::string, int> credits_;               // GUARDED_BY(mu_)
  int submits_ = 0;                                  // GUARDED_BY(mu_)
  int queries_ = 0;                                  // GUARDED_BY(mu_)
};

// A supplier that credits every submit and holds its answer until ShutDown(), which answers each
// held submit as a broken connection would (kUnknown). Queries tell the truth at once.
class HoldingSupplier final : public SupplierChannel {
 public:
  const std::string& name() const override { return name_; }
  SupplierAnswer Submit(const SubmitRequest&) override {
    return {SupplierOutcome::kNotSent, "", "asynchronous calls only"};
  }
  SupplierAnswer Query(std::string_view supplier_order_id) override {
    std::lock_guard lock(mu_);
    return credited_.contains(std::string(supplier_order_id))
               ? SupplierAnswer{SupplierOutcome::kSuccess, "ref", ""}
               : SupplierAnswer{SupplierOutcome::kNotFound, "", ""};
  }
  void SubmitAsync(const SubmitRequest& request, AnswerCallback done) override {
    std::lock_guard lock(mu_);
    submits_++;
    credited_.insert(request.supplier_order_id);
    if (shut_down_) {
      done({SupplierOutcome::kNotSent, "", "shut down"});
      return;
    }
    held_.push_back(std::move(done));
  }
  void QueryAsync(std::string_view supplier_order_id, AnswerCallback done) override {
    done(Query(supplier_order_id));
  }
  void ShutDown() override {
    std::vector<AnswerCallback> held;
    {
      std::lock_guard lock(mu_);
      shut_down_ = true;
      held.swap(held_);
    }
    for (AnswerCallback& done : held) done({SupplierOutcome::kUnknown, "", "shut down"});
  }
  size_t held() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  int submits() {
    std::lock_guard lock(mu_);
    return submits_;
  }

 private:
  const std::string name_ = "holding";
  std::mutex mu_;
  std::vector<AnswerCallback> held_;  // GUARDED_BY(mu_)
  std::set<std::string> credited_;    // GUARDED_BY(mu_)
  int submits_ = 0;                   // GUARDED_BY(mu_)
  bool shut_down_ = false;            // GUARDED_BY(mu_)
};

// A supplier that credits every submit and says "processing" to it and to every query until
// Finish(), after which queries say "success".
class ProcessingSupplier final : public SupplierChannel {
 public:
  const std::string& name() const override { return name_; }
  SupplierAnswer Submit(const SubmitRequest& request) override {
    std::lock_guard lock(mu_);
    submits_++;
    credits_[*OrderIdOfSupplierOrderId(request.supplier_order_id)]++;
    return {SupplierOutcome::kProcessing, "", ""};
  }
  SupplierAnswer Query(std::string_view) override {
    std::lock_guard lock(mu_);
    queries_++;
    if (!finished_) return {SupplierOutcome::kProcessing, "", ""};
    return {SupplierOutcome::kSuccess, "ref", ""};
  }
  void Finish() {
    std::lock_guard lock(mu_);
    finished_ = true;
  }
  int submits() {
    std::lock_guard lock(mu_);
    return submits_;
  }
  int queries() {
    std::lock_guard lock(mu_);
    return queries_;
  }
  std::map<std::string, int> credits() {
    std::lock_guard lock(mu_);
    return credits_;
  }

 private:
  const std::string name_ = "fake";
  std::mutex mu_;
  bool finished_ = false;               // GUARDED_BY(mu_)
  int submits_ = 0;                     // GUARDED_BY(mu_)
  int queries_ = 0;                     // GUARDED_BY(mu_)
  std::map<std::string, int> credits_;  // GUARDED_BY(mu_)
};

// Lets a router own a channel that the test keeps looking at.
class BorrowedChannel final : public SupplierChannel {
 public:
  explicit BorrowedChannel(SupplierChannel* target) : target_(target) {}
  const std::string& name() const override { return target_->name(); }
  SupplierAnswer Submit(const SubmitRequest& request) override { return target_->Submit(request); }
  SupplierAnswer Query(std::string_view id) override { return target_->Query(id); }
  void SubmitAsync(const SubmitRequest& request, AnswerCallback done) override {
    target_->SubmitAsync(request, std::move(done));
  }
  void QueryAsync(std::string_view id, AnswerCallback done) override {
    target_->QueryAsync(id, std::move(done));
  }
  void ShutDown() override { target_->ShutDown(); }

 private:
  SupplierChannel* target_;
};

// An EmbeddedQueue that tags every delivery and remembers which tags it gave and which came back
// acknowledged, so a test can tell an acknowledgement of a delivery that never existed.
class RecordingQueue final : public Queue {
 public:
  Status Publish(std::span<const std::string> order_ids) override {
    return queue_.Publish(order_ids);
  }
  Result<std::vector<Delivery>> Receive(size_t max_count, std::chrono::milliseconds wait) override {
    Result<std::vector<Delivery>> received = queue_.Receive(max_count, wait);
    if (!received.ok()) return received;
    std::lock_guard lock(mu_);
    for (Delivery& delivery : *received) {
      delivery.tag = ++last_tag_;
      given_.insert(delivery.tag);
    }
    return received;
  }
  Status Ack(std::span<const Delivery> deliveries) override {
    std::lock_guard lock(mu_);
    for (const Delivery& delivery : deliveries) {
      if (!given_.contains(delivery.tag) || !acked_.insert(delivery.tag).second) strange_acks_++;
    }
    return Status::Ok();
  }
  void Close() override { queue_.Close(); }
  void Wake() override { queue_.Wake(); }

  size_t given() {
    std::lock_guard lock(mu_);
    return given_.size();
  }
  size_t acked() {
    std::lock_guard lock(mu_);
    return acked_.size();
  }
  // Acknowledgements of a tag never given, or given once and acknowledged again.
  int strange_acks() {
    std::lock_guard lock(mu_);
    return strange_acks_;
  }

 private:
  EmbeddedQueue queue_;
  std::mutex mu_;
  uint64_t last_tag_ = 0;     // GUARDED_BY(mu_)
  std::set<uint64_t> given_;  // GUARDED_BY(mu_)
  std::set<uint64_t> acked_;  // GUARDED_BY(mu_)
  int strange_acks_ = 0;      // GUARDED_BY(mu_)
};

// An EmbeddedQueue that logs, in order, each Receive that may wait (when it starts and when it
// returns) and each Wake, so that a test can tell what ended a wait.
class WaitLoggingQueue final : public Queue {
 public:
  Status Publish(std::span<const std::string> order_ids) override {
    return queue_.Publish(order_ids);
  }
  Result<std::vector<Delivery>> Receive(size_t max_count, std::chrono::milliseconds wait) override {
    const bool waits = wait > std::chrono::milliseconds(0);
    if (waits) Log("receive waits");
    Result<std::vector<Delivery>> received = queue_.Receive(max_count, wait);
    if (waits) Log("receive returns");
    return received;
  }
  Status Ack(std::span<const Delivery> deliveries) override { return queue_.Ack(deliveries); }
  void Close() override { queue_.Close(); }
  void Wake() override {
    Log("wake");
    queue_.Wake();
  }

  // Waits at most `bound` until `entry` was logged.
  bool WaitFor(const std::string& entry, std::chrono::seconds bound) {
    std::unique_lock lock(mu_);
    return logged_.wait_for(
        lock, bound, [&] { return std::find(log_.begin(), log_.end(), entry) != log_.end(); });
  }
  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  void Log(std::string entry) {
    std::lock_guard lock(mu_);
    log_.push_back(std::move(entry));
    logged_.notify_all();
  }

  EmbeddedQueue queue_;
  std::mutex mu_;
  std::condition_variable logged_;
  std::vector<std::string> log_;  // GUARDED_BY(mu_)
};

// Runs nothing: for an engine run step by step whose passes are never called.
class IdleWaker final : public EngineLoopWaker {
 public:
  void Wake(EngineLoop) override {}
};

std::unique_ptr<ChannelRouter> RouterFor(SupplierChannel* channel, Random* random) {
  RoutingConfig config;
  config.channels.push_back(ChannelConfig{.name = channel->name(), .base_url = "unused"});
  auto router = ChannelRouter::Create(
      config,
      [channel](const ChannelConfig&) -> Result<std::unique_ptr<SupplierChannel>> {
        return std::unique_ptr<SupplierChannel>(new BorrowedChannel(channel));
      },
      random);
  EXPECT_TRUE(router.ok());
  return std::move(*router);
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-engine-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateMerchant("m1", "m1", clock_.NowMs()).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 100'000'000, "", clock_.NowMs()).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Accepts n orders (50 yuan each) straight into the store and publishes them.
  std::vector<std::string> AcceptOrders(int n, Queue* queue, int64_t deadline_after_ms = 180'000) {
    std::vector<std::string> ids = StoreOrders(n, *store_, deadline_after_ms);
    EXPECT_TRUE(queue->Publish(ids).ok());
    return ids;
  }

  // Accepts n orders (50 yuan each) into `store`, due 5 s after acceptance as the API's are.
  std::vector<std::string> StoreOrders(int n, Store& store, int64_t deadline_after_ms = 180'000) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      Order order;
      order.order_id = "o" + std::to_string(1000 + i);
      order.merchant_id = "m1";
      order.merchant_order_id = "mo" + std::to_string(i);
      order.phone = "13800138000";
      order.face_value_yuan = 50;
      order.price_fen = 5000;
      order.created_ms = order.updated_ms = clock_.NowMs();
      order.deadline_ms = order.created_ms + deadline_after_ms;
      order.next_check_ms = order.created_ms + 5'000;
      auto accepted = store.AcceptOrder(order);
      EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
      ids.push_back(order.order_id);
    }
    return ids;
  }

  // Hands `id` to `engine` as the API does once its accept committed: the order as stored.
  static bool HandOff(Engine& engine, Store& store, const std::string& id) {
    Result<Order> order = store.GetOrder(id);
    EXPECT_TRUE(order.ok()) << order.status().ToString();
    return order.ok() && engine.HandOff(*std::move(order));
  }

  // Waits (bounded, in real time) until no order is open, moving the fake clock along so that
  // scheduled polls come due.
  bool WaitAllFinal(std::chrono::seconds bound) {
    auto end = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < end) {
      auto counts = store_->CountOrders();
      if (!counts.ok()) return false;
      int64_t open = 0;
      for (auto [status, n] : *counts) open += IsFinal(status) ? 0 : n;
      if (open == 0) return true;
      clock_.AdvanceMs(200);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void ExpectEachSuccessCreditedOnceAndNothingElse(FakeSupplier& supplier,
                                                   const std::vector<std::string>& ids) {
    std::map<std::string, int> credits = supplier.credits();
    for (const std::string& id : ids) {
      auto order = store_->GetOrder(id);
      ASSERT_TRUE(order.ok());
      int n = credits.count(id) ? credits[id] : 0;
      if (order->status == OrderStatus::kSuccess) {
        EXPECT_EQ(n, 1) << id;
      } else {
        EXPECT_EQ(order->status, OrderStatus::kFailed) << id;
        EXPECT_EQ(n, 0) << id << " was credited but failed and refunded";
      }
    }
    auto audit = store_->AuditLedger();
    ASSERT_TRUE(audit.ok());
    EXPECT_TRUE(audit->balanced) << audit->problems;
  }

  EngineOptions Options() {
    EngineOptions options;
    options.owner = "test-node";
    options.max_in_flight = 8;
    options.sweep_interval_ms = 20;
    options.policy.retry_delay_min_ms = 10;
    options.policy.not_found_grace_ms = 2'000;
    return options;
  }

  // Opens the breaker of the channel "fake" of `router` with a run of failures.
  void OpenTheBreaker(ChannelRouter& router) {
    auto channel = router.Find("fake");
    for (int i = 0; i < 50; ++i) {
      channel->breaker().Record(CircuitBreaker::Outcome::kFailure, clock_.NowMs());
    }
    ASSERT_EQ(channel->breaker().state(clock_.NowMs()), CircuitBreaker::State::kOpen);
  }

  std::vector<OrderEvent> Events(const std::string& order_id) {
    auto events = store_->ListEvents(order_id);
    EXPECT_TRUE(events.ok());
    return events.ok() ? *events : std::vector<OrderEvent>();
  }

  std::filesystem::path dir_;
  SeededRandom random_{99};
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(EngineTest, HappyPathSucceedsEveryOrderOnce) {
  EmbeddedQueue queue;
  FakeSupplier supplier(1, {});
  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  auto ids = AcceptOrders(200, &queue);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
  EXPECT_EQ(supplier.submits(), 200);
}

TEST_F(EngineTest, FaultsNeverCreditTwiceAndEveryOrderEnds) {
  EmbeddedQueue queue;
  FakeSupplier supplier(
      7, {.fail = 0.2, .processing = 0.2, .unknown_after_credit = 0.1, .not_sent = 0.05});
  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  auto ids = AcceptOrders(300, &queue);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(90)));
  engine.Stop();
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

TEST_F(EngineTest, LostQueueMessagesAreSweptFromTheStore) {
  EmbeddedQueue queue;
  EmbeddedQueue black_hole;  // the ids go here and are never read
  FakeSupplier supplier(3, {});
  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  auto ids = AcceptOrders(50, &black_hole);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));  // the fake clock passes redeliver_after
  engine.Stop();
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

TEST_F(EngineTest, AnAttemptLeftByADeadWorkerIsQueriedNotResent) {
  EmbeddedQueue queue;
  FakeSupplier supplier(5, {});
  auto ids = AcceptOrders(1, &queue);
  // A worker claims the order, records its attempt, sends it, and dies before recording the answer.
  const std::string claim_ids[] = {ids[0]};
  auto claimed = store_->ClaimOrders(claim_ids, "dead-worker", clock_.NowMs(), 5'000);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  Transition start = PlanNextAttempt((*claimed)[0], OrderPolicy{}, "fake", clock_.NowMs());
  ASSERT_TRUE(*store_->ApplyTransition(start));
  supplier.Submit({start.supplier_order_id, "13800138000", 50});

  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));  // once the dead worker's lease lapses
  engine.Stop();
  EXPECT_EQ(supplier.submits(), 1);
  EXPECT_EQ(store_->GetOrder(ids[0])->status, OrderStatus::kSuccess);
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

// The first write of an order takes its lease with the attempt's start: while another node holds
// the lease, nothing is sent; once it lapses, the sweeper brings the order back and it is sent
// once.
TEST_F(EngineTest, AnOrderLeasedByAnotherNodeIsNotStartedUntilItsLeaseLapses) {
  EmbeddedQueue queue;
  FakeSupplier supplier(4, {});
  auto ids = AcceptOrders(1, &queue);
  const std::string claim_ids[] = {ids[0]};
  ASSERT_EQ(store_->ClaimOrders(claim_ids, "other-node", clock_.NowMs(), 5'000)->size(), 1u);
  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  // The delivery is taken and let go of (the other node finishes its orders).
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (queue.Figures().depth != 0 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(supplier.submits(), 0);
  EXPECT_EQ(store_->GetOrder(ids[0])->lease_owner, "other-node");
  EXPECT_EQ(store_->GetOrder(ids[0])->attempt_count, 0);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  EXPECT_EQ(supplier.submits(), 1);
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

// An attempt that answers "processing" is asked again by the node that holds the order, from
// memory: the lease is renewed, and nothing else is written until the answer changes.
TEST_F(EngineTest, AProcessingAttemptIsPolledInMemoryWritingOnlyWhenItChanges) {
  EmbeddedQueue queue;
  ProcessingSupplier supplier;
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.lease_ms = 600;  // renewed every 200 ms
  Engine engine(store_.get(), &queue, router.get(), &clock_, options);
  engine.Start();
  auto ids = AcceptOrders(1, &queue);
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (supplier.submits() == 0 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(supplier.submits(), 1);
  const Order started = *store_->GetOrder(ids[0]);
  ASSERT_EQ(started.status, OrderStatus::kCharging);
  const size_t events = Events(ids[0]).size();
  // Polls come due every 200 ms of the fake clock; renewals every 200 ms of real time.
  auto renewed = [&] {
    return store_->GetOrder(ids[0])->lease_expires_ms > started.lease_expires_ms;
  };
  while ((supplier.queries() < 5 || !renewed()) && std::chrono::steady_clock::now() < bound) {
    clock_.AdvanceMs(50);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(supplier.queries(), 5);
  EXPECT_GE(engine.counters().polled_in_memory.load(), 5);
  const Order polled = *store_->GetOrder(ids[0]);
  EXPECT_EQ(polled.status, OrderStatus::kCharging);
  EXPECT_EQ(polled.attempt_count, 1);
  EXPECT_EQ(polled.updated_ms, started.updated_ms);  // no transition was written
  EXPECT_EQ(polled.next_check_ms, started.next_check_ms);
  EXPECT_EQ(polled.lease_owner, "test-node");
  EXPECT_GT(polled.lease_expires_ms, started.lease_expires_ms);  // renewed
  EXPECT_EQ(Events(ids[0]).size(), events);
  EXPECT_EQ(engine.counters().claimed.load(), 1);  // never went back through the queue

  supplier.Finish();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(30)));
  engine.Stop();
  const Order done = *store_->GetOrder(ids[0]);
  EXPECT_EQ(done.status, OrderStatus::kSuccess);
  EXPECT_EQ(done.lease_owner, "");
  EXPECT_EQ(Events(ids[0]).size(), events + 1);  // succeeded
  EXPECT_EQ(supplier.submits(), 1);
  EXPECT_EQ(supplier.credits()[ids[0]], 1);
}

// A node that stops while it polls an attempt in memory has written nothing of the polls: once its
// lease lapses, another node's sweeper takes the order up from the store and queries it, never
// resends it.
TEST_F(EngineTest, AnOrderPolledInMemoryByAStoppedNodeIsTakenUpByTheSweeper) {
  EmbeddedQueue queue;
  ProcessingSupplier supplier;
  auto router = RouterFor(&supplier, &random_);
  auto ids = AcceptOrders(1, &queue);
  {
    Engine first(store_.get(), &queue, router.get(), &clock_, Options());
    first.Start();
    const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (first.counters().polled_in_memory.load() < 2 &&
           std::chrono::steady_clock::now() < bound) {
      clock_.AdvanceMs(50);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(first.counters().polled_in_memory.load(), 2);
    first.Stop();
  }
  const Order left = *store_->GetOrder(ids[0]);
  EXPECT_EQ(left.status, OrderStatus::kCharging);
  EXPECT_EQ(left.attempt_count, 1);
  supplier.Finish();

  EmbeddedQueue other_queue;  // nothing is published to the second node: only its sweeper finds it
  EngineOptions options = Options();
  options.owner = "second-node";
  Engine second(store_.get(), &other_queue, router.get(), &clock_, options);
  second.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  second.Stop();
  EXPECT_EQ(store_->GetOrder(ids[0])->status, OrderStatus::kSuccess);
  EXPECT_GE(second.counters().swept.load(), 1);
  EXPECT_GE(second.counters().queried.load(), 1);
  EXPECT_EQ(second.counters().submitted.load(), 0);
  EXPECT_EQ(supplier.submits(), 1);
  EXPECT_EQ(supplier.credits()[ids[0]], 1);
  auto audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
}

TEST_F(EngineTest, AnAttemptThatNeverArrivedIsReplacedAfterTheGracePeriod) {
  EmbeddedQueue queue;
  FakeSupplier supplier(6, {});
  auto ids = AcceptOrders(1, &queue);
  const std::string claim_ids[] = {ids[0]};
  auto claimed = store_->ClaimOrders(claim_ids, "dead-worker", clock_.NowMs(), 5'000);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  // The worker recorded attempt 1 and died before sending it.
  ASSERT_TRUE(*store_->ApplyTransition(
      PlanNextAttempt((*claimed)[0], OrderPolicy{}, "fake", clock_.NowMs())));

  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  auto order = store_->GetOrder(ids[0]);
  EXPECT_EQ(order->status, OrderStatus::kSuccess);
  EXPECT_EQ(order->attempt_count, 2);
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

TEST_F(EngineTest, OrdersPastTheirDeadlineFailAndAreRefunded) {
  EmbeddedQueue queue;
  FakeSupplier supplier(8, {.fail = 1.0});
  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  auto ids = AcceptOrders(20, &queue);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  for (const std::string& id : ids) EXPECT_EQ(store_->GetOrder(id)->status, OrderStatus::kFailed);
  auto merchant = store_->GetMerchant("m1");
  EXPECT_EQ(merchant->balance_fen, 100'000'000);  // every fen came back
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

TEST_F(EngineTest, AnOrderNoChannelAdmitsWaitsAndIsTakenUpOnceTheBreakerCloses) {
  EmbeddedQueue queue;
  FakeSupplier supplier(9, {});
  auto router = RouterFor(&supplier, &random_);
  OpenTheBreaker(*router);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  auto ids = AcceptOrders(20, &queue);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  // Every wait was a transition the store took, and each order says once why it waited.
  EXPECT_EQ(engine.counters().store_errors, 0);
  for (const std::string& id : ids) {
    EXPECT_EQ(store_->GetOrder(id)->status, OrderStatus::kSuccess) << id;
    int waits = 0;
    bool waited_told = false;
    for (const OrderEvent& event : Events(id)) {
      waits += event.kind == "waiting_for_channel" ? 1 : 0;
      if (event.kind == "attempt_started") {
        waited_told = event.detail.find("for a channel") != std::string::npos;
      }
    }
    EXPECT_EQ(waits, 1) << id;
    EXPECT_TRUE(waited_told) << id;
  }
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

TEST_F(EngineTest, WaitsBeyondTheBoundCountFromAcceptanceAndOrdersStillEnd) {
  EmbeddedQueue queue;
  FakeSupplier supplier(9, {});
  auto router = RouterFor(&supplier, &random_);
  OpenTheBreaker(*router);
  EngineOptions options = Options();
  options.max_remembered_waits = 1;
  Engine engine(store_.get(), &queue, router.get(), &clock_, options);
  engine.Start();
  auto ids = AcceptOrders(20, &queue);
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  // One wait remembered at a time: the others counted theirs from acceptance, which still paces
  // their looks, and every order ends in an attempt; none says more than once that it waits.
  EXPECT_GT(engine.counters().waits_not_remembered, 0);
  for (const std::string& id : ids) {
    EXPECT_EQ(store_->GetOrder(id)->status, OrderStatus::kSuccess) << id;
    int waits = 0;
    for (const OrderEvent& event : Events(id)) waits += event.kind == "waiting_for_channel";
    EXPECT_LE(waits, 1) << id;
  }
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

TEST_F(EngineTest, ALateOrderSaysWhyItIsLate) {
  EmbeddedQueue queue;
  FakeSupplier supplier(10, {});
  // A 12 s promise, and a worker that recorded attempt 1 and died before sending it: the attempt
  // is taken as lost only 13 s after it was recorded (attempt timeout, grace, margin).
  auto ids = AcceptOrders(1, &queue, 12'000);
  const std::string claim_ids[] = {ids[0]};
  auto claimed = store_->ClaimOrders(claim_ids, "dead-worker", clock_.NowMs(), 5'000);
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1);
  ASSERT_TRUE(*store_->ApplyTransition(PlanNextAttempt(
      (*claimed)[0], OrderPolicy{.attempt_timeout_ms = 1'000}, "fake", clock_.NowMs())));
  auto router = RouterFor(&supplier, &random_);
  Engine engine(store_.get(), &queue, router.get(), &clock_, Options());
  engine.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  auto order = store_->GetOrder(ids[0]);
  EXPECT_EQ(order->status, OrderStatus::kFailed);  // refunded: no time for another attempt
  EXPECT_GT(order->finished_ms, order->deadline_ms);
  std::vector<std::string> reasons;
  for (const OrderEvent& event : Events(ids[0])) {
    if (event.kind == kDeadlineMissedEvent) reasons.push_back(event.detail);
  }
  ASSERT_EQ(reasons.size(), 1u);  // written by its first step past the deadline, and only then
  EXPECT_NE(reasons[0].find("waiting for a submit's answer for 1"), std::string::npos)
      << reasons[0];
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

// A stop that cannot wait for the supplier: the calls in flight are cut, their attempts recorded
// as of unknown outcome (live, to be queried), and the leases handed back, so another node takes
// the orders up at once, queries them, and sends nothing again.
TEST_F(EngineTest, AStopCutsTheCallsInFlightAndHandsTheLeasesBack) {
  EmbeddedQueue queue;
  HoldingSupplier supplier;
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.lease_ms = 3'600'000;  // a lease left behind would outlast the wait below
  auto engine = std::make_unique<Engine>(store_.get(), &queue, router.get(), &clock_, options);
  engine->Start();
  auto ids = AcceptOrders(5, &queue);
  const auto held_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (supplier.held() < ids.size() && std::chrono::steady_clock::now() < held_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(supplier.held(), ids.size());

  const auto stop_began = std::chrono::steady_clock::now();
  engine->Stop(std::chrono::milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - stop_began, std::chrono::seconds(5));
  engine.reset();
  for (const std::string& id : ids) {
    Result<Order> order = store_->GetOrder(id);
    ASSERT_TRUE(order.ok());
    EXPECT_EQ(order->status, OrderStatus::kUnknown) << id;
    EXPECT_EQ(order->attempt_count, 1) << id;
    EXPECT_FALSE(order->supplier_order_id.empty()) << id << ": the attempt stays live";
    EXPECT_EQ(order->lease_owner, "") << id;
    EXPECT_EQ(order->lease_expires_ms, 0) << id;
  }

  // Another node takes them up at once (its clock is not moved past the lease) and queries them:
  // the held supplier still answers queries, and would count a resend as a submit.
  options.owner = "other-node";
  Engine other(store_.get(), &queue, router.get(), &clock_, options);
  other.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  other.Stop();
  for (const std::string& id : ids) EXPECT_EQ(store_->GetOrder(id)->status, OrderStatus::kSuccess);
  EXPECT_EQ(supplier.submits(), static_cast<int>(ids.size()))
      << "an attempt of unknown outcome was sent again";
}

// An order handed to the engine by the API of its own process is worked from the hand-off alone:
// the queue gives nothing and is acknowledged nothing.
TEST_F(EngineTest, AHandedOffOrderIsWorkedWithoutAQueueDelivery) {
  RecordingQueue queue;
  FakeSupplier supplier(11, {});
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.max_in_flight = 64;
  options.local_handoff = true;
  Engine engine(store_.get(), &queue, router.get(), &clock_, options);
  engine.Start();
  auto ids = StoreOrders(40, *store_);
  for (const std::string& id : ids) EXPECT_TRUE(HandOff(engine, *store_, id)) << id;
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
  EXPECT_EQ(supplier.submits(), 40);
  EXPECT_EQ(engine.counters().handed_off.load(), 40);
  EXPECT_EQ(queue.given(), 0u);
  EXPECT_EQ(queue.acked(), 0u);
  EXPECT_EQ(queue.strange_acks(), 0);
}

// With local hand-offs the idle dispatcher waits in Queue::Receive (it does not look at the queue
// over and over), and a hand-off ends that wait, however long: here an hour, so the order is
// finished within the test's bound only if the hand-off woke the receive.
TEST_F(EngineTest, AHandOffWakesADispatcherWaitingInTheQueue) {
  WaitLoggingQueue queue;
  FakeSupplier supplier(13, {});
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.local_handoff = true;
  options.receive_wait = std::chrono::hours(1);
  Engine engine(store_.get(), &queue, router.get(), &clock_, options);
  engine.Start();
  ASSERT_TRUE(queue.WaitFor("receive waits", std::chrono::seconds(30)));
  auto ids = StoreOrders(1, *store_);
  ASSERT_TRUE(HandOff(engine, *store_, ids[0]));
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();  // wakes the dispatcher's next wait in the queue too
  const std::vector<std::string> log = queue.log();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0], "receive waits");
  EXPECT_EQ(log[1], "wake");
  EXPECT_EQ(log[2], "receive returns");
  EXPECT_EQ(supplier.submits(), 1);
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

// The same ids handed off and on the queue too (as the sweeper would publish an order a slow node
// had not taken yet): each order is sent once, each real delivery is acknowledged once, and
// nothing is acknowledged for a hand-off.
TEST_F(EngineTest, AnOrderHandedOffAndOnTheQueueIsSentOnce) {
  RecordingQueue queue;
  FakeSupplier supplier(12, {});
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.max_in_flight = 64;
  options.local_handoff = true;
  Engine engine(store_.get(), &queue, router.get(), &clock_, options);
  auto ids = StoreOrders(40, *store_);
  ASSERT_TRUE(queue.Publish(ids).ok());
  for (const std::string& id : ids) EXPECT_TRUE(HandOff(engine, *store_, id)) << id;
  engine.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  engine.Stop();
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
  EXPECT_EQ(supplier.submits(), 40);
  EXPECT_GT(queue.given(), 0u);
  EXPECT_EQ(queue.acked(), queue.given());
  EXPECT_EQ(queue.strange_acks(), 0);
}

// A node without room refuses hand-offs; the refused order goes through the shared queue to a
// node that has room.
TEST_F(EngineTest, AFullNodeRefusesHandOffsAndTheQueueCarriesThemToAnother) {
  EmbeddedQueue queue;
  HoldingSupplier supplier;
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.max_in_flight = 2;
  options.local_handoff = true;
  Engine full(store_.get(), &queue, router.get(), &clock_, options);
  full.Start();
  auto ids = StoreOrders(3, *store_);
  EXPECT_TRUE(HandOff(full, *store_, ids[0]));
  EXPECT_TRUE(HandOff(full, *store_, ids[1]));
  EXPECT_FALSE(HandOff(full, *store_, ids[2]))
      << "two calls in flight or waiting fill max_in_flight 2";
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (supplier.held() < 2 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(supplier.held(), 2u);
  EXPECT_FALSE(HandOff(full, *store_, ids[2])) << "two calls in flight fill max_in_flight 2";

  ASSERT_TRUE(queue.Publish(std::span(&ids[2], 1)).ok());  // what the API does with a refusal
  options.owner = "other-node";
  Engine other(store_.get(), &queue, router.get(), &clock_, options);
  other.Start();
  while (supplier.held() < 3 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(supplier.held(), 3u);
  EXPECT_EQ(other.counters().submitted.load(), 1);
  EXPECT_EQ(full.counters().submitted.load(), 2);
  supplier.ShutDown();  // the held answers come back as unknown; the queries then find credits
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));
  full.Stop();
  other.Stop();
  for (const std::string& id : ids) EXPECT_EQ(store_->GetOrder(id)->status, OrderStatus::kSuccess);
  EXPECT_EQ(supplier.submits(), 3);
}

// A process that accepted orders and handed them to its own engine is SIGKILLed before the engine
// worked any of them: nothing was leased or published, and the store alone brings them back. The
// sweeper of another node takes each up once it is due and sends it once.
TEST_F(EngineTest, AProcessKilledWithHandOffsNotYetWorkedLosesNone) {
  constexpr int kOrders = 30;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child opens the store file anew (a connection must not cross a fork), accepts, hands
    // off, and dies without running a single pass of its engine.
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    if (!store.ok()) _exit(2);
    EmbeddedQueue queue;
    FakeSupplier supplier(13, {});
    auto router = RouterFor(&supplier, &random_);
    EngineOptions options = Options();
    options.max_in_flight = 64;
    options.local_handoff = true;
    options.owner = "killed-node";
    Engine engine(store->get(), &queue, router.get(), &clock_, options);
    IdleWaker waker;
    engine.StartStepping(&waker);
    for (const std::string& id : StoreOrders(kOrders, **store)) {
      if (!HandOff(engine, **store, id)) _exit(3);
    }
    raise(SIGKILL);
    _exit(4);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wait_status)) << "the child exited with " << WEXITSTATUS(wait_status);
  ASSERT_EQ(WTERMSIG(wait_status), SIGKILL);
  auto counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], kOrders) << "accepted, durable, never worked";

  EmbeddedQueue other_queue;  // nothing is published to it: only its sweeper finds the orders
  FakeSupplier supplier(14, {});
  auto router = RouterFor(&supplier, &random_);
  EngineOptions options = Options();
  options.owner = "surviving-node";
  Engine survivor(store_.get(), &other_queue, router.get(), &clock_, options);
  survivor.Start();
  ASSERT_TRUE(WaitAllFinal(std::chrono::seconds(60)));  // the fake clock passes redeliver_after
  survivor.Stop();
  EXPECT_EQ(survivor.counters().swept.load(), kOrders);
  EXPECT_EQ(supplier.submits(), kOrders);
  std::vector<std::string> ids;
  for (int i = 0; i < kOrders; ++i) ids.push_back("o" + std::to_string(1000 + i));
  ExpectEachSuccessCreditedOnceAndNothingElse(supplier, ids);
}

}  // namespace
}  // namespace topup
