#include "queue/embedded/embedded_queue.h"

namespace topup {

EmbeddedQueue::EmbeddedQueue(size_t capacity) : capacity_(capacity) {}

Status EmbeddedQueue::Publish(std::span<const std::string> order_ids) {
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Unavailable("queue_closed", "the queue is closed");
    for (const std::string& id : order_ids) {
      if (ids_.size() >= capacity_) {
        ++dropped;
        continue;
      }
      ids_.push_back(id);
    }
  }
  if (order_ids.size() > dropped) not_empty_.notify_all();
  if (dropped > 0) {
    return Status(StatusCode::kResourceExhausted, "queue_full",
                  std::to_string(dropped) + " ids dropped; the sweeper will find them again");
  }
  return Status::Ok();
}

Result<std::vector<Delivery>> EmbeddedQueue::Receive(size_t max_count,
                                                     std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  not_empty_.wait_for(lock, wait, [this] { return closed_ || woken_ || !ids_.empty(); });
  woken_ = false;
  if (closed_) return Unavailable("queue_closed", "the queue is closed");
  std::vector<Delivery> deliveries;
  while (deliveries.size() < max_count && !ids_.empty()) {
    deliveries.push_back(Delivery{std::move(ids_.front()), 0});
    ids_.pop_front();
  }
  return deliveries;
}

Status EmbeddedQueue::Ack(std::span<const Delivery>) { return Status::Ok(); }

void EmbeddedQueue::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  not_empty_.notify_all();
}

void EmbeddedQueue::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  not_empty_.notify_all();
}

size_t EmbeddedQueue::size() const {
  std::lock_guard lock(mu_);
  return ids_.size();
}

QueueFigures EmbeddedQueue::Figures() {
  // Nothing is given twice: a delivery is forgotten once received.
  return QueueFigures{.depth = static_cast<int64_t>(size()), .redelivered = 0};
}

}  // namespace topup
