// WorkPool: a fixed set of threads running posted tasks from a bounded queue. Used where a
// non-blocking caller (an HTTP I/O thread) needs a blocking call (a durable store write) made.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace topup {

class WorkPool {
 public:
  WorkPool(size_t thread_count, size_t queue_capacity);
  ~WorkPool();  // runs what was already posted, then joins
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Returns false (and drops the task) if queue_capacity tasks are already waiting.
  bool Post(std::function<void()> task);

 private:
  void Run();

  const size_t queue_capacity_;
  std::mutex mu_;
  std::condition_variable has_work_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace topup
