#include "core/work_pool.h"

#include "core/thread_name.h"

namespace topup {

WorkPool::WorkPool(size_t thread_count, size_t queue_capacity) : queue_capacity_(queue_capacity) {
  for (size_t i = 0; i < thread_count; ++i) threads_.emplace_back([this] { Run(); });
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  has_work_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

bool WorkPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || tasks_.size() >= queue_capacity_) return false;
    tasks_.push_back(std::move(task));
  }
  has_work_.notify_one();
  return true;
}

void WorkPool::Run() {
  SetThreadName("work-pool");
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      has_work_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and everything posted has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace topup
