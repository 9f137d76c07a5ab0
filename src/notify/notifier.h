// Notifier: delivers the notification outbox (Store::ClaimNotifications) to merchants.
//
// One thread of its own claims due rows under a lease (each with its order's fields, so nothing
// more is read), signs each body with the merchant's newest active key (kept 1 s; the scheme of
// auth/request_signature.h, so the merchant verifies it with the secret it holds) and POSTs it
// with an AsyncHttpClient per origin, which keeps its connections alive. Any 2xx acknowledges;
// anything else (another status, a timeout, a refused address) is tried again on the schedule of
// notify/retry_schedule.h. Finished tries wait a little to be recorded together: the same thread
// records many in one store write (Store::RecordNotificationTries), never an HTTP I/O thread.
// Delivery is at least once: a node that dies after the merchant answered but before the outcome
// is recorded leaves the row to be sent again when its lease lapses.
//
// Orders come first: the notifier's thread, and the HTTP clients' I/O threads it starts, run at a
// lower CPU priority (options.nice), so that on a busy machine a backlog of notifications waits
// for CPU rather than the orders. Its store work is few, large writes: a claim only once a
// quarter of max_in_flight is free, and one write per batch of finished tries. On SQLite those
// writes wait while order writes wait (sqlite::WritePriority::kBackground, at most 1 s), and they
// lease at most max_in_flight rows.
//
// Threading: clients_, signing_keys_ belong to the notifier thread; in_flight_, finished_, wake_
// and stopping_ are guarded by mu_.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/secret_box.h"
#include "http/async_http_client.h"
#include "notify/signing_key_cache.h"
#include "topup/clock.h"
#include "topup/store.h"

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
  // Finished tries are recorded in one store write once this many are waiting, or once the first
  // of them has waited record_linger_ms.
  size_t record_batch = 128;
  int64_t record_linger_ms = 20;
  // Added to the nice value of the notifier's threads (0: as the process).
  int nice = 10;
  // Told of every recorded try, on the notifier thread; must be cheap.
  std::function<void(const TryReport&)> on_try{};
};

class Notifier {
 public:
  // The pointers must outlive the Notifier. Starts its threads.
  Notifier(Store* store, Clock* clock, const auth::SecretBox* secret_box, NotifierOptions options);
  // Stops: no new try starts; waits up to one try timeout for those under way. What is not
  // recorded by then is tried again once its lease lapses.
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Looks at the outbox now rather than at the next poll (after a re-send, or in tests).
  void Wake();

  // Tries whose outcome is recorded, and of those how many a 2xx acknowledged.
  int64_t tries_recorded() const;
  int64_t delivered() const;

 private:
  struct Origin;
  // A try that ended, waiting to be recorded; it holds its in-flight slot until then.
  struct FinishedTry {
    Notification notification;
    NotificationTry attempt;
    std::string_view outcome;  // one of TryReport's, a string literal
  };
  void Run();
  // Waits until there is something to do: a wake, a stop, enough finished tries, or the poll.
  // Returns the finished tries to record now. REQUIRES: lock holds mu_.
  std::vector<FinishedTry> WaitForWork(std::unique_lock<std::mutex>& lock);
  // Claims what is due and starts a try for each. On the notifier thread.
  void ClaimAndSend();
  void Send(const ClaimedNotification& claimed);
  // Queues a try's outcome to be recorded. Any thread.
  void Finish(const Notification& notification, NotificationTry attempt, std::string_view outcome);
  // Records `tries` (in store writes of distinct notifications) and frees their slots. On the
  // notifier thread.
  void RecordTries(std::vector<FinishedTry> tries);
  void RecordBatch(std::span<const FinishedTry> batch);
  void DropIdleOrigins();
  http::AsyncHttpClient* ClientFor(const std::string& scheme, const std::string& host,
                                   uint16_t port);

  Store* const store_;
  Clock* const clock_;
  const NotifierOptions options_;
  SigningKeyCache signing_keys_;  // notifier thread only

  mutable std::mutex mu_;
  std::condition_variable changed_;
  size_t in_flight_ = 0;               // GUARDED_BY(mu_): claimed, not yet recorded
  std::vector<FinishedTry> finished_;  // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point record_due_{};  // GUARDED_BY(mu_)
  bool wake_ = false;                                   // GUARDED_BY(mu_)
  bool stopping_ = false;                               // GUARDED_BY(mu_)
  int64_t tries_recorded_ = 0;                          // GUARDED_BY(mu_)
  int64_t delivered_ = 0;                               // GUARDED_BY(mu_)

  std::map<std::string, std::unique_ptr<Origin>> clients_;  // by origin; notifier thread only

  std::thread thread_;
};

}  // namespace topup::notify
