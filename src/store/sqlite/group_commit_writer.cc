#include "store/sqlite/group_commit_writer.h"

#include "core/invariant.h"
#include "core/thread_name.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <exception>
#include <iterator>

namespace topup::sqlite {
namespace {

// Wakes one waiting caller once `remaining` writes have finished.
class Latch {
 public:
  explicit Latch(size_t count) : remaining_(count) {}
  void CountDown() {
    // Notifying under the lock keeps the waiter from returning (and destroying the latch)
    // between the update and the notify.
    std::lock_guard lock(mu_);
    if (--remaining_ == 0) cv_.notify_one();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return remaining_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t remaining_;  // guarded by mu_
};

}  // namespace

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<SqliteConnection> connection,
                                     GroupCommitOptions options)
    : options_(options), connection_(std::move(connection)) {
  assert(options_.max_batch_ops >= 1 && options_.max_queued_ops >= 1);
  assert(!connection_->InTransaction());
  thread_ = std::thread([this] { Loop(); });
}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  thread_.join();
  assert(queue_.empty());
  spdlog::debug("store: writer stopped after {} writes in {} transactions (largest {})", stats_.ops,
                stats_.transactions, stats_.max_batch_ops);
}

GroupCommitStats GroupCommitWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t GroupCommitWriter::queued_ops() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + background_.size();
}

Status GroupCommitWriter::Enqueue(std::vector<PendingWrite>& writes, WritePriority priority,
                                  bool wait_for_room) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto has_room = [this] {
      return stopping_ || queue_.size() + background_.size() < options_.max_queued_ops;
    };
    const bool room =
        wait_for_room ? space_cv_.wait_for(lock, options_.enqueue_timeout, has_room) : has_room();
    if (stopping_) return Unavailable("store_closed", "the store is closing");
    if (!room) {
      return Status(StatusCode::kResourceExhausted, "store_overloaded",
                    "the store's write queue is full (" + std::to_string(options_.max_queued_ops) +
                        " writes)");
    }
    const auto now = std::chrono::steady_clock::now();
    for (PendingWrite& write : writes) write.queued_at = now;
    std::deque<PendingWrite>& queue = priority == WritePriority::kOrders ? queue_ : background_;
    std::move(writes.begin(), writes.end(), std::back_inserter(queue));
  }
  work_cv_.notify_one();
  return Status::Ok();
}

void GroupCommitWriter::Post(WriteBody body, WriteDone done, CallerCount callers) {
  std::vector<PendingWrite> writes;
  writes.push_back(
      PendingWrite{std::move(body), std::move(done), Status::Ok(), std::move(callers)});
  Status queued = Enqueue(writes, WritePriority::kOrders, /*wait_for_room=*/false);
  if (!queued.ok()) writes.front().done(queued);
}

Status GroupCommitWriter::Run(const WriteBody& body, WritePriority priority) {
  return RunEach(std::span<const WriteBody>(&body, 1), priority).front();
}

std::vector<Status> GroupCommitWriter::RunEach(std::span<const WriteBody> bodies,
                                               WritePriority priority) {
  std::vector<Status> statuses(bodies.size());
  if (bodies.empty()) return statuses;
  Latch latch(bodies.size());
  std::vector<PendingWrite> writes;
  writes.reserve(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    // Captures by reference: this call outlives every write it queues.
    writes.push_back(PendingWrite{std::cref(bodies[i]),
                                  [&statuses, &latch, i](Status status) {
                                    statuses[i] = std::move(status);
                                    latch.CountDown();
                                  },
                                  Status::Ok()});
  }
  Status queued = Enqueue(writes, priority, /*wait_for_room=*/true);
  if (!queued.ok()) return std::vector<Status>(bodies.size(), queued);
  latch.Wait();
  return statuses;
}

void GroupCommitWriter::Loop() {
  SetThreadName("store-writer");
  std::vector<PendingWrite> batch;
  batch.reserve(options_.max_batch_ops);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty() || !background_.empty(); });
      // Stopping, and every queued write has run.
      if (queue_.empty() && background_.empty()) return;
      TakeBatch(&batch);
    }
    space_cv_.notify_all();
    RunBatch(batch);
    batch.clear();
  }
}

void GroupCommitWriter::TakeBatch(std::vector<PendingWrite>* batch) {
  auto take = [&](std::deque<PendingWrite>& from, size_t count) {
    const auto end = from.begin() + static_cast<ptrdiff_t>(std::min(from.size(), count));
    std::move(from.begin(), end, std::back_inserter(*batch));
    from.erase(from.begin(), end);
  };
  if (queue_.empty()) {
    stats_.background_ops +=
        static_cast<int64_t>(std::min(background_.size(), options_.max_batch_ops));
    take(background_, options_.max_batch_ops);
    return;
  }
  const bool overdue =
      !background_.empty() && std::chrono::steady_clock::now() - background_.front().queued_at >=
                                  options_.background_max_wait;
  take(queue_, options_.max_batch_ops - (overdue ? 1 : 0));
  if (overdue) {
    stats_.background_ops++;
    stats_.background_overdue++;
    take(background_, 1);
  }
}

