// What a notifier is told: NotifierOptions, and the TryReport it gives of every recorded try.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace topup::notify {

// A try whose outcome was recorded, for the metrics.
struct TryReport {
  std::string_view outcome;  // "acknowledged", "failed", "timeout" or "refused" (SSRF guard)
  bool gave_up = false;      // it failed and was the schedule's last
  // Acknowledged: from the schedule's start (the order's finality, or a re-send) to now.
  int64_t delivered_after_ms = 0;
};

struct NotifierOptions {
  std::string owner = "notifier";  // the lease owner: unique per node
  size_t max_in_flight = 256;      // rows claimed and not yet recorded, at once
  int64_t try_timeout_ms = 5'000;  // per try, connecting included
  // How long a claimed row stays this node's. Longer than a try, so that a live node keeps what
  // it sends; a dead node's rows go to another after it.
  int64_t lease_ms = 30'000;
  int64_t poll_interval_ms = 200;  // how often the outbox is looked at when nothing wakes it
  // Off: only public addresses are connected to (core/notify_address.h), at connect time, on the
  // resolved address.
  bool allow_private = false;
  std::string ca_file{};  // HTTPS: this CA (PEM) instead of the system's trust store
  size_t max_connections_per_origin = 32;
  size_t max_origins = 256;  // clients kept; idle ones beyond are dropped
  // A merchant's opened signing key is reused this long (notify/signing_key_cache.h): a revoked
  // key may still sign for this long after its revocation.
  int64_t key_cache_ms = 1'000;
  size_t key_cache_merchants = 4'096;
  // Finished tries are recorded in one store write once this many are waiting, once the first
  // of them has waited record_linger_ms, or once no try is still out.
  size_t record_batch = 128;
  int64_t record_linger_ms = 20;
  // Added to the nice value of the notifier's threads (0: as the process).
  int nice = 10;
  // Told of every recorded try, on the notifier thread; must be cheap.
  std::function<void(const TryReport&)> on_try{};
  // Test-only: the retry schedule (notify/retry_schedule.h) runs this many times faster, so that
  // a simulation sees it to its end in minutes rather than hours. 1 in production.
  int32_t test_only_schedule_divisor = 1;
  // Test-only: a try that timed out counts as acknowledged, the bug the simulation must catch.
  bool test_only_ack_on_timeout = false;
};

}  // namespace topup::notify
