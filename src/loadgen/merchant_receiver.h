// MerchantReceiver: the merchant's end of the notifications in a load run. An HTTP server on
// 127.0.0.1 that checks each notification's signature with the merchant's key secret (the scheme
// of auth/request_signature.h, as a merchant would), acknowledges it with 200 and records when
// each order's notification was first acknowledged. During the fault windows it misbehaves: it
// answers 503, or it accepts the request and never answers it.
//
// It plays the merchant's own server, which in production runs on the merchant's machines: its
// one I/O thread runs at the lowest CPU priority (nice 19), so that on the load run's shared cores
// it yields to the server, the simulator and the load generator (a nice value is a weight, not a
// strict order), and its CPU time is told apart (CpuSeconds) from the load generator's.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/http_server.h"
#include "topup/status.h"

namespace topup::loadgen {

// A window, in ms from the receiver's start, in which every notification is answered 503
// (kFail) or held without an answer until the receiver stops (kHang).
struct ReceiverFault {
  enum class Kind { kFail, kHang };
  Kind kind = Kind::kFail;
  int64_t from_ms = 0;
  int64_t until_ms = 0;
};

struct MerchantReceiverOptions {
  std::string key_id;  // the merchant's key; any other key id is a bad signature
  std::string secret;
  std::vector<ReceiverFault> faults{};
};

// What the receiver saw, at one moment.
struct ReceivedNotifications {
  // Unix ms of the first acknowledgement, by "<order_id> <status>".
  std::map<std::string, int64_t> first_acknowledged_ms;
  int64_t acknowledged = 0;  // answered 200, repeats included
  // Acknowledged although the same order id + status had been acknowledged before: what a
  // merchant drops as a duplicate (delivery is at least once).
  int64_t duplicated = 0;
  // Unknown key, stale timestamp, reused nonce, a signature that does not match, or not a
  // notification at all: answered 401.
  int64_t bad_signatures = 0;
  int64_t failed_on_purpose = 0;  // answered 503 in a kFail window
  int64_t hung_on_purpose = 0;    // held in a kHang window
  // Requests by the X-Topup-Notification-Id header, whatever the answer.
  std::map<int64_t, int64_t> requests_by_notification_id;
  // TCP connections the notifiers opened to it: few, when they keep them alive.
  int64_t connections_accepted = 0;
};

class MerchantReceiver {
 public:
  static Result<std::unique_ptr<MerchantReceiver>> Start(MerchantReceiverOptions options);
  ~MerchantReceiver();  // stops; held requests are dropped unanswered
  MerchantReceiver(const MerchantReceiver&) = delete;
  MerchantReceiver& operator=(const MerchantReceiver&) = delete;

  uint16_t port() const { return server_->port(); }
  // The notify_url of the orders: http://127.0.0.1:<port>/notify
  std::string url() const;
  ReceivedNotifications Snapshot() const;
  // Distinct order id + status acknowledged so far.
  int64_t acknowledged_distinct() const;
  // CPU time its I/O thread (where all its work runs) has used so far.
  double CpuSeconds() const;

 private:
  explicit MerchantReceiver(MerchantReceiverOptions options);
  void Handle(http::HttpRequest request, http::Responder respond);
  bool SignatureValid(const http::HttpRequest& request);  // REQUIRES: mu_ held

  const MerchantReceiverOptions options_;
  const std::chrono::steady_clock::time_point started_;
  clockid_t io_thread_clock_{};  // set by Start, before any request
  mutable std::mutex mu_;
  ReceivedNotifications received_;            // GUARDED_BY(mu_)
  std::set<std::string> nonces_;              // GUARDED_BY(mu_): every nonce seen
  std::vector<http::Responder> held_;         // GUARDED_BY(mu_): requests never to be answered
  std::unique_ptr<http::HttpServer> server_;  // last: stopped before the rest goes
};

}  // namespace topup::loadgen
