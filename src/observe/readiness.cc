#include "observe/readiness.h"

#include <chrono>

#include "core/thread_name.h"

namespace topup::observe {

Readiness::Readiness(Clock* clock, ReadinessOptions options) : clock_(clock), options_(options) {}

Readiness::~Readiness() { Stop(); }

void Readiness::AddProbe(std::string name, std::function<Status()> probe) {
  auto entry = std::make_unique<Probe>();
  entry->name = std::move(name);
  entry->run = std::move(probe);
  probes_.push_back(std::move(entry));
}

void Readiness::AddCondition(std::function<std::optional<std::string>()> reason) {
  conditions_.push_back(std::move(reason));
}

void Readiness::Start() {
  for (const std::unique_ptr<Probe>& probe : probes_) {
    threads_.emplace_back([this, raw = probe.get()] { Loop(raw); });
  }
}

void Readiness::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void Readiness::Loop(Probe* probe) {
  SetThreadName("ready-probe");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    probe->started_ms = clock_->NowMs();
    lock.unlock();
    Status status = probe->run();
    lock.lock();
    probe->started_ms = 0;
    probe->answered = true;
    probe->last = std::move(status);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                      [this] { return stopping_; });
  }
}

std::vector<std::string> Readiness::Reasons() const {
  std::vector<std::string> reasons;
  {
    const int64_t now_ms = clock_->NowMs();
    std::lock_guard lock(mu_);
    for (const std::unique_ptr<Probe>& probe : probes_) {
      if (probe->started_ms != 0 && now_ms - probe->started_ms > options_.stale_ms) {
        reasons.push_back(probe->name + ": no answer for " +
                          std::to_string((now_ms - probe->started_ms) / 1000) + " s");
      } else if (!probe->answered) {
        reasons.push_back(probe->name + ": not checked yet");
      } else if (!probe->last.ok()) {
        reasons.push_back(probe->name + ": " + probe->last.ToString());
      }
    }
  }
  for (const auto& condition : conditions_) {
    if (std::optional<std::string> reason = condition()) reasons.push_back(std::move(*reason));
  }
  return reasons;
}

}  // namespace topup::observe
