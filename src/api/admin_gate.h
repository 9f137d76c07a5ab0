// AdminGate: decides whether a request may use the admin routes. It must carry the header
// "Authorization: Bearer <admin token>"; the token is compared in constant time whatever the
// lengths (auth/constant_time.h).
#pragma once

#include <optional>
#include <string>

#include "http/http_message.h"

namespace topup::api {

class AdminGate {
 public:
  // An empty token disables the admin routes.
  explicit AdminGate(std::string admin_token) : admin_token_(std::move(admin_token)) {}

  bool enabled() const { return !admin_token_.empty(); }
  // True when `presented` is the admin token (and there is one).
  bool IsAdminToken(std::string_view presented) const;

  // nullopt when the request may pass; otherwise the answer to send instead: 403 admin_disabled
  // without a token, 401 bad_admin_token for a missing or wrong one.
  std::optional<http::HttpResponse> Refusal(const http::HttpRequest& request) const;

 private:
  const std::string admin_token_;
};

}  // namespace topup::api
