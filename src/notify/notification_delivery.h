// NotificationDelivery: the notifier's decisions, as passes that never wait, so that production
// runs them on a thread of its own in real time (notify/notifier.h) and the simulation
// (src/simulate) runs the same passes in simulated time.
//
// A pass records the tries that finished (many in one store write, Store::RecordNotificationTries,
// once record_batch are waiting, the first has waited record_linger_ms, or none is still out at
// the sender), claims the due rows
// under a lease (each with its order's fields, so nothing more is read), signs each body with the
// merchant's newest active key (kept key_cache_ms; the scheme of auth/request_signature.h) and
// hands it to the NotificationSender. Any 2xx acknowledges; anything else (another status, a
// timeout, a refused address) is tried again on the schedule of notify/retry_schedule.h, and
// given up when it is spent. Time is the Clock's. Delivery is at least once: a node that dies
// after the merchant answered but before the outcome is recorded leaves the row to be sent again
// when its lease lapses.
//
// Its store work is few, large writes: a claim only once a quarter of max_in_flight is free, and
// one write per batch of finished tries.
//
// One try of a notification at a time per delivery: a row claimed again while its try is out is
// not sent twice, so each outcome is planned from the tries the store counts.
//
// Threading: passes, RecordFinished and the constructor/destructor on one thread (the owner's);
// the sender's callbacks on any thread. in_flight_, out_, finished_, record_due_ms_ and the counts
// are guarded by mu_; signing_keys_ belongs to the owner's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "auth/secret_box.h"
#include "notify/notification_sender.h"
#include "notify/notifier_options.h"
#include "notify/signing_key_cache.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::notify {

class NotificationDelivery {
 public:
  // Asked, from any thread, to run a pass soon: a finished try is waiting to be recorded.
  using Waker = std::function<void()>;

  // The pointers must outlive the delivery.
  NotificationDelivery(Store* store, const Clock* clock, const auth::SecretBox* secret_box,
                       NotificationSender* sender, NotifierOptions options, Waker wake);
  NotificationDelivery(const NotificationDelivery&) = delete;
  NotificationDelivery& operator=(const NotificationDelivery&) = delete;

  // One pass: records the finished tries that are due to be, claims what is due and sends it.
  // Returns how long the next pass may wait (less if woken).
  std::chrono::milliseconds DeliverOnce();
  // Records every finished try now, due or not (when stopping).
  void RecordFinished();
  // True when no try is out at the sender (each claimed row has finished, recorded or not).
  bool sender_idle() const;
  // Claimed rows not yet recorded.
  size_t in_flight() const;

  // Tries whose outcome is recorded, and of those how many a 2xx acknowledged.
  int64_t tries_recorded() const;
  int64_t delivered() const;

 private:
  // A try that ended, waiting to be recorded; it holds its in-flight slot until then.
  struct FinishedTry {
    Notification notification;
    NotificationTry attempt;
    std::string_view outcome;  // one of TryReport's, a string literal
  };
  void ClaimAndSend();
  void Send(const ClaimedNotification& claimed);
  // What an answer (or its absence) means.
  std::string_view OutcomeOf(const Result<http::HttpResponse>& response) const;
  // Queues a try's outcome to be recorded. Any thread.
  void Finish(const Notification& notification, NotificationTry attempt, std::string_view outcome);
  // Takes the finished tries if `all` or they are due to be recorded. REQUIRES: !mu_ held.
  std::vector<FinishedTry> TakeFinished(bool all);
  // Records `tries` (in store writes of at most kMaxTriesPerRecord) and frees their slots.
  void RecordTries(std::vector<FinishedTry> tries);
  void RecordBatch(std::span<const FinishedTry> batch);

  Store* const store_;
  const Clock* const clock_;
  NotificationSender* const sender_;
  const NotifierOptions options_;
  const Waker wake_;
  SigningKeyCache signing_keys_;  // the owner's thread only

  mutable std::mutex mu_;
  size_t in_flight_ = 0;               // GUARDED_BY(mu_): claimed, not yet recorded
  std::unordered_set<int64_t> out_;    // GUARDED_BY(mu_): their notification ids
  std::vector<FinishedTry> finished_;  // GUARDED_BY(mu_)
  int64_t record_due_ms_ = 0;          // GUARDED_BY(mu_): when finished_ is to be recorded
  int64_t tries_recorded_ = 0;         // GUARDED_BY(mu_)
  int64_t delivered_ = 0;              // GUARDED_BY(mu_)
};

}  // namespace topup::notify
