// NonceCache: the nonces of signed requests this process has accepted, each kept until its
// request's timestamp leaves the accepted window, so a replay inside the window is refused.
//
// Per process: a replay sent to another node inside the window is not caught by this cache.
// Bounded: when `capacity` nonces are live, new requests are refused (kFull) rather than an
// entry dropped early, which would let its replay through. Thread-safe (one mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace topup::auth {

class NonceCache {
 public:
  enum class Outcome { kFresh, kReplayed, kFull };

  explicit NonceCache(size_t capacity) : capacity_(capacity) {}

  // Forgets the nonces whose expiry is before now_s, then records (key_id, nonce) until
  // expires_s. kReplayed (nothing changes) if it is already recorded; kFull (nothing recorded)
  // if `capacity` nonces are live.
  Outcome Record(std::string_view key_id, std::string_view nonce, int64_t expires_s, int64_t now_s);

  size_t size() const;

 private:
  using Expiry = std::pair<int64_t, std::string>;  // (expires_s, entry)

  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> live_;  // GUARDED_BY(mu_): key_id "\n" nonce
  // GUARDED_BY(mu_): the entries of live_, soonest expiry on top.
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>> expiries_;
};

}  // namespace topup::auth
