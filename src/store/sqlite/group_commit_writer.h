// GroupCommitWriter: the one thread that writes, committing many callers' writes per fsync.
//
// With synchronous=FULL every COMMIT waits for the disk, so one transaction per write would cap the
// store at a few hundred writes per second. Instead, callers on any thread hand their write to
// this writer and wait; the writer takes up to max_batch_ops waiting writes, runs them in ONE
// transaction, each inside its own SAVEPOINT, and commits once. A write that fails (insufficient
// balance, a lost compare-and-set that chose to fail, a SQL error) rolls back only its savepoint;
// the others commit. Every caller is woken only after the COMMIT returned, so an OK from Run()
// means the write is durable.
//
// Threading: the write connection is used only by the writer thread, from construction until the
// destructor has joined it. The queue of pending writes is guarded by mu_. A pending write lives
// on its caller's stack; the writer may touch it only until it completes it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_connection.h"
#include "topup/status.h"

namespace topup::sqlite {

struct GroupCommitOptions {
  size_t max_batch_ops = 512;    // writes per transaction
  size_t max_queued_ops = 8192;  // writes waiting for the writer; Run() blocks beyond this
  // How long Run() waits for room in a full queue before it gives up with
  // ResourceExhausted("store_overloaded"). Nothing was written in that case.
  std::chrono::milliseconds enqueue_timeout{2000};
};

struct GroupCommitStats {
  int64_t transactions = 0;  // committed group transactions
  int64_t ops = 0;           // writes that ran in a committed transaction (OK or rolled back)
  int64_t max_batch_ops = 0;
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

  // Runs `body(SqliteConnection&) -> Status` on the writer thread inside its own savepoint of the
  // next group transaction and returns after that transaction ended. Returns the body's status if
  // the transaction committed: its writes are durable when that is OK, and rolled back when it is
  // not. If the transaction as a whole failed, returns that failure and none of the body's writes
  // happened, with one caveat that no database escapes: when COMMIT itself fails with an I/O
  // error, the transaction may still be found in the WAL when the file is next opened. A caller
  // must therefore read Unavailable as "not known to have happened", which the store's idempotent
  // accept and compare-and-set transitions make safe to retry. Results the body computes for the
  // caller must be written to the caller's variables, and are valid only when the returned status
  // is OK.
  // The body runs on another thread and must not block on anything but the connection.
  template <typename Body>
  Status Run(Body&& body) {
    using BodyType = std::remove_reference_t<Body>;
    PendingWrite write;
    write.body = const_cast<void*>(static_cast<const void*>(&body));
    write.call = [](void* b, SqliteConnection& connection) -> Status {
      return (*static_cast<BodyType*>(b))(connection);
    };
    return Submit(write);
  }

  GroupCommitStats stats() const;
  // Writes waiting for the writer thread (not counting the batch it is running).
  size_t queued_ops() const;

 private:
  // A caller's write, on the caller's stack. The caller sleeps on `done_cv` (a plain futex wait:
  // std::binary_semaphore spins with sched_yield first, which on a small machine takes CPU from
  // the writer thread that the waiters are waiting for).
  struct PendingWrite {
    void* body = nullptr;
    Status (*call)(void*, SqliteConnection&) = nullptr;
    Status status;  // written by the writer thread before it sets `done`
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;  // guarded by done_mu
  };

  Status Submit(PendingWrite& write);
  void Loop();
  // Runs `batch` as one transaction and fills in every write's status. Runs on the writer thread.
  void RunBatch(std::span<PendingWrite*> batch);
  // Hands `write` back to its caller, who may destroy it at once.
  static void Complete(PendingWrite& write);
  // Runs one write inside its savepoint. Returns false if the enclosing transaction was lost
  // (SQLite rolled it back, or the savepoint could not be undone), true otherwise.
  bool RunOne(PendingWrite& write);
  // Ends a failed transaction: rolls back if still open, then fails every write with `status`.
  void FailBatch(std::span<PendingWrite*> batch, const Status& status);

  const GroupCommitOptions options_;
  const std::unique_ptr<SqliteConnection> connection_;  // used only by thread_

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // signalled when queue_ gains a write or stopping_ is set
  std::condition_variable space_cv_;  // signalled when queue_ loses writes
  std::deque<PendingWrite*> queue_;   // guarded by mu_; size <= options_.max_queued_ops
  bool stopping_ = false;             // guarded by mu_
  GroupCommitStats stats_;            // guarded by mu_

  std::thread thread_;  // last: started once everything above is constructed
};

}  // namespace topup::sqlite
