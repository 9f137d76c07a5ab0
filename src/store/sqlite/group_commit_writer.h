// GroupCommitWriter: the one thread that writes, committing many callers' writes per fsync.
//
// With synchronous=FULL every COMMIT waits for the disk, so one transaction per write would cap the
// store at a few hundred writes per second. Instead, callers on any thread hand their write to
// this writer (and wait, or are called back); the writer takes up to max_batch_ops waiting
// writes, runs them in ONE transaction and commits once. A write that fails (insufficient
// balance, a SQL error) is undone alone; the others commit. Every caller hears of its write only
// after the COMMIT returned, so an OK means the write is durable.
//
// Order writes come first: a write queued as kBackground (the notification outbox's claims and
// recorded tries) waits while any order write waits, and goes into a transaction of its own once
// none does; only after waiting background_max_wait does it go along with order writes, one per
// transaction, so a store busy with orders still gets it through.
//
// What a transaction's writes add up to (the store's counts of orders by status) can be written
// once per transaction instead of once per write: see SetTransactionEnd.
//
// Threading: the write connection is used only by the writer thread, from construction until the
// destructor has joined it. The queue of pending writes is guarded by mu_.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_connection.h"
#include "topup/status.h"

namespace topup::sqlite {

// Whose write it is: see the class comment.
enum class WritePriority { kOrders, kBackground };

struct GroupCommitOptions {
  size_t max_batch_ops = 512;    // writes per transaction
  size_t max_queued_ops = 8192;  // writes waiting for the writer; more wait or are refused
  // The longest a kBackground write waits behind order writes.
  std::chrono::milliseconds background_max_wait{1000};
  // How long Run() and RunEach() wait for room in a full queue before they give up with
  // ResourceExhausted("store_overloaded"). Nothing was written in that case.
  std::chrono::milliseconds enqueue_timeout{2000};
};

struct GroupCommitStats {
  int64_t transactions = 0;  // committed group transactions
  int64_t ops = 0;           // writes that ran in a committed transaction (OK or rolled back)
  int64_t max_batch_ops = 0;
  int64_t background_ops = 0;  // kBackground writes taken into transactions
  // kBackground writes that waited background_max_wait and went along with order writes.
  int64_t background_overdue = 0;
};

class GroupCommitWriter {
 public:
  // Starts the writer thread, which owns `connection` from now on.
  // REQUIRES: connection is read-write and not in a transaction; options bounds are >= 1.
  GroupCommitWriter(std::unique_ptr<SqliteConnection> connection, GroupCommitOptions options);
  // Runs every write queued before the call, then stops the thread and closes the connection.
  ~GroupCommitWriter();

  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // A write: runs on the writer thread within a group transaction, and must not block on anything
  // but the connection. It may run twice (when another write of its transaction failed, the
  // transaction is rolled back and run again), so it must compute its results afresh each time;
  // they are valid only when the write's final status (below) is OK.
  using WriteBody = std::function<Status(SqliteConnection&)>;
  // Called on the writer thread once the write's transaction ended, with the write's final
  // status: the body's status if the transaction committed (its writes are durable when that is
  // OK, and rolled back when it is not); otherwise the transaction's failure, and none of the
  // body's writes happened, with one caveat that no database escapes: when COMMIT itself fails
  // with an I/O error, the transaction may still be found in the WAL when the file is next
  // opened. A caller must therefore read Unavailable as "not known to have happened", which the
  // store's idempotent accept and compare-and-set transitions make safe to retry. Must not block.
  using WriteDone = std::function<void(Status)>;

  // How many callers' writes one write holds, asked once its transaction committed (for the
  // commit observer); a write without one holds one.
  using CallerCount = std::function<size_t()>;

