// HttpNotificationSender: notification tries over real HTTP(S), with an AsyncHttpClient per
// origin that keeps its connections alive. Unless private addresses are allowed, a client
// connects only to public addresses (core/notify_address.h), checked on the resolved address.
//
// Threading: Send and DropIdleOrigins from one thread (the notifier's: the clients' I/O threads
// it starts inherit its CPU priority); the clients' callbacks on their I/O threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "notify/notification_sender.h"
#include "topup/clock.h"

namespace topup::notify {

struct HttpNotificationSenderOptions {
  bool allow_private = false;
  std::string ca_file{};  // HTTPS: this CA (PEM) instead of the system's trust store
  size_t max_connections_per_origin = 32;
  size_t max_origins = 256;  // clients kept; idle ones beyond are dropped
};

class HttpNotificationSender final : public NotificationSender {
 public:
  // `clock` must outlive the sender.
  HttpNotificationSender(const Clock* clock, HttpNotificationSenderOptions options);
  // Ends the tries under way: their callbacks run with an error.
  ~HttpNotificationSender() override;

  void Send(NotificationRequest request, Done done) override;
  // Drops the origins idle for a while, so their names are resolved and checked afresh.
  void DropIdleOrigins();

 private:
  struct Origin;
  Origin* OriginFor(const NotificationRequest& request);
  // No send of `origin` is under way (so dropping it ends none). Not called with mu_ held.
  bool Idle(const Origin& origin);

  const Clock* const clock_;
  const HttpNotificationSenderOptions options_;
  std::mutex mu_;                                           // guards every Origin's in_flight
  std::map<std::string, std::unique_ptr<Origin>> origins_;  // the sending thread only
};

}  // namespace topup::notify
