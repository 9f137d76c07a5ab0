#include "store/sqlite/accept_batcher.h"

#include <cassert>
#include <string>
#include <utility>

namespace topup::sqlite {

AcceptBatcher::AcceptBatcher(GroupCommitWriter* writer, WriteBatch write, size_t max_orders,
                             size_t max_waiting_orders)
    : writer_(writer),
      write_(std::move(write)),
      max_orders_(max_orders),
      max_waiting_orders_(max_waiting_orders) {
  assert(max_orders_ >= 1 && max_waiting_orders_ >= 1);
}

void AcceptBatcher::Add(Order order, AcceptCallback done) {
  std::shared_ptr<Batch> opened;
  {
    std::unique_lock lock(mu_);
    if (waiting_orders_ >= max_waiting_orders_) {
      lock.unlock();
      done(Status(
          StatusCode::kResourceExhausted, "store_overloaded",
          "the store's write queue is full (" + std::to_string(max_waiting_orders_) + " accepts)"));
      return;
    }
    ++waiting_orders_;
    if (open_ == nullptr || open_->orders.size() >= max_orders_) {
      open_ = std::make_shared<Batch>();
      opened = open_;
    }
    open_->orders.push_back(std::move(order));
    open_->dones.push_back(std::move(done));
  }
  // Orders added before the write starts go with it.
  if (opened != nullptr) Post(std::move(opened));
}

void AcceptBatcher::Post(std::shared_ptr<Batch> batch) {
  writer_->Post(
      [this, batch](SqliteConnection& db) {
        Close(batch.get());
        return write_(db, batch->orders, batch->answers);
      },
      [this, batch](Status status) {
        Close(batch.get());
        Finish(*batch, status);
      },
      [batch] { return batch->orders.size(); });
}

void AcceptBatcher::Close(Batch* batch) {
  std::lock_guard lock(mu_);
  if (open_.get() == batch) open_.reset();
  if (batch->waiting) {
    waiting_orders_ -= batch->orders.size();
    batch->waiting = false;
  }
}

void AcceptBatcher::Finish(Batch& batch, const Status& status) {
  const size_t n = batch.orders.size();
  if (status.ok()) {
    assert(batch.answers.size() == n);
    for (size_t i = 0; i < n; ++i) batch.dones[i](std::move(batch.answers[i]));
    return;
  }
  if (n == 1) {
    batch.dones.front()(status);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    auto alone = std::make_shared<Batch>();
    alone->waiting = false;  // no longer counted: its write started once
    alone->orders.push_back(std::move(batch.orders[i]));
    alone->dones.push_back(std::move(batch.dones[i]));
    Post(std::move(alone));
  }
}

}  // namespace topup::sqlite
