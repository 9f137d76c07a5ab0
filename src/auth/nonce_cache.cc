#include "auth/nonce_cache.h"

namespace topup::auth {

NonceCache::Outcome NonceCache::Record(std::string_view key_id, std::string_view nonce,
                                       int64_t expires_s, int64_t now_s) {
  std::string entry;
  entry.reserve(key_id.size() + 1 + nonce.size());
  entry.append(key_id).append("\n").append(nonce);
  std::lock_guard lock(mu_);
  // Each pass removes one entry, so the loop is bounded by the cache's size.
  while (!expiries_.empty() && expiries_.top().first < now_s) {
    live_.erase(expiries_.top().second);
    expiries_.pop();
  }
  if (live_.contains(entry)) return Outcome::kReplayed;
  if (live_.size() >= capacity_) return Outcome::kFull;
  live_.insert(entry);
  expiries_.emplace(expires_s, std::move(entry));
  return Outcome::kFresh;
}

size_t NonceCache::size() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

}  // namespace topup::auth
