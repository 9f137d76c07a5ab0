// SigningKeyCache: a merchant's newest active key, opened, kept for a short time.
//
// Opening a sealed key (AES-GCM) and reading the merchant's keys from the store for every
// notification costs more than signing it; a merchant's notifications come in bursts, so the
// opened key is kept for `ttl_ms`. A key revoked or added in the store is therefore used (or not
// yet used) for at most `ttl_ms` more. At most `max_merchants` entries; when full, expired ones go
// first, then the oldest. Not thread-safe: one owner thread (the notifier's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "auth/secret_box.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::notify {

struct SigningKey {
  std::string key_id;
  std::string secret;
};

class SigningKeyCache {
 public:
  // The pointers must outlive the cache.
  SigningKeyCache(Store* store, const auth::SecretBox* secret_box, int64_t ttl_ms,
                  size_t max_merchants);

  // The merchant's newest active key at most ttl_ms old. NotFound("no_active_key") when it has
  // none (not cached: a key added later is found at once).
  Result<SigningKey> Get(const std::string& merchant_id, int64_t now_ms);
  // Merchants whose key is kept.
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    SigningKey key;
    int64_t fetched_ms = 0;
  };
  void MakeRoom(int64_t now_ms);

  Store* const store_;
  const auth::SecretBox* const secret_box_;
  const int64_t ttl_ms_;
  const size_t max_merchants_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace topup::notify
