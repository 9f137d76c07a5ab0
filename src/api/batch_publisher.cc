#include "api/batch_publisher.h"

#include <spdlog/spdlog.h>

#include "core/thread_name.h"

namespace topup::api {

BatchPublisher::BatchPublisher(Queue* queue, size_t max_pending)
    : queue_(queue), max_pending_(max_pending), thread_([this] { Loop(); }) {}

BatchPublisher::~BatchPublisher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  has_ids_.notify_one();
  thread_.join();
}

void BatchPublisher::Add(std::string order_id) {
  bool was_empty = false;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= max_pending_) {
      spdlog::warn("publish dropped order_id={}: {} ids waiting; the sweeper will pick it up",
                   order_id, pending_.size());
      return;
    }
    was_empty = pending_.empty();
    pending_.push_back(std::move(order_id));
  }
  if (was_empty) has_ids_.notify_one();
}

void BatchPublisher::Loop() {
  SetThreadName("publisher");
  std::vector<std::string> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      has_ids_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and everything added was published
      batch.swap(pending_);
    }
    if (Status published = queue_->Publish(batch); !published.ok()) {
      spdlog::warn("publish of {} ids failed ({}); the sweeper will pick them up", batch.size(),
                   published.ToString());
    }
    batch.clear();
  }
}

}  // namespace topup::api
