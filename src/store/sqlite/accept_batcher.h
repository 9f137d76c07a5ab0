// AcceptBatcher: gathers the accepts that arrive while the writer is busy into one write, so that
// a group transaction decides them together (store_rules::PlanAccepts: one balance read and one
// debit per merchant, however many of its orders the write holds).
//
// Each Add() joins the open batch: the newest one posted to the writer and not yet started
// (the writer takes a batch once its write runs, and Add() then opens the next). A batch holds at
// most max_orders. When a batch's write fails, its orders are written again each in a batch of its
// own, so that an order that failed the write (its order id was taken, say) fails alone; an
// order's callback hears the final answer either way, exactly once.
//
// Threading: Add() from any thread; the callbacks run on the writer thread, or on the caller's
// when the writer refuses the write at once (see GroupCommitWriter::Post).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "store/sqlite/group_commit_writer.h"
#include "store/sqlite/sqlite_connection.h"
#include "topup/order.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::sqlite {

class AcceptBatcher {
 public:
  // Writes the accepts of `orders` (validated) in the writer's transaction and sets `answers`
  // (one per order, in order; refusals such as insufficient_balance are answers). A status that
  // is not OK undoes the write, and is the answer of a batch of one. It may run twice (as any
  // GroupCommitWriter write), and must compute `answers` afresh each time.
  using WriteBatch = std::function<Status(SqliteConnection& db, std::span<const Order> orders,
                                          std::vector<Result<AcceptResult>>& answers)>;

  // REQUIRES: `writer` outlives the batcher; max_orders >= 1; max_waiting_orders >= 1.
  // max_orders bounds a batch; max_waiting_orders the accepts added whose write has not started,
  // as the writer's max_queued_ops bounds its writes (a batch is one write to the writer).
  AcceptBatcher(GroupCommitWriter* writer, WriteBatch write, size_t max_orders,
                size_t max_waiting_orders);

  AcceptBatcher(const AcceptBatcher&) = delete;
  AcceptBatcher& operator=(const AcceptBatcher&) = delete;

  // Queues the accept of `order` (validated); `done` hears its answer once its write ended, or
  // at once ResourceExhausted("store_overloaded") when max_waiting_orders accepts wait already.
  void Add(Order order, AcceptCallback done);

 private:
  struct Batch {
    std::vector<Order> orders;
    std::vector<AcceptCallback> dones;
    std::vector<Result<AcceptResult>> answers;  // set by the write
    bool waiting = true;                        // guarded by mu_: counted in waiting_orders_
  };

  void Post(std::shared_ptr<Batch> batch);
  // Takes `batch` no more orders, and no longer counts them as waiting. Idempotent.
  void Close(Batch* batch);
  // Answers every order of the ended `batch`, or writes each again alone if the batch failed.
  void Finish(Batch& batch, const Status& status);

  GroupCommitWriter* const writer_;
  const WriteBatch write_;
  const size_t max_orders_;
  const size_t max_waiting_orders_;

  std::mutex mu_;
  std::shared_ptr<Batch> open_;  // guarded by mu_: posted, not started; null when none
  size_t waiting_orders_ = 0;    // guarded by mu_: orders of the batches not started
};

}  // namespace topup::sqlite
