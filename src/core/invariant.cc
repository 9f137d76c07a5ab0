#include "core/invariant.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace topup {
namespace {

void ReportOnStderr(const char* condition, const char* message, const char* file, int line) {
  std::fprintf(stderr, "invariant broken at %s:%d: %s (%s)\n", file, line, message, condition);
  std::fflush(stderr);
}

std::atomic<InvariantReporter> reporter{&ReportOnStderr};

}  // namespace

void SetInvariantReporter(InvariantReporter new_reporter) {
  reporter.store(new_reporter != nullptr ? new_reporter : &ReportOnStderr);
}

void InvariantFailed(const char* condition, const char* message, const char* file,
                     int line) noexcept {
  reporter.load()(condition, message, file, line);
  std::abort();
}

}  // namespace topup
