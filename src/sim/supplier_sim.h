// SupplierSim: a supplier that speaks protocol v1 over HTTP and misbehaves on purpose.
//
//   POST /recharge {"supplier_order_id": str, "phone": str, "face_value": int}
//        -> {"status": "success"|"failed"|"processing", "supplier_ref"?, "reason"?}
//   GET  /query?supplier_order_id=...
//        -> {"status": "success"|"failed"|"processing"|"not_found", "supplier_ref"?, "reason"?}
//   GET  /credits -> {"credits": [{"supplier_order_id", "phone", "face_value", "supplier_ref",
//                                  "at_ms"}, ...]}   every credit ever made, in order
//   GET  /stats   -> {"received", "credited", "failed", "blackholed", "processing",
//                     "duplicates", "queries"}
//
// What happens to each new attempt is decided when it arrives, from a seeded random source, so a
// run with one io thread and one client replays exactly:
//   * failed with probability fail_rate (never credited);
//   * otherwise credited at once, and then with probability blackhole_rate never answered (the
//     connection is held for blackhole_hold_ms and closed without a response);
//   * otherwise, with probability processing_rate, answered "processing": the outcome (success or
//     failed, decided above) shows on /query only processing_ms after arrival;
//   * otherwise answered with the outcome after a lognormal latency.
// The credits are the ground truth a test compares the service's ledger against.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "topup/clock.h"
#include "topup/status.h"

namespace topup::sim {

struct SimOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; see SupplierSim::port()
  int io_threads = 1;
  uint64_t seed = 1;

  // Answer latency: lognormal with this median and 99th percentile. Both 0: answer at once.
  // Otherwise REQUIRES 0 < latency_median_ms <= latency_p99_ms. Draws are capped at
  // latency_max_ms.
  double latency_median_ms = 0;
  double latency_p99_ms = 0;
  int64_t latency_max_ms = 60'000;

  double fail_rate = 0;       // probability that an attempt fails
  double blackhole_rate = 0;  // probability that a credited attempt is never answered
  int64_t blackhole_hold_ms = 30'000;
  double processing_rate = 0;  // probability that an answered attempt says "processing"
  int64_t processing_ms = 2'000;
  // A query for an attempt that arrived less than this long ago answers not_found.
  int64_t query_lag_ms = 0;
  // With dedup, a repeated supplier_order_id gets the first request's outcome and no new credit.
  // Without, every POST is a new attempt that may credit the phone again.
  bool dedup = true;

  // When not empty, one JSON line per credit is appended to this file and flushed.
  std::string credits_file;
  // Bound on remembered attempts and on kept credits; beyond it new attempts are refused with
  // 503 "sim_full".
  size_t max_attempts = 5'000'000;

  // Time of credits and of processing/lag visibility. nullptr: SystemClock(). Latency and
  // blackhole holds are real time regardless.
  Clock* clock = nullptr;
};

struct SimCredit {
  std::string supplier_order_id;
  std::string phone;
  int64_t face_value = 0;
  std::string supplier_ref;
  int64_t at_ms = 0;
};

struct SimStats {
  int64_t received = 0;    // valid POST /recharge requests, repeats included
  int64_t credited = 0;    // credits made
  int64_t failed = 0;      // attempts decided failed
  int64_t blackholed = 0;  // attempts never answered
  int64_t processing = 0;  // attempts answered "processing"
  int64_t duplicates = 0;  // POSTs whose supplier_order_id was seen before
  int64_t queries = 0;     // GET /query requests
};

class SupplierSim {
 public:
  // Validates the options, opens the credits file, binds and starts serving.
  // Errors: InvalidArgument("bad_sim_options"), Unavailable("bind_failed"),
  // Unavailable("credits_file").
  static Result<std::unique_ptr<SupplierSim>> Start(const SimOptions& options);

  ~SupplierSim();
  SupplierSim(const SupplierSim&) = delete;
  SupplierSim& operator=(const SupplierSim&) = delete;

  uint16_t port() const;
  // Stops serving: held and delayed answers are dropped, connections closed. Idempotent.
  void Stop();

  // Thread-safe snapshots.
  std::vector<SimCredit> Credits() const;
  SimStats Stats() const;

 private:
  class Impl;
  explicit SupplierSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace topup::sim
