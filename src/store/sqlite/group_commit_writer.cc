#include "store/sqlite/group_commit_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <exception>

namespace topup::sqlite {

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
  return queue_.size();
}

Status GroupCommitWriter::Submit(PendingWrite& write) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    bool room = space_cv_.wait_for(lock, options_.enqueue_timeout, [this] {
      return stopping_ || queue_.size() < options_.max_queued_ops;
    });
    if (stopping_) return Unavailable("store_closed", "the store is closing");
    if (!room) {
      return Status(StatusCode::kResourceExhausted, "store_overloaded",
                    "the store's write queue stayed full for " +
                        std::to_string(options_.enqueue_timeout.count()) + " ms");
    }
    queue_.push_back(&write);
  }
  work_cv_.notify_one();
  std::unique_lock<std::mutex> lock(write.done_mu);
  write.done_cv.wait(lock, [&write] { return write.done; });
  return write.status;
}

void GroupCommitWriter::Complete(PendingWrite& write) {
  // Notifying under the lock keeps the caller from returning (and destroying `write`) between
  // the store of `done` and the notify.
  std::lock_guard<std::mutex> lock(write.done_mu);
  write.done = true;
  write.done_cv.notify_one();
}

void GroupCommitWriter::Loop() {
  std::vector<PendingWrite*> batch;
  batch.reserve(options_.max_batch_ops);
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every queued write has run
      size_t n = std::min(queue_.size(), options_.max_batch_ops);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    }
    space_cv_.notify_all();
    RunBatch(batch);
    batch.clear();
  }
}

bool GroupCommitWriter::RunOne(PendingWrite& write) {
  Status status = connection_->Run("SAVEPOINT write");
  if (!status.ok()) {
    write.status = status;
    return connection_->InTransaction();
  }
  try {
    write.status = write.call(write.body, *connection_);
  } catch (const std::exception& e) {
    write.status = Internal(std::string("write threw: ") + e.what());
  } catch (...) {
    write.status = Internal("write threw a non-standard exception");
  }
  // Some errors (disk full, I/O error, out of memory) make SQLite roll back the whole
  // transaction, taking the writes of earlier savepoints with it.
  if (!connection_->InTransaction()) return false;
  if (!write.status.ok()) {
    status = connection_->Run("ROLLBACK TO write");
    if (!status.ok()) return false;
  }
  status = connection_->Run("RELEASE write");
  return status.ok();
}

void GroupCommitWriter::FailBatch(std::span<PendingWrite*> batch, const Status& status) {
  if (connection_->InTransaction()) {
    Status rollback = connection_->Run("ROLLBACK");
    if (!rollback.ok()) spdlog::error("store: ROLLBACK failed: {}", rollback.ToString());
  }
  spdlog::error("store: group transaction of {} writes failed: {}", batch.size(),
                status.ToString());
  for (PendingWrite* write : batch) {
    write->status = status;
    Complete(*write);  // `write` may be gone after this
  }
}

void GroupCommitWriter::RunBatch(std::span<PendingWrite*> batch) {
  assert(!batch.empty() && batch.size() <= options_.max_batch_ops);
  assert(!connection_->InTransaction());
  // IMMEDIATE takes the write lock up front, waiting up to busy_timeout for another process that
  // holds it, instead of failing halfway through the batch when a read would upgrade to a write.
  Status status = connection_->Run("BEGIN IMMEDIATE");
  if (!status.ok()) {
    FailBatch(batch, status);
    return;
  }
  for (PendingWrite* write : batch) {
    if (!RunOne(*write)) {
      std::string cause = write->status.ok() ? "" : ": " + write->status.ToString();
      FailBatch(batch, Unavailable("store_unavailable",
                                   "the group transaction was rolled back during a write" + cause));
      return;
    }
  }
  status = connection_->Run("COMMIT");
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
  for (PendingWrite* write : batch) Complete(*write);  // `write` may be gone after this
}

}  // namespace topup::sqlite
