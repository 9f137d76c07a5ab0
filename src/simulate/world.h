// The deterministic simulation (`topup simulate`): the real Engine (with its order policy,
// channel router, circuit breakers, sweeper and lease keeper) and the real SQLite store, in a
// world of simulated merchants, suppliers (simulated_supplier.h), a queue and faults, and the
// real notifier delivering the notification outbox to simulated merchant endpoints
// (simulated_receiver.h), all driven by one seed on one thread in simulated time. The same seed
// replays the same run: the same trace, the same trace hash.
//
// The store is a real SQLite file in a temporary directory. Its group-commit writer has a thread
// of its own, but every call the simulation makes waits for its own answer, so what the store
// does and answers depends on nothing but the order of the calls, which the seed fixes.
#pragma once

#include <cstdint>
#include <string>

#include "simulate/faults.h"

namespace topup::simulate {

struct SimulationOptions {
  uint64_t seed = 1;
  int orders = 40;
  Faults faults;
  int nodes = 0;  // topup processes sharing the store and the queue; 0: 1 or 2, from the seed
  // Test-only: the engine resends an attempt whose outcome is unknown instead of querying it
  // (OrderPolicy::test_only_resend_unknown), the bug the simulation must catch.
  bool inject_resend_bug = false;
  // Off: no order names a notify_url and the nodes run no notifier (the world of the seeds
  // found before notifications were simulated).
  bool notifications = true;
  // Test-only: the notifier counts a try that timed out as acknowledged
  // (NotifierOptions::test_only_ack_on_timeout), a bug the simulation must catch.
  bool inject_ack_on_timeout_bug = false;
  // Where the store's file goes; empty: /dev/shm if there is one, else the system's temporary
  // directory.
  std::string temp_dir;
};

struct SimulationResult {
  uint64_t seed = 0;
  bool ok = false;
  std::string violation;   // what broke, when !ok
  std::string summary;     // one line
  std::string trace_tail;  // the last lines of the trace, when !ok
  uint64_t trace_hash = 0;
  int64_t simulated_ms = 0;
  int orders = 0;    // orders the store created
  int refunded = 0;  // of those, failed (and refunded)
  // The notification outbox at the end: rows, and of those acknowledged and given up.
  int notifications = 0;
  int notifications_delivered = 0;
  int notifications_given_up = 0;
};

SimulationResult RunSimulation(const SimulationOptions& options);

}  // namespace topup::simulate
