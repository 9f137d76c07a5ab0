#include "notify/signing_key_cache.h"

#include <utility>
#include <vector>

namespace topup::notify {

namespace {

Result<SigningKey> NewestActiveKey(Store& store, const auth::SecretBox& box,
                                   const std::string& merchant_id) {
  Result<std::vector<MerchantKey>> keys = store.ListMerchantKeys(merchant_id);
  if (!keys.ok()) return keys.status();
  for (auto it = keys->rbegin(); it != keys->rend(); ++it) {
    if (it->revoked_ms != 0) continue;
    Result<std::string> secret = box.Open(it->sealed_secret, it->key_id);
    if (!secret.ok()) return secret.status();
    return SigningKey{it->key_id, std::move(secret).value()};
  }
  return NotFound("no_active_key", "merchant " + merchant_id + " has no active key to sign with");
}

}  // namespace

SigningKeyCache::SigningKeyCache(Store* store, const auth::SecretBox* secret_box, int64_t ttl_ms,
                                 size_t max_merchants)
    : store_(store), secret_box_(secret_box), ttl_ms_(ttl_ms), max_merchants_(max_merchants) {}

Result<SigningKey> SigningKeyCache::Get(const std::string& merchant_id, int64_t now_ms) {
  auto found = entries_.find(merchant_id);
  if (found != entries_.end() && now_ms - found->second.fetched_ms < ttl_ms_) {
    return found->second.key;
  }
  Result<SigningKey> key = NewestActiveKey(*store_, *secret_box_, merchant_id);
  if (!key.ok()) {
    if (found != entries_.end()) entries_.erase(found);
    return key;
  }
  if (found == entries_.end()) {
    MakeRoom(now_ms);
    found = entries_.emplace(merchant_id, Entry{}).first;
  }
  found->second = Entry{*key, now_ms};
  return key;
}

void SigningKeyCache::MakeRoom(int64_t now_ms) {
  if (max_merchants_ == 0 || entries_.size() < max_merchants_) return;
  std::erase_if(entries_,
                [&](const auto& entry) { return now_ms - entry.second.fetched_ms >= ttl_ms_; });
  while (entries_.size() >= max_merchants_) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.fetched_ms < oldest->second.fetched_ms) oldest = it;
    }
    entries_.erase(oldest);
  }
}

}  // namespace topup::notify
