#include "store/sqlite/group_commit_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_connection.h"
#include "store_test_util.h"

namespace topup::sqlite {
namespace {

using testing_util::ScopedTempDir;

class GroupCommitWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("writer.db");
    Result<std::unique_ptr<SqliteConnection>> setup =
        SqliteConnection::Open(path_, SqliteConnection::Mode::kReadWrite, 5000);
    ASSERT_TRUE(setup.ok()) << setup.status().ToString();
    ASSERT_TRUE(
        (*setup)
            ->Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))")
            .ok());
  }

  std::unique_ptr<SqliteConnection> OpenSetup() {
    Result<std::unique_ptr<SqliteConnection>> db =
        SqliteConnection::Open(path_, SqliteConnection::Mode::kReadWrite, 5000);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  std::unique_ptr<GroupCommitWriter> StartWriter(
      size_t max_batch_ops, std::chrono::milliseconds background_max_wait = std::chrono::hours(1)) {
    Result<std::unique_ptr<SqliteConnection>> connection =
        SqliteConnection::Open(path_, SqliteConnection::Mode::kReadWrite, 5000);
    EXPECT_TRUE(connection.ok()) << connection.status().ToString();
    GroupCommitOptions options;
    options.max_batch_ops = max_batch_ops;
    options.background_max_wait = background_max_wait;
    return std::make_unique<GroupCommitWriter>(std::move(connection).value(), options);
  }

  // The keys in t, read through a separate connection: only committed rows are visible.
  std::vector<int64_t> CommittedKeys() {
    Result<std::unique_ptr<SqliteConnection>> reader =
        SqliteConnection::Open(path_, SqliteConnection::Mode::kReadOnly, 5000);
    EXPECT_TRUE(reader.ok());
    std::vector<int64_t> keys;
    if (!reader.ok()) return keys;
    Result<Statement> select = (*reader)->Prepare("SELECT k FROM t ORDER BY k");
    EXPECT_TRUE(select.ok());
    while (select.ok()) {
      Result<bool> row = select->Step();
      EXPECT_TRUE(row.ok());
      if (!row.ok() || !*row) break;
      keys.push_back(select->ColumnInt64(0));
    }
    return keys;
  }

  static Status Insert(SqliteConnection& db, int64_t k, int64_t v) {
    Result<Statement> insert = db.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    if (!insert.ok()) return insert.status();
    insert->BindInt64(1, k).BindInt64(2, v);
    return insert->Run();
  }

  // Blocks the writer thread inside the first write until `n` more writes are queued behind it,
  // so that they are all taken as the next batch. Bounded: gives up after 10 s.
  static void WaitForQueued(const GroupCommitWriter& writer, size_t n) {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (writer.queued_ops() < n && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  }

  // Starts a write (of key 0) that holds the writer thread until `n` more writes are queued, and
  // returns once that write is running, so the next `n` writes form one batch.
  static std::thread StartGate(GroupCommitWriter& writer, size_t n) {
    auto running = std::make_shared<std::atomic<bool>>(false);
    std::thread gate([&writer, n, running] {
      Status s = writer.Run([&](SqliteConnection& db) {
        running->store(true);
        WaitForQueued(writer, n);
        return Insert(db, 0, 0);
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    });
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!running->load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    EXPECT_TRUE(running->load());
    return gate;
  }

  ScopedTempDir dir_;
  std::string path_;
};

TEST_F(GroupCommitWriterTest, AFailingWriteRollsBackOnlyItself) {
  constexpr int kWriters = 12;
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  std::thread gate = StartGate(*writer, kWriters);

  std::vector<Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 1; i <= kWriters; ++i) {
    threads.emplace_back([&, i] {
      results[i - 1] = writer->Run([i](SqliteConnection& db) -> Status {
        switch (i % 4) {
          case 0:  // writes, then decides to fail: its insert must vanish
            if (Status s = Insert(db, i, i); !s.ok()) return s;
            return FailedPrecondition("insufficient_balance", "test");
          case 1:  // violates a constraint
            return Insert(db, i, -1);
          case 2:
            throw std::runtime_error("boom");
          default:
            return Insert(db, i, i);
        }
      });
    });
  }
  for (std::thread& t : threads) t.join();
  gate.join();

  std::vector<int64_t> expected = {0};
  for (int i = 1; i <= kWriters; ++i) {
    const Status& s = results[i - 1];
    switch (i % 4) {
      case 0:
        EXPECT_EQ(s.reason(), "insufficient_balance");
        break;
      case 1:
        EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
        break;
      case 2:
        EXPECT_EQ(s.code(), StatusCode::kInternal);
        EXPECT_NE(s.message().find("boom"), std::string::npos);
        break;
      default:
        EXPECT_TRUE(s.ok()) << s.ToString();
        expected.push_back(i);
    }
  }
  EXPECT_EQ(CommittedKeys(), expected);
  GroupCommitStats stats = writer->stats();
  EXPECT_EQ(stats.ops, kWriters + 1);
  EXPECT_EQ(stats.transactions, 2);  // the gate, then everyone else together
  EXPECT_EQ(stats.max_batch_ops, kWriters);
}

// What a batch's writes add to as they return OK is written once, before the COMMIT: with a write
// among them that fails (and the batch run again in savepoints), only the others' shares count.
TEST_F(GroupCommitWriterTest, TheTransactionEndWritesWhatTheStandingWritesAddedUp) {
  constexpr int kWriters = 8;
  ASSERT_TRUE(OpenSetup()
                  ->Exec("CREATE TABLE total (n INTEGER NOT NULL); "
                         "INSERT INTO total VALUES (0)")
                  .ok());
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  int64_t added = 0;  // touched on the writer thread only
  int before_commits = 0;
  writer->SetTransactionEnd({.begin = [&] { added = 0; },
                             .before_commit =
                                 [&](SqliteConnection& db) {
                                   ++before_commits;
                                   Result<Statement> update =
                                       db.Prepare("UPDATE total SET n = n + ?1");
                                   if (!update.ok()) return update.status();
                                   update->BindInt64(1, added);
                                   return update->Run();
                                 }});
  std::thread gate = StartGate(*writer, kWriters);
  std::vector<std::thread> threads;
  for (int i = 1; i <= kWriters; ++i) {
    threads.emplace_back([&, i] {
      Status s = writer->Run([&, i](SqliteConnection& db) -> Status {
        if (i == 3) return FailedPrecondition("refused", "test");  // adds nothing
        if (Status inserted = Insert(db, i, i); !inserted.ok()) return inserted;
        added += i;
        return Status::Ok();
      });
      EXPECT_EQ(s.ok(), i != 3) << s.ToString();
    });
  }
  for (std::thread& t : threads) t.join();
  gate.join();
  EXPECT_EQ(before_commits, 2);  // the gate's transaction, then everyone else's
  std::unique_ptr<SqliteConnection> reader = OpenSetup();
  Result<Statement> total = reader->Prepare("SELECT n FROM total");
  ASSERT_TRUE(total.ok());
  ASSERT_TRUE(total->Step().value());
  EXPECT_EQ(total->ColumnInt64(0), kWriters * (kWriters + 1) / 2 - 3);
}

TEST_F(GroupCommitWriterTest, AFailingTransactionEndFailsTheBatch) {
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  writer->SetTransactionEnd(
      {.begin = [] {},
       .before_commit = [](SqliteConnection&) { return Internal("cannot write the total"); }});
  Status s = writer->Run([](SqliteConnection& db) { return Insert(db, 1, 1); });
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_TRUE(CommittedKeys().empty());
}

TEST_F(GroupCommitWriterTest, BatchesAreBounded) {
  constexpr int kWriters = 10;
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(4);
  std::thread gate = StartGate(*writer, kWriters);
  std::vector<std::thread> threads;
  for (int i = 1; i <= kWriters; ++i) {
    threads.emplace_back([&, i] {
      EXPECT_TRUE(writer->Run([i](SqliteConnection& db) { return Insert(db, i, i); }).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  gate.join();
  GroupCommitStats stats = writer->stats();
  EXPECT_EQ(stats.ops, kWriters + 1);
  EXPECT_EQ(stats.max_batch_ops, 4);
  EXPECT_EQ(stats.transactions, 1 + 3);  // gate, then 4 + 4 + 2
  EXPECT_EQ(CommittedKeys().size(), static_cast<size_t>(kWriters + 1));
}

// Queues, behind the gate, a background write (key 100) and then two order writes (keys 1, 2),
// and returns the keys in the order the writer ran them.
std::vector<int64_t> RunBackgroundThenOrders(GroupCommitWriter& writer, std::thread gate) {
  std::vector<int64_t> ran;  // written by the writer thread only
  auto insert = [&ran](int64_t k) {
    return [&ran, k](SqliteConnection& db) {
      ran.push_back(k);
      Result<Statement> statement = db.Prepare("INSERT INTO t (k, v) VALUES (?1, 0)");
      if (!statement.ok()) return statement.status();
      statement->BindInt64(1, k);
      return statement->Run();
    };
  };
  std::vector<std::thread> threads;
  threads.emplace_back(
      [&] { EXPECT_TRUE(writer.Run(insert(100), WritePriority::kBackground).ok()); });
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (writer.queued_ops() < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  for (int64_t k : {1, 2}) {
    threads.emplace_back([&, k] { EXPECT_TRUE(writer.Run(insert(k)).ok()); });
  }
  for (std::thread& t : threads) t.join();
  gate.join();
  return ran;
}

TEST_F(GroupCommitWriterTest, ABackgroundWriteWaitsForTheOrderWritesQueuedAfterIt) {
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  std::vector<int64_t> ran = RunBackgroundThenOrders(*writer, StartGate(*writer, 3));
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran.back(), 100) << "the background write ran before an order write";
  GroupCommitStats stats = writer->stats();
  EXPECT_EQ(stats.transactions, 3);  // the gate, the order writes, then the background one alone
  EXPECT_EQ(stats.background_ops, 1);
  EXPECT_EQ(stats.background_overdue, 0);
}

TEST_F(GroupCommitWriterTest, ABackgroundWriteOverdueGoesAlongWithTheOrderWrites) {
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512, std::chrono::milliseconds(0));
  std::vector<int64_t> ran = RunBackgroundThenOrders(*writer, StartGate(*writer, 3));
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran.back(), 100);
  GroupCommitStats stats = writer->stats();
  EXPECT_EQ(stats.transactions, 2);  // the gate, then all three together
  EXPECT_EQ(stats.background_overdue, 1);
  EXPECT_EQ(CommittedKeys(), (std::vector<int64_t>{0, 1, 2, 100}));
}

TEST_F(GroupCommitWriterTest, ALostTransactionFailsTheWholeBatch) {
  constexpr int kWriters = 6;
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  std::thread gate = StartGate(*writer, kWriters);
  std::vector<Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 1; i <= kWriters; ++i) {
    threads.emplace_back([&, i] {
      results[i - 1] = writer->Run([i](SqliteConnection& db) -> Status {
        // Stands in for SQLite aborting the transaction (disk full, I/O error): write 3 ends it.
        if (i == 3) return db.Exec("ROLLBACK");
        return Insert(db, i, i);
      });
    });
  }
  for (std::thread& t : threads) t.join();
  gate.join();
  // Which writes shared the doomed transaction depends on queue order; every one of them failed
  // and none of their rows exists, and every write that reported OK is there.
  std::vector<int64_t> keys = CommittedKeys();
  int failed = 0;
  for (int i = 1; i <= kWriters; ++i) {
    bool present = std::find(keys.begin(), keys.end(), i) != keys.end();
    if (results[i - 1].ok()) {
      EXPECT_TRUE(present) << i;
    } else {
      ++failed;
      EXPECT_EQ(results[i - 1].code(), StatusCode::kUnavailable) << results[i - 1].ToString();
      EXPECT_FALSE(present) << i;
    }
  }
  EXPECT_EQ(failed, kWriters);  // all were in the one batch behind the gate
  EXPECT_TRUE(results[2].code() == StatusCode::kUnavailable);

  // The writer carries on.
  EXPECT_TRUE(writer->Run([](SqliteConnection& db) { return Insert(db, 100, 1); }).ok());
  EXPECT_EQ(CommittedKeys().back(), 100);
}

TEST_F(GroupCommitWriterTest, PostCallsBackOnceTheWriteIsCommitted) {
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  std::promise<std::pair<Status, std::vector<int64_t>>> answered;
  writer->Post([](SqliteConnection& db) { return Insert(db, 7, 7); },
               [&](Status status) {
                 // Runs after COMMIT: another connection already sees the row.
                 answered.set_value({std::move(status), CommittedKeys()});
               });
  auto [status, keys] = answered.get_future().get();
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(keys, std::vector<int64_t>{7});

  std::promise<Status> refused;
  writer->Post([](SqliteConnection& db) { return Insert(db, 8, -1); },
               [&](Status status) { refused.set_value(std::move(status)); });
  EXPECT_EQ(refused.get_future().get().code(), StatusCode::kInternal);
  EXPECT_EQ(CommittedKeys(), std::vector<int64_t>{7});
}

TEST_F(GroupCommitWriterTest, RunEachAnswersEveryWriteInOrder) {
  std::unique_ptr<GroupCommitWriter> writer = StartWriter(512);
  std::vector<GroupCommitWriter::WriteBody> bodies;
  for (int64_t k = 1; k <= 5; ++k) {
    // Key 3 inserts, then fails: its row must vanish while the others commit.
    bodies.push_back([k](SqliteConnection& db) -> Status {
      if (Status s = Insert(db, k, k); !s.ok()) return s;
      return k == 3 ? FailedPrecondition("insufficient_balance", "test") : Status::Ok();
    });
  }
  std::vector<Status> statuses = writer->RunEach(bodies);
  ASSERT_EQ(statuses.size(), 5u);
  for (size_t i = 0; i < statuses.size(); ++i) {
    EXPECT_EQ(statuses[i].ok(), i != 2) << i << ": " << statuses[i].ToString();
  }
  EXPECT_EQ(CommittedKeys(), (std::vector<int64_t>{1, 2, 4, 5}));
  EXPECT_TRUE(writer->RunEach({}).empty());
}

}  // namespace
}  // namespace topup::sqlite
