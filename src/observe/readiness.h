// Readiness: whether this process can do its work now, for GET /readyz.
//
// Two kinds of checks:
//  * probes, which may block (a write through the store, a round trip to the broker): each runs
//    every interval_ms on a thread of its own, and /readyz reads its last result. A probe that
//    has not answered for stale_ms counts as failed, so a store that hangs is caught too;
//  * conditions, which are cheap (the engine's loops' last progress) and are evaluated per request.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "topup/clock.h"
#include "topup/status.h"

namespace topup::observe {

struct ReadinessOptions {
  int64_t interval_ms = 1'000;  // between the end of a probe and the start of the next
  int64_t stale_ms = 3'000;     // a probe running longer than this counts as failed
};

class Readiness {
 public:
  // `clock` must outlive this object.
  explicit Readiness(Clock* clock, ReadinessOptions options = {});
  ~Readiness();  // Stop()s
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // REQUIRES: before Start(). `probe` runs on its own thread; OK means ready.
  void AddProbe(std::string name, std::function<Status()> probe);
  // REQUIRES: before Start(). `reason` runs per request, on the caller's thread; it returns why
  // the process is not ready, or nullopt. It must be cheap.
  void AddCondition(std::function<std::optional<std::string>()> reason);

  // Starts the probe threads. Until a probe first answers it counts as not ready.
  void Start();
  // Joins the probe threads; a probe under way is waited for. Idempotent.
  void Stop();

  // Why the process is not ready, one line per failed check; empty when ready. Any thread.
  std::vector<std::string> Reasons() const;

 private:
  struct Probe {
    std::string name;
    std::function<Status()> run;
    // GUARDED_BY(Readiness::mu_):
    bool answered = false;
    Status last;
    int64_t started_ms = 0;  // of the probe under way; 0 when none is
  };

  void Loop(Probe* probe);

  Clock* const clock_;
  const ReadinessOptions options_;
  std::vector<std::unique_ptr<Probe>> probes_;  // the list is fixed once started
  std::vector<std::function<std::optional<std::string>()>> conditions_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)

  std::vector<std::thread> threads_;  // owned by the thread that calls Start/Stop
};

}  // namespace topup::observe