  // Queues a write and returns at once. If the queue is full or the writer is stopping, `done`
  // runs at once on the calling thread with ResourceExhausted("store_overloaded") or
  // Unavailable("store_closed"), and nothing was written.
  void Post(WriteBody body, WriteDone done, CallerCount callers = {});
  // Runs one write and returns its final status. Waits up to enqueue_timeout for room in a full
  // queue, then gives up with ResourceExhausted("store_overloaded").
  Status Run(const WriteBody& body, WritePriority priority = WritePriority::kOrders);
  // Runs several writes, each as Run would (each in its own savepoint, usually all in one
  // transaction), and returns their final statuses in order.
  std::vector<Status> RunEach(std::span<const WriteBody> bodies,
                              WritePriority priority = WritePriority::kOrders);

  GroupCommitStats stats() const;
  // Called after every COMMIT with the callers' writes it held and how long BEGIN to COMMIT took.
  // REQUIRES: before the first write is queued (the writer thread reads it without a lock).
  void SetCommitObserver(std::function<void(size_t, std::chrono::microseconds)> observer) {
    on_commit_ = std::move(observer);
  }
  // Work a transaction leaves to its end. `begin` runs as each transaction begins (also when a
  // batch begins again, after a failed write, with a savepoint around each write), and
  // `before_commit` just before the COMMIT; a `before_commit` that fails fails the whole batch.
  // Both run on the writer thread. What `before_commit` writes must come from writes that
  // returned OK: a write adds to it only as it returns OK, so that a write undone never did.
  struct TransactionEnd {
    std::function<void()> begin;
    std::function<Status(SqliteConnection&)> before_commit;
  };
  // REQUIRES: before the first write is queued (the writer thread reads it without a lock).
  void SetTransactionEnd(TransactionEnd end) { transaction_end_ = std::move(end); }
  // Writes waiting for the writer thread (not counting the batch it is running), of both
  // priorities.
  size_t queued_ops() const;

 private:
  struct PendingWrite {
    WriteBody body;
    WriteDone done;
    Status status;          // set by the writer thread before `done` runs
    CallerCount callers{};  // empty: one
    std::chrono::steady_clock::time_point queued_at{};
  };

  // Waits until the queue has room (or enqueue_timeout passed, or the writer is stopping), then
  // queues all of `writes`. Returns why it did not queue them.
  Status Enqueue(std::vector<PendingWrite>& writes, WritePriority priority, bool wait_for_room);
  void Loop();
  // Moves the writes of the next transaction into `batch` (see the class comment). REQUIRES: mu_
  // held, and a write waiting.
  void TakeBatch(std::vector<PendingWrite>* batch);
  // Runs `batch` as one transaction, then calls every write's `done`. Runs on the writer thread.
  void RunBatch(std::span<PendingWrite> batch);
  // Runs one write, inside a savepoint of its own if `in_savepoint`. Returns false if the
  // enclosing transaction was lost (SQLite rolled it back, or the savepoint could not be undone).
  bool RunOne(PendingWrite& write, bool in_savepoint);
  // BEGIN IMMEDIATE, then transaction_end_.begin. Fails the batch and returns false if BEGIN did.
  bool Begin(std::span<PendingWrite> batch);
  // Runs every write of the batch; if the transaction is lost, fails the batch and returns false.
  bool RunAll(std::span<PendingWrite> batch, bool in_savepoints);
  // Ends a failed transaction: rolls back if still open, then fails every write with `status`.
  void FailBatch(std::span<PendingWrite> batch, const Status& status);
  static void Finish(std::span<PendingWrite> batch);

  const GroupCommitOptions options_;
  const std::unique_ptr<SqliteConnection> connection_;  // used only by thread_

  mutable std::mutex mu_;
  std::condition_variable work_cv_;      // signalled when queue_ gains a write or stopping_ is set
  std::condition_variable space_cv_;     // signalled when queue_ loses writes
  std::deque<PendingWrite> queue_;       // guarded by mu_: order writes
  std::deque<PendingWrite> background_;  // guarded by mu_: kBackground writes
  bool stopping_ = false;                // guarded by mu_
  GroupCommitStats stats_;               // guarded by mu_
  std::function<void(size_t, std::chrono::microseconds)> on_commit_;  // read by thread_
  TransactionEnd transaction_end_;                                    // read by thread_

  std::thread thread_;  // last: started once everything above is constructed
};

}  // namespace topup::sqlite
