#include "api/merchant_rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace topup::api {

MerchantRateLimiter::MerchantRateLimiter(const Clock* clock, RateLimit default_limit,
                                         std::map<std::string, RateLimit> per_merchant)
    : clock_(clock), default_limit_(default_limit), per_merchant_(std::move(per_merchant)) {}

int64_t MerchantRateLimiter::TryTake(const std::string& merchant_id) {
  auto limit_it = per_merchant_.find(merchant_id);
  const RateLimit& limit = limit_it == per_merchant_.end() ? default_limit_ : limit_it->second;
  if (limit.rate_per_s <= 0) return 0;
  const double burst = std::max(1.0, limit.burst);
  const int64_t now_ms = clock_->NowMs();
  std::lock_guard lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(merchant_id, Bucket{burst, now_ms});
  Bucket& bucket = it->second;
  if (!inserted && now_ms > bucket.refilled_ms) {
    bucket.tokens =
        std::min(burst, bucket.tokens + static_cast<double>(now_ms - bucket.refilled_ms) *
                                            limit.rate_per_s / 1000.0);
    bucket.refilled_ms = now_ms;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) * 1000.0 / limit.rate_per_s)));
}

}  // namespace topup::api
