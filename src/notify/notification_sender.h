// NotificationSender: how one notification try leaves the notifier. The notifier decides what to
// send, when, and what the answer means (notify/notification_delivery.h); a sender only carries
// the request and hands back what came of it: HttpNotificationSender over real HTTP in
// production, the simulated merchant receiver under `topup simulate`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "http/async_http_client.h"
#include "topup/status.h"

namespace topup::notify {

// A signed POST of one notification.
struct NotificationRequest {
  std::string scheme;  // "http" or "https"
  std::string host;
  uint16_t port = 0;
  std::string target;  // path and query
  std::string body;
  http::HttpHeaders headers;
  std::chrono::milliseconds timeout{0};  // connecting included
};

class NotificationSender {
 public:
  // What a try came to: the merchant's answer, or why none came (kDeadlineExceeded for a
  // timeout; a message starting with http::kRefusedAddressMessage for an address refused).
  using Done = std::function<void(Result<http::HttpResponse>)>;

  virtual ~NotificationSender() = default;
  // Starts the try and returns at once. `done` runs exactly once, never inside Send, on any
  // thread; it must neither block nor throw. (A sender destroyed first runs it with an error.)
  virtual void Send(NotificationRequest request, Done done) = 0;
};

}  // namespace topup::notify
