// BatchPublisher: hands accepted order ids to the Queue in batches, from a thread of its own, so
// that the thread that learns of an accept (the store's) never waits for the queue.
//
// Losing an id here costs only time: the order is durable and due in the store, and the sweeper
// publishes it once redeliver_after_ms has passed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "topup/queue.h"

namespace topup::api {

class BatchPublisher {
 public:
  // `queue` must outlive the publisher. Beyond `max_pending` ids waiting, Add() drops ids.
  explicit BatchPublisher(Queue* queue, size_t max_pending = 100'000);
  // Publishes what was added, then joins its thread.
  ~BatchPublisher();
  BatchPublisher(const BatchPublisher&) = delete;
  BatchPublisher& operator=(const BatchPublisher&) = delete;

  // Thread-safe; never blocks on the queue.
  void Add(std::string order_id);

 private:
  void Loop();

  Queue* const queue_;
  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable has_ids_;
  std::vector<std::string> pending_;  // GUARDED_BY(mu_)
  bool stopping_ = false;             // GUARDED_BY(mu_)
  std::thread thread_;                // last: started once everything above is constructed
};

}  // namespace topup::api
