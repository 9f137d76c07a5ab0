#include "api/admin_sessions.h"

#include <algorithm>

#include "auth/request_signature.h"
#include "auth/secret_box.h"

namespace topup::api {

std::string AdminSessions::Open() {
  std::string id = auth::RandomHex(32);
  const int64_t now_ms = clock_->NowMs();
  std::lock_guard lock(mu_);
  std::erase_if(expiry_ms_by_id_hash_,
                [now_ms](const auto& entry) { return entry.second <= now_ms; });
  if (expiry_ms_by_id_hash_.size() >= options_.max_sessions) {
    expiry_ms_by_id_hash_.erase(
        std::min_element(expiry_ms_by_id_hash_.begin(), expiry_ms_by_id_hash_.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  expiry_ms_by_id_hash_[auth::Sha256Hex(id)] = now_ms + options_.lifetime_ms;
  return id;
}

void AdminSessions::Close(std::string_view id) {
  if (id.empty()) return;
  const std::string hash = auth::Sha256Hex(id);
  std::lock_guard lock(mu_);
  expiry_ms_by_id_hash_.erase(hash);
}

bool AdminSessions::Valid(std::string_view id) const {
  if (id.empty()) return false;
  const std::string hash = auth::Sha256Hex(id);
  std::lock_guard lock(mu_);
  auto it = expiry_ms_by_id_hash_.find(hash);
  return it != expiry_ms_by_id_hash_.end() && it->second > clock_->NowMs();
}

std::string_view AdminSessions::IdOf(const http::HttpRequest& request) {
  std::string_view cookies = request.Header("cookie");
  while (!cookies.empty()) {
    const size_t end = std::min(cookies.find(';'), cookies.size());
    std::string_view pair = cookies.substr(0, end);
    while (pair.starts_with(' ')) pair.remove_prefix(1);
    if (pair.starts_with(kCookieName) && pair.size() > kCookieName.size() &&
        pair[kCookieName.size()] == '=') {
      return pair.substr(kCookieName.size() + 1);
    }
    cookies.remove_prefix(std::min(end + 1, cookies.size()));
  }
  return {};
}

std::string AdminSessions::CookieFor(std::string_view id) const {
  return std::string(kCookieName) + "=" + std::string(id) +
         "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
         std::to_string(options_.lifetime_ms / 1000);
}

std::string AdminSessions::ExpiredCookie() {
  return std::string(kCookieName) + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
}

}  // namespace topup::api
