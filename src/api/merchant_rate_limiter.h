// MerchantRateLimiter: a token bucket per merchant, so that one careless or hostile merchant
// cannot take the whole API. Time comes from the injected clock. Thread-safe (one mutex; the
// work under it is a few arithmetic operations).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "topup/clock.h"

namespace topup::api {

struct RateLimit {
  double rate_per_s = 0;  // tokens added per second; 0: no limit
  double burst = 0;       // tokens the bucket holds at most (at least 1 when limited)
};

class MerchantRateLimiter {
 public:
  // `clock` must outlive the limiter. `per_merchant` overrides `default_limit` for its merchants.
  MerchantRateLimiter(const Clock* clock, RateLimit default_limit,
                      std::map<std::string, RateLimit> per_merchant);

  // Buckets kept at most. When full, the buckets that have refilled to their burst are forgotten
  // (a new bucket starts full, so that changes nothing); if none has, a merchant without a bucket
  // is limited (asked to come back in kFullRetryMs) until one has.
  static constexpr size_t kMaxBuckets = 100'000;
  static constexpr int64_t kFullRetryMs = 1'000;

  // Takes a token of the merchant's bucket and returns 0, or returns how many milliseconds until
  // a token is there (and takes none).
  int64_t TryTake(const std::string& merchant_id);
  size_t buckets() const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t refilled_ms = 0;
  };

  const Clock* const clock_;
  const RateLimit default_limit_;
  const std::map<std::string, RateLimit> per_merchant_;
  const RateLimit& LimitOf(const std::string& merchant_id) const;
  // Drops the buckets that are full again at now_ms. REQUIRES: mu_ held.
  void ForgetFullBuckets(int64_t now_ms);

  mutable std::mutex mu_;
  // GUARDED_BY(mu_). One per merchant that sent a signed request, at most kMaxBuckets.
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace topup::api
