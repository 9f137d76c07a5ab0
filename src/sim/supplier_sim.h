// SupplierSim: suppliers that speak protocol v1 over HTTP and misbehave on purpose.
//
// One channel at the root paths (SimOptions::channels empty, configured by SimOptions::channel):
//   POST /recharge {"supplier_order_id": str, "phone": str, "face_value": int}
//        -> {"status": "success"|"failed"|"processing", "supplier_ref"?, "reason"?}
//   GET  /query?supplier_order_id=...
//        -> {"status": "success"|"failed"|"processing"|"not_found", "supplier_ref"?, "reason"?}
//   GET  /credits -> {"credits": [{"supplier_order_id", "phone", "face_value", "supplier_ref",
//                                  "at_ms"}, ...]}   every credit ever made, in order
//   GET  /stats   -> {"connections_accepted", "received", "credited", "failed", "blackholed",
//                     "processing",
//                     "duplicates", "queries", "outage_refusals", "errors_after_credit",
//                     "truncated", "wrong_content", "unknown_status", "garbled_after_credit",
//                     "resets", "query_errors", "callbacks_sent", "callbacks_duplicated",
//                     "callbacks_lost", "callbacks_failed", "callbacks_unknown_id",
//                     "callbacks_dropped"}   every SimStats field by its name
//
// Several channels on one port (SimOptions::channels not empty): the same protocol under a path
// prefix per channel, so a service reaches channel "alpha" at base URL http://HOST:PORT/alpha:
//   POST /{channel}/recharge, GET /{channel}/query, GET /{channel}/stats
//   GET  /credits   every credit of every channel, in order, each with a "channel" field
//   GET  /stats     the sums over every channel
//
// What happens to each new attempt is decided when it arrives, from a seeded random source per
// channel, so a run with one io thread and one client replays exactly:
//   * with probability reset_rate the connection is reset (RST) at once without an answer, before
//     the request is acted on: nothing is credited and nothing remembered, so /query answers
//     not_found for good;
//   * otherwise failed with probability fail_rate (never credited);
//   * otherwise credited at once, and then with probability blackhole_rate never answered (the
//     connection is held for blackhole_hold_ms and closed without a response);
//   * otherwise, with probability processing_rate, answered "processing": the outcome (success or
//     failed, decided above) shows on /query only processing_ms after arrival;
//   * otherwise answered with the outcome after a lognormal latency. A credited attempt answered
//     so is, instead of a well-formed "success", answered garbled: with probability
//     error_after_credit_rate HTTP 5xx, else with truncated_rate a body cut short, else with
//     wrong_content_rate HTML or key=value text, else with unknown_status_rate a status the
//     protocol lacks. The credit stands, and /query tells the truth.
// In async mode a new attempt is always answered "processing" (unless blackholed or reset, and
// never garbled), and its outcome is also POSTed to the service as a signed callback after a
// lognormal delay (see AsyncCallbackOptions); /query behaves as above either way. With
// probability query_error_rate a /query answers HTTP 503, whatever the attempt's state.
//
// The draws of a new attempt, in order (a knob at 0 draws nothing unless said, so seeds made
// before a knob existed keep their meaning while it is 0):
//   fail, blackhole, processing (always, as they always were); reset (if reset_rate > 0; a reset
//   attempt draws nothing more); error_after_credit, truncated, wrong_content, unknown_status
//   (each if its rate > 0), then one draw choosing the variant (status code, HTML or JSON, where
//   to cut, ...) if any of these four rates is > 0; in async mode the callback's four draws; the
//   latency's two draws if the latency is on. A repeat under dedup draws only the latency. A
//   /query draws twice (fault, then variant) if query_error_rate > 0.
//
// During an outage window a channel takes no work: recharges are refused (HTTP 503) or, in
// blackhole outage mode, held and dropped; queries answer 503. Nothing is credited.
//
// The credits are the ground truth a test compares the service's ledger against.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "topup/clock.h"
#include "topup/status.h"

namespace topup::sim {

// [start_ms, end_ms) in milliseconds since the simulator started, by SimOptions::clock.
struct OutageWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

enum class OutageMode {
  kRefuse,     // recharge and query answer HTTP 503 "outage"
  kBlackhole,  // recharge is held for blackhole_hold_ms and dropped; query answers 503
};

// Callbacks of one channel in async mode:
//   POST <callback url>   X-Signature: lower-case hex HMAC-SHA256(callback_secret, raw body)
//   {"supplier_order_id": str, "status": "success"|"failed", "supplier_ref": str}
// Each is sent after a lognormal delay; with probability loss_rate never, otherwise with
// probability duplicate_rate twice (the second copy another delay after the first). A delivery is
// retried at most max_retries times on transport errors and 5xx answers; a 404 is counted and not
// retried.
struct AsyncCallbackOptions {
  // "http://127.0.0.1:PORT/path", or several separated by commas (several service nodes): each
  // delivery tries them in order and moves on when one cannot be connected to.
  std::string callback_url{};
  std::string callback_secret{};
  // Delay from intake to the callback: lognormal; both 0: at once. Otherwise REQUIRES
  // 0 < delay_median_ms <= delay_p99_ms. Draws are capped at delay_max_ms.
  double delay_median_ms = 0;
  double delay_p99_ms = 0;
  int64_t delay_max_ms = 60'000;
  double duplicate_rate = 0;
  double loss_rate = 0;
};

// What one simulated channel does. Every field but `name` is a behaviour knob.
struct ChannelSimOptions {
  // [A-Za-z0-9_.-]+, unique; the path prefix. Ignored for the one channel at the root paths.
  std::string name{};

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

