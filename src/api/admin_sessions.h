// AdminSessions: the dashboard's logins. A login that presented the admin token gets a random
// session id (32 bytes from the CSPRNG, in hex) for its cookie; the token itself never leaves
// the server. The server keeps only the SHA-256 of each id, mapped to its expiry, so a lookup's
// timing tells nothing about the ids held, and a leaked memory image holds no usable id.
// Bounded: beyond max_sessions, the one nearest its expiry is dropped. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "http/http_message.h"
#include "topup/clock.h"

namespace topup::api {

struct AdminSessionsOptions {
  int64_t lifetime_ms = 8 * 3'600'000;  // a session ends this long after its login
  size_t max_sessions = 1'000;
};

class AdminSessions {
 public:
  static constexpr std::string_view kCookieName = "topup_session";

  // `clock` must outlive this.
  explicit AdminSessions(Clock* clock, AdminSessionsOptions options = {})
      : clock_(clock), options_(options) {}

  // A new session; returns its id.
  std::string Open();
  // Ends the session of `id`, if any.
  void Close(std::string_view id);
  // True when `id` names a session that has not expired.
  bool Valid(std::string_view id) const;

  // The session id in the request's Cookie header; empty if none.
  static std::string_view IdOf(const http::HttpRequest& request);
  // Set-Cookie values: the session's cookie (HttpOnly, SameSite=Strict, Path=/, Max-Age), and
  // one that deletes it.
  std::string CookieFor(std::string_view id) const;
  static std::string ExpiredCookie();

 private:
  Clock* const clock_;
  const AdminSessionsOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> expiry_ms_by_id_hash_;  // GUARDED_BY(mu_)
};

}  // namespace topup::api
