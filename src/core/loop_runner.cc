#include "core/loop_runner.h"

#include <cassert>

#include "core/thread_name.h"

namespace topup {

LoopRunner::LoopRunner(std::string name, Pass pass)
    : name_(std::move(name)), pass_(std::move(pass)) {}

LoopRunner::~LoopRunner() { Stop(); }

void LoopRunner::Start(PassRest first_rest) {
  assert(!thread_.joinable());
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this, first_rest] { Run(first_rest); });
}

void LoopRunner::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  wake_cv_.notify_one();
}

void LoopRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  passed_cv_.notify_all();
}

bool LoopRunner::WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (true) {
    uint64_t seen = 0;
    {
      std::lock_guard lock(mu_);
      seen = passes_;
    }
    // A pass that ends after this look bumps passes_, so the wait below cannot miss it.
    if (done()) return true;
    std::unique_lock lock(mu_);
    const bool passed =
        passed_cv_.wait_until(lock, deadline, [&] { return passes_ != seen || stopping_; });
    if (!passed || stopping_) {
      lock.unlock();
      return done();
    }
  }
}

void LoopRunner::Run(PassRest first_rest) {
  SetThreadName(name_);
  PassRest rest = first_rest;
  while (true) {
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait_for(lock, rest, [this] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    rest = pass_();
    {
      std::lock_guard lock(mu_);
      ++passes_;
    }
    passed_cv_.notify_all();
  }
}

}  // namespace topup
