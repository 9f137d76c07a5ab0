// EmbeddedQueue: the in-process Queue backend of the one-box default.
//
// Why in memory is enough: publishing an id never makes work durable; the store does. An order is
// durable (and due: next_check_ms) from the transaction that accepted it, so whatever this queue
// loses (a crash, a full queue) the sweeper finds again from the store within a sweep interval
// plus the redelivery delay. The queue only saves that wait in the common case.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include "topup/queue.h"

namespace topup {

class EmbeddedQueue final : public Queue {
 public:
  // At most capacity ids wait at once; Publish beyond it drops the extra ids and returns
  // ResourceExhausted("queue_full") (the sweeper will re-find them).
  explicit EmbeddedQueue(size_t capacity = 200'000);

  Status Publish(std::span<const std::string> order_ids) override;
  Result<std::vector<Delivery>> Receive(size_t max_count, std::chrono::milliseconds wait) override;
  Status Ack(std::span<const Delivery> deliveries) override;
  void Close() override;
  void Wake() override;
  QueueFigures Figures() override;

  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::deque<std::string> ids_;  // GUARDED_BY(mu_)
  bool closed_ = false;          // GUARDED_BY(mu_)
  bool woken_ = false;           // GUARDED_BY(mu_): a Wake() no Receive has answered yet
};

}  // namespace topup