  // Faults of real suppliers, each the probability per new attempt (per query for the last).
  // The four "after credit" faults happen only to attempts credited and answered at once (not
  // failed, blackholed, processing or async); the phone is credited and /query later answers
  // "success" with the supplier_ref, subject to query_lag_ms. They exclude one another, in this
  // order:
  //   HTTP 500, 502 or 503, with {"error":"internal"} or an HTML error page (text/html);
  double error_after_credit_rate = 0;
  //   HTTP 200 application/json, the normal answer cut short (e.g. {"status":"succ), with a
  //   Content-Length that matches the bytes sent;
  double truncated_rate = 0;
  //   HTTP 200 text/html (an HTML page) or text/plain ("status=success\nsupplier_ref=...\n");
  double wrong_content_rate = 0;
  //   HTTP 200 JSON whose status is one of "SUCCESS_PENDING", "0000", "", "ok", "done".
  double unknown_status_rate = 0;
  // Probability that a new attempt gets no answer: its connection is reset at once (RST, so the
  // client reads ECONNRESET; HttpClient: Unavailable("broken")), nothing is credited and nothing
  // remembered.
  double reset_rate = 0;
  // Probability that a /query answers HTTP 503 with a JSON or HTML body, whatever the state.
  double query_error_rate = 0;

  std::vector<OutageWindow> outages{};
  OutageMode outage_mode = OutageMode::kRefuse;

  // Set: async mode with callbacks.
  std::optional<AsyncCallbackOptions> async{};
};

struct SimOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; see SupplierSim::port()
  int io_threads = 1;
  size_t max_connections = 10'000;  // open at once; further ones are accepted and closed
  // Both set: serve HTTPS with this certificate chain and key (PEM files).
  std::string tls_cert_file{};
  std::string tls_key_file{};
  // Channel i draws from its own source seeded from seed and i, so traffic to one channel does
  // not change the decisions of another.
  uint64_t seed = 1;

  // The one channel served at the root paths when `channels` is empty.
  ChannelSimOptions channel{};
  // When not empty: each channel under /{name}/, and `channel` is unused.
  std::vector<ChannelSimOptions> channels{};

  // When not empty, one JSON line per credit is appended to this file and flushed.
  std::string credits_file{};
  // Bound on remembered attempts per channel and on kept credits; beyond it new attempts are
  // refused with 503 "sim_full".
  size_t max_attempts = 5'000'000;

  // Callback senders (started only when a channel is async): threads, and the bound on
  // callbacks due but not yet taken by a sender; beyond it they are dropped and counted.
  int callback_threads = 2;
  size_t callback_queue_max = 10'000;
  std::chrono::milliseconds callback_timeout{2'000};  // one delivery try
  int callback_max_retries = 3;
  std::chrono::milliseconds callback_retry_backoff{50};  // doubles with each retry

  // Time of credits, of processing/lag visibility and of outage windows. nullptr:
  // SystemClock(). Latency, callback delays and blackhole holds are real time regardless.
  Clock* clock = nullptr;
};

struct SimCredit {
  std::string supplier_order_id{};
  std::string phone{};
  int64_t face_value = 0;
  std::string supplier_ref{};
  int64_t at_ms = 0;
  std::string channel{};  // empty for the channel at the root paths
};

struct SimStats {
  int64_t received = 0;         // valid POST /recharge requests, repeats included
  int64_t credited = 0;         // credits made
  int64_t failed = 0;           // attempts decided failed
  int64_t blackholed = 0;       // attempts never answered
  int64_t processing = 0;       // attempts answered "processing"
  int64_t duplicates = 0;       // POSTs whose supplier_order_id was seen before
  int64_t queries = 0;          // GET /query requests
  int64_t outage_refusals = 0;  // recharges and queries turned away by an outage
  // Credited attempts answered garbled, by fault; garbled_after_credit is their sum.
  int64_t errors_after_credit = 0;   // answered HTTP 5xx
  int64_t truncated = 0;             // answered with a body cut short
  int64_t wrong_content = 0;         // answered as HTML or key=value text
  int64_t unknown_status = 0;        // answered with a status the protocol lacks
  int64_t garbled_after_credit = 0;  // the four above together
  int64_t resets = 0;                // new attempts closed unanswered, neither credited nor kept
  int64_t query_errors = 0;          // queries answered 503 on purpose (also in `queries`)
  // Each callback copy due ends in exactly one of sent, failed, unknown_id, dropped (or is still
  // pending).
  int64_t callbacks_sent = 0;        // copies the service answered with 2xx
  int64_t callbacks_duplicated = 0;  // attempts whose callback was sent twice
  int64_t callbacks_lost = 0;        // attempts whose callback was never sent on purpose
  int64_t callbacks_failed = 0;      // copies given up: retries exhausted, or a 4xx but 404
  int64_t callbacks_unknown_id = 0;  // copies the service answered 404
  int64_t callbacks_dropped = 0;     // copies dropped: sender queue full, or stopped
  // TCP connections the simulator accepted, over every channel (in Stats() and /stats only).
  int64_t connections_accepted = 0;

  SimStats& operator+=(const SimStats& other);
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
  // Stops serving: held and delayed answers and callbacks not yet sent are dropped, connections
  // closed, callback senders joined. Idempotent.
  void Stop();

  // Thread-safe snapshots. Stats() sums every channel.
  std::vector<SimCredit> Credits() const;
  SimStats Stats() const;
  // NotFound("unknown_channel") unless a channel of that name is served under a path prefix.
  Result<SimStats> ChannelStats(const std::string& name) const;

 private:
  class Impl;
  explicit SupplierSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace topup::sim
