// LoopRunner: runs one loop (one of the engine's, or the notifier's) on a thread of its own, with
// real time.
//
// A loop is a pass that does one round of work without blocking on anything but its own store
// and queue calls, and says how long it may rest before the next pass (kAtOnce: no rest). The
// runner rests that long on a condition variable, or less when Wake() is called, so the engine's
// code holds no sleeps and no timed waits of its own: the simulation (src/simulate) runs the same
// passes from one thread in simulated time instead.
//
// Threading: Wake() and WaitUntil() from any thread; Start()/Stop() from the owner's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace topup {

// How long a loop's pass may rest before the next one (or less, if woken).
using PassRest = std::chrono::milliseconds;
inline constexpr PassRest kAtOnce{0};

class LoopRunner {
 public:
  using Pass = std::function<PassRest()>;

  // `name` names the thread (at most 15 characters shown).
  LoopRunner(std::string name, Pass pass);
  ~LoopRunner();  // Stop()s
  LoopRunner(const LoopRunner&) = delete;
  LoopRunner& operator=(const LoopRunner&) = delete;

  // Starts the thread; its first pass runs after `first_rest` (or once woken).
  void Start(PassRest first_rest = kAtOnce);
  // Makes the next rest end at once (or the rest under way). Never blocks on a pass, so it may be
  // called with the pass's own locks held.
  void Wake();
  // Lets the pass under way finish and joins the thread. Idempotent.
  void Stop();
  // Waits at most `bound` until `done()` holds, looking again after each pass. `done` is called
  // without the runner's lock. Returns whether it held.
  bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds bound);

 private:
  void Run(PassRest first_rest);

  const std::string name_;
  const Pass pass_;
  std::mutex mu_;
  std::condition_variable wake_cv_;    // Wake() and Stop()
  std::condition_variable passed_cv_;  // after every pass
  bool woken_ = false;                 // GUARDED_BY(mu_)
  bool stopping_ = false;              // GUARDED_BY(mu_)
  uint64_t passes_ = 0;                // GUARDED_BY(mu_)
  std::thread thread_;                 // owned by the thread that calls Start/Stop
};

}  // namespace topup
