#include "cli/shutdown_watchdog.h"

#include <spdlog/spdlog.h>

#include <cassert>
#include <cstdlib>

namespace topup::cli {

// The process exits with this code when a stop overruns its bound.
constexpr int kStopOverranExitCode = 3;

void ShutdownWatchdog::Arm(std::chrono::milliseconds bound) {
  assert(!thread_.joinable());
  thread_ = std::thread([this, bound] {
    std::unique_lock lock(mu_);
    if (disarmed_cv_.wait_for(lock, bound, [this] { return disarmed_; })) return;
    spdlog::critical("stopping took longer than {} ms: exiting without finishing", bound.count());
    spdlog::shutdown();  // flushes the log
    // No destructors: they are what hangs.
    std::_Exit(kStopOverranExitCode);
  });
}

ShutdownWatchdog::~ShutdownWatchdog() {
  {
    std::lock_guard lock(mu_);
    disarmed_ = true;
  }
  disarmed_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace topup::cli
