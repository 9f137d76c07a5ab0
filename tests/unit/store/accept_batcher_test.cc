#include "store/sqlite/accept_batcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/group_commit_writer.h"
#include "store/sqlite/sqlite_connection.h"
#include "store_test_util.h"

namespace topup::sqlite {
namespace {

using testing_util::ScopedTempDir;

// A stand-in for the store's write of a batch: answers every order as created, and fails the
// whole write when it holds the order id `failing_id`. Remembers the order ids of each run.
class RecordingWrite {
 public:
  explicit RecordingWrite(std::string failing_id) : failing_id_(std::move(failing_id)) {}

  Status operator()(SqliteConnection&, std::span<const Order> orders,
                    std::vector<Result<AcceptResult>>& answers) {
    std::vector<std::string> ids;
    for (const Order& order : orders) ids.push_back(order.order_id);
    {
      std::lock_guard lock(mu_);
      runs_.push_back(ids);
    }
    answers.clear();
    for (const Order& order : orders) {
      if (order.order_id == failing_id_) {
        return AlreadyExists("order_id_exists", "order id '" + order.order_id + "' is taken");
      }
      answers.push_back(AcceptResult{order, true});
    }
    return Status::Ok();
  }

  std::vector<std::vector<std::string>> runs() {
    std::lock_guard lock(mu_);
    return runs_;
  }

 private:
  const std::string failing_id_;
  std::mutex mu_;
  std::vector<std::vector<std::string>> runs_;
};

// Every answer by order id, each id answered how many times.
class Answers {
 public:
  AcceptCallback For(const std::string& id) {
    return [this, id](Result<AcceptResult> answer) {
      std::lock_guard lock(mu_);
      answers_.emplace(id, std::move(answer));
      cv_.notify_all();
    };
  }
  // Waits up to 10 s for `n` answers.
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return answers_.size() >= n; });
  }
  std::multimap<std::string, Result<AcceptResult>> Take() {
    std::lock_guard lock(mu_);
    return answers_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::string, Result<AcceptResult>> answers_;
};

class AcceptBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<SqliteConnection>> connection =
        SqliteConnection::Open(dir_.File("batcher.db"), SqliteConnection::Mode::kReadWrite, 5000);
    ASSERT_TRUE(connection.ok()) << connection.status().ToString();
    writer_ =
        std::make_unique<GroupCommitWriter>(std::move(connection).value(), GroupCommitOptions{});
    writer_->SetCommitObserver([this](size_t writes, std::chrono::microseconds) {
      std::lock_guard lock(mu_);
      commits_.push_back(writes);
    });
  }

  // Holds the writer thread in a write of its own until the returned promise is set (or 10 s
  // passed), so that what is added meanwhile waits.
  std::promise<void> HoldWriter() {
    std::promise<void> release;
    auto released = std::make_shared<std::shared_future<void>>(release.get_future().share());
    writer_->Post(
        [released](SqliteConnection&) {
          released->wait_for(std::chrono::seconds(10));
          return Status::Ok();
        },
        [](Status) {});
    // Taken by the writer thread: what is posted from now on goes into a later transaction.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (writer_->queued_ops() > 0 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    return release;
  }

  static Order NewOrder(const std::string& id) {
    Order order;
    order.order_id = id;
    order.merchant_id = "m1";
    order.merchant_order_id = "mo-" + id;
    return order;
  }

  // Adds the orders `ids` while the writer is held, so that they wait together, then lets the
  // writer go and stops it once every order was answered (bounded: 10 s).
  void AddWhileHeld(AcceptBatcher& batcher, Answers& answers, const std::vector<std::string>& ids) {
    std::promise<void> release = HoldWriter();
    for (const std::string& id : ids) batcher.Add(NewOrder(id), answers.For(id));
    release.set_value();
    EXPECT_TRUE(answers.WaitFor(ids.size()));
    writer_.reset();  // every write ended
  }

  static std::vector<std::string> Ids(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back("o" + std::to_string(i));
    return ids;
  }

  std::vector<size_t> commits() {
    std::lock_guard lock(mu_);
    return commits_;
  }

  ScopedTempDir dir_;
  std::mutex mu_;
  std::vector<size_t> commits_;  // guarded by mu_
  std::unique_ptr<GroupCommitWriter> writer_;
};

