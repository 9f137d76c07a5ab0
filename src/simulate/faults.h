// Faults: which kinds of trouble a simulated run injects. Each is drawn from the run's seed when
// it is on; all are on unless `--faults` names a subset. `frequent_failures` is not a kind of
// trouble but a profile that changes the odds: off unless named (`all,frequent_failures`).
#pragma once

#include <string>
#include <string_view>

#include "topup/status.h"

namespace topup::simulate {

struct Faults {
  bool crash = true;       // a node dies at a random step and restarts from the store
  bool clock_jump = true;  // every clock jumps forward (up to a minute) at once
  // One node's wall clock alone jumps forward (up to a minute and a half), far beyond
  // OrderPolicy::not_found_margin_ms; its monotonic clock does not.
  bool node_clock_jump = true;
  bool queue_loss = true;          // a published id is lost
  bool queue_duplicate = true;     // a published id is delivered twice
  bool outage = true;              // a channel refuses everything for a while
  bool reset = true;               // a submit's connection resets before the supplier acts
  bool blackhole = true;           // the supplier acts (credits or fails) and never answers
  bool slow_processing = true;     // "processing" for a long time (up to minutes)
  bool error_after_credit = true;  // credited, then HTTP 5xx
  bool garbage = true;             // credited, then an unreadable body or an unknown status
  bool index_lag = true;           // the query index lags its intake (within the grace)
  bool query_errors = true;        // a query answers HTTP 503
  bool callbacks = true;  // suppliers call back: early, late, twice, never, or replayed later
  // Merchants' notify_url endpoints slow, failing or refusing for a while, or never answering.
  bool receiver = true;
  // Suppliers fail 9 attempts in 10 (not 2), so many orders end refunded, some after attempts
  // of unknown outcome: "no refund of a credited order" is tested hard.
  bool frequent_failures = false;

  // "none", or a comma-separated list of the names above (crash,clock_jump,...), where "all"
  // names every kind of trouble (all but frequent_failures).
  static Result<Faults> Parse(std::string_view spec);
  std::string ToString() const;
};

}  // namespace topup::simulate