bool GroupCommitWriter::RunOne(PendingWrite& write, bool in_savepoint) {
  if (in_savepoint) {
    Status status = connection_->Run("SAVEPOINT write");
    if (!status.ok()) {
      write.status = status;
      return connection_->InTransaction();
    }
  }
  try {
    write.status = write.body(*connection_);
  } catch (const std::exception& e) {
    write.status = Internal(std::string("write threw: ") + e.what());
  } catch (...) {
    write.status = Internal("write threw a non-standard exception");
  }
  // Some errors (disk full, I/O error, out of memory) make SQLite roll back the whole
  // transaction, taking the writes of earlier savepoints with it.
  if (!connection_->InTransaction()) return false;
  if (!in_savepoint) return true;
  if (!write.status.ok()) {
    Status status = connection_->Run("ROLLBACK TO write");
    if (!status.ok()) return false;
  }
  return connection_->Run("RELEASE write").ok();
}

void GroupCommitWriter::Finish(std::span<PendingWrite> batch) {
  for (PendingWrite& write : batch) write.done(std::move(write.status));
}

void GroupCommitWriter::FailBatch(std::span<PendingWrite> batch, const Status& status) {
  if (connection_->InTransaction()) {
    Status rollback = connection_->Run("ROLLBACK");
    if (!rollback.ok()) spdlog::error("store: ROLLBACK failed: {}", rollback.ToString());
  }
  spdlog::error("store: group transaction of {} writes failed: {}", batch.size(),
                status.ToString());
  for (PendingWrite& write : batch) write.status = status;
  Finish(batch);
}

bool GroupCommitWriter::RunAll(std::span<PendingWrite> batch, bool in_savepoints) {
  for (PendingWrite& write : batch) {
    if (!RunOne(write, in_savepoints)) {
      std::string cause = write.status.ok() ? "" : ": " + write.status.ToString();
      FailBatch(batch, Unavailable("store_unavailable",
                                   "the group transaction was rolled back during a write" + cause));
      return false;
    }
  }
  return true;
}

bool GroupCommitWriter::Begin(std::span<PendingWrite> batch) {
  // IMMEDIATE takes the write lock up front, waiting up to busy_timeout for another process that
  // holds it, instead of failing halfway through the batch when a read would upgrade to a write.
  Status status = connection_->Run("BEGIN IMMEDIATE");
  if (!status.ok()) {
    FailBatch(batch, status);
    return false;
  }
  if (transaction_end_.begin) transaction_end_.begin();
  return true;
}

void GroupCommitWriter::RunBatch(std::span<PendingWrite> batch) {
  TOPUP_ASSERT(!batch.empty() && batch.size() <= options_.max_batch_ops,
               "a group transaction beyond max_batch_ops");
  assert(!connection_->InTransaction());
  const auto began = std::chrono::steady_clock::now();
  if (!Begin(batch)) return;
  // Fast path: no savepoints, which cost a copy of every page a write touches. If a write failed,
  // it may have left some of its changes, so the batch is rolled back and run again with a
  // savepoint around each write, which undoes exactly the failed ones.
  if (!RunAll(batch, /*in_savepoints=*/false)) return;
  const bool all_ok = std::all_of(batch.begin(), batch.end(),
                                  [](const PendingWrite& write) { return write.status.ok(); });
  if (!all_ok) {
    Status status = connection_->Run("ROLLBACK");
    if (!status.ok()) {
      FailBatch(batch, status);
      return;
    }
    if (!Begin(batch) || !RunAll(batch, /*in_savepoints=*/true)) return;
  }
  Status status =
      transaction_end_.before_commit ? transaction_end_.before_commit(*connection_) : Status::Ok();
  if (status.ok()) status = connection_->Run("COMMIT");
  if (!status.ok()) {
    FailBatch(batch, status);
    return;
  }
  assert(!connection_->InTransaction());
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.transactions += 1;
    stats_.ops += static_cast<int64_t>(batch.size());
    stats_.max_batch_ops = std::max<int64_t>(stats_.max_batch_ops, batch.size());
  }
  if (on_commit_) {
    size_t callers = 0;
    for (const PendingWrite& write : batch) callers += write.callers ? write.callers() : 1;
    on_commit_(callers, std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - began));
  }
  Finish(batch);
}

}  // namespace topup::sqlite