TEST_F(AcceptBatcherTest, AcceptsAddedWhileTheWriterIsBusyShareOneWrite) {
  RecordingWrite write("");
  AcceptBatcher batcher(writer_.get(), std::ref(write), 100, 1000);
  Answers answers;
  AddWhileHeld(batcher, answers, Ids(10));
  const auto runs = write.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].size(), 10u);
  auto taken = answers.Take();
  EXPECT_EQ(taken.size(), 10u);
  for (auto& [id, answer] : taken) {
    ASSERT_TRUE(answer.ok()) << id;
    EXPECT_EQ(answer->order.order_id, id);
  }
  // The holding write, then the batch: told as the ten callers' writes it held.
  EXPECT_EQ(commits(), (std::vector<size_t>{1, 10}));
}

TEST_F(AcceptBatcherTest, ABatchHoldsAtMostMaxOrders) {
  RecordingWrite write("");
  AcceptBatcher batcher(writer_.get(), std::ref(write), 4, 1000);
  Answers answers;
  AddWhileHeld(batcher, answers, Ids(10));
  std::vector<size_t> sizes;
  for (const auto& run : write.runs()) sizes.push_back(run.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 4, 2}));
  EXPECT_EQ(answers.Take().size(), 10u);
}

TEST_F(AcceptBatcherTest, AFailedBatchIsWrittenAgainOneOrderAtATime) {
  RecordingWrite write("bad");
  AcceptBatcher batcher(writer_.get(), std::ref(write), 100, 1000);
  Answers answers;
  AddWhileHeld(batcher, answers, {"a", "bad", "c"});
  auto taken = answers.Take();
  ASSERT_EQ(taken.size(), 3u) << "each order is answered once";
  EXPECT_EQ(taken.find("bad")->second.status().reason(), "order_id_exists");
  EXPECT_TRUE(taken.find("a")->second.ok());
  EXPECT_TRUE(taken.find("c")->second.ok());
  // The batch of three (run again in a savepoint after it failed), then each order alone.
  const auto runs = write.runs();
  ASSERT_GE(runs.size(), 4u);
  EXPECT_EQ(runs.front().size(), 3u);
  EXPECT_EQ(runs.back().size(), 1u);
}

// The accepts whose write has not started are bounded, as the writer's queue is: beyond the
// bound an accept is refused at once, and the room comes back as the writes start.
TEST_F(AcceptBatcherTest, AcceptsBeyondTheWaitingBoundAreRefusedUntilTheWritesStart) {
  RecordingWrite write("");
  AcceptBatcher batcher(writer_.get(), std::ref(write), 4, 5);
  Answers answers;
  std::promise<void> release = HoldWriter();
  for (const std::string& id : Ids(7)) batcher.Add(NewOrder(id), answers.For(id));
  ASSERT_TRUE(answers.WaitFor(2));  // the refusals come while the writer is still held
  auto refused = answers.Take();
  ASSERT_EQ(refused.size(), 2u);
  for (const char* id : {"o5", "o6"}) {
    ASSERT_EQ(refused.count(id), 1u) << id;
    EXPECT_EQ(refused.find(id)->second.status().reason(), "store_overloaded") << id;
  }
  release.set_value();
  ASSERT_TRUE(answers.WaitFor(7));
  batcher.Add(NewOrder("later"), answers.For("later"));
  ASSERT_TRUE(answers.WaitFor(8));
  writer_.reset();  // every write ended
  auto taken = answers.Take();
  for (const char* id : {"o0", "o4", "later"}) {
    ASSERT_EQ(taken.count(id), 1u) << id;
    EXPECT_TRUE(taken.find(id)->second.ok()) << id;
  }
}

}  // namespace
}  // namespace topup::sqlite
