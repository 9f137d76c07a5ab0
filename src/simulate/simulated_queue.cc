#include "simulate/simulated_queue.h"

#include <algorithm>

namespace topup::simulate {

SimulatedQueue::SimulatedQueue(Random* random, const Faults* faults, Trace* trace,
                               const EventQueue* events)
    : random_(random), faults_(faults), trace_(trace), events_(events) {}

void SimulatedQueue::Enqueue(const std::string& order_id) {
  if (faults_->queue_loss && random_->Chance(0.05)) {
    trace_->Add(events_->now_ms(), "queue lost " + order_id);
    return;
  }
  ready_.push_back(order_id);
  if (faults_->queue_duplicate && random_->Chance(0.05)) {
    trace_->Add(events_->now_ms(), "queue duplicated " + order_id);
    ready_.push_back(order_id);
  }
}

Status SimulatedQueue::Publish(std::span<const std::string> order_ids) {
  if (ready_.size() + order_ids.size() > kMaxDepth) {
    return Unavailable("queue_full", "simulated queue holds too many ids");
  }
  for (const std::string& id : order_ids) Enqueue(id);
  if (!order_ids.empty() && on_publish_) on_publish_();
  return Status::Ok();
}

Result<std::vector<Delivery>> SimulatedQueue::Receive(size_t max_count,
                                                      std::chrono::milliseconds wait) {
  (void)wait;
  std::vector<Delivery> deliveries;
  const size_t count = std::min({max_count, ready_.size(), kMaxUnacked - unacked_.size()});
  deliveries.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t tag = next_tag_++;
    unacked_.emplace(tag, Unacked{ready_.front(), consumer_});
    deliveries.push_back(Delivery{std::move(ready_.front()), tag});
    ready_.pop_front();
  }
  return deliveries;
}

Status SimulatedQueue::Ack(std::span<const Delivery> deliveries) {
  for (const Delivery& delivery : deliveries) unacked_.erase(delivery.tag);
  return Status::Ok();
}

void SimulatedQueue::ConsumerDied(int consumer) {
  for (auto it = unacked_.begin(); it != unacked_.end();) {
    if (it->second.consumer != consumer) {
      ++it;
      continue;
    }
    // A broker gives the delivery again; an in-process queue dies with the process.
    if (random_->Chance(0.5)) {
      ready_.push_back(it->second.order_id);
    } else {
      trace_->Add(events_->now_ms(), "queue lost with node " + it->second.order_id);
    }
    it = unacked_.erase(it);
  }
}

}  // namespace topup::simulate
