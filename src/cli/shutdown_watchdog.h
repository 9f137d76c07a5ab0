// ShutdownWatchdog: a hard bound on a graceful stop. Once armed, it ends the process with exit code
// 3 if the process is still running `bound` later, so that a stop that hangs (a store that no
// longer answers, say) cannot outlast what a service manager was promised.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace topup::cli {

class ShutdownWatchdog {
 public:
  ShutdownWatchdog() = default;
  ~ShutdownWatchdog();  // disarms: the stop finished in time
  ShutdownWatchdog(const ShutdownWatchdog&) = delete;
  ShutdownWatchdog& operator=(const ShutdownWatchdog&) = delete;

  // Starts the countdown. REQUIRES: called once.
  void Arm(std::chrono::milliseconds bound);

 private:
  std::mutex mu_;
  std::condition_variable disarmed_cv_;
  bool disarmed_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;     // owned by the thread that calls Arm and the destructor
};

}  // namespace topup::cli
