// Notifier: delivers the notification outbox (Store::ClaimNotifications) to merchants, in
// production: the passes of NotificationDelivery (what is sent, when, and what an answer means)
// on a thread of its own (a LoopRunner, in real time), over HttpNotificationSender (an
// AsyncHttpClient per origin, which keeps its connections alive).
//
// Orders come first: the notifier's thread, and the HTTP clients' I/O threads it starts, run at a
// lower CPU priority (options.nice), so that on a busy machine a backlog of notifications waits
// for CPU rather than the orders. Its store work is NotificationDelivery's few, large writes; on
// SQLite they wait while order writes wait (sqlite::WritePriority::kBackground, at most 1 s).
//
// Threading: the delivery's passes and the sender's Send run on the notifier thread; Wake() and
// the counts from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "auth/secret_box.h"
#include "core/loop_runner.h"
#include "notify/http_notification_sender.h"
#include "notify/notification_delivery.h"
#include "notify/notifier_options.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::notify {

class Notifier {
 public:
  // The pointers must outlive the Notifier. Starts its thread.
  Notifier(Store* store, Clock* clock, const auth::SecretBox* secret_box, NotifierOptions options);
  // Stops: no new try starts; waits up to one try timeout for those under way. What is not
  // recorded by then is tried again once its lease lapses.
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Looks at the outbox now rather than at the next poll (after a re-send, or in tests).
  void Wake();

  // Tries whose outcome is recorded, and of those how many a 2xx acknowledged.
  int64_t tries_recorded() const { return delivery_.tries_recorded(); }
  int64_t delivered() const { return delivery_.delivered(); }

 private:
  std::chrono::milliseconds Pass();
  void Woken();

  const NotifierOptions options_;
  std::unique_ptr<HttpNotificationSender> sender_;  // reset first when stopping
  NotificationDelivery delivery_;
  std::mutex mu_;  // with finished_cv_: the stopping thread waits for the sender
  std::condition_variable finished_cv_;
  bool priority_lowered_ = false;  // the notifier thread only
  LoopRunner runner_;
};

}  // namespace topup::notify
