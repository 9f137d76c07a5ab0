#include "api/merchant_rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace topup::api {
namespace {

double BurstOf(const RateLimit& limit) { return std::max(1.0, limit.burst); }

}  // namespace

MerchantRateLimiter::MerchantRateLimiter(const Clock* clock, RateLimit default_limit,
                                         std::map<std::string, RateLimit> per_merchant)
    : clock_(clock), default_limit_(default_limit), per_merchant_(std::move(per_merchant)) {}

const RateLimit& MerchantRateLimiter::LimitOf(const std::string& merchant_id) const {
  auto it = per_merchant_.find(merchant_id);
  return it == per_merchant_.end() ? default_limit_ : it->second;
}

int64_t MerchantRateLimiter::TryTake(const std::string& merchant_id) {
  const RateLimit& limit = LimitOf(merchant_id);
  if (limit.rate_per_s <= 0) return 0;
  const double burst = BurstOf(limit);
  const int64_t now_ms = clock_->NowMs();
  std::lock_guard lock(mu_);
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(merchant_id)) {
    ForgetFullBuckets(now_ms);
    if (buckets_.size() >= kMaxBuckets) return kFullRetryMs;
  }
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

void MerchantRateLimiter::ForgetFullBuckets(int64_t now_ms) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const RateLimit& limit = LimitOf(entry.first);
    const Bucket& bucket = entry.second;
    const double refilled = static_cast<double>(std::max<int64_t>(0, now_ms - bucket.refilled_ms)) *
                            limit.rate_per_s / 1000.0;
    return bucket.tokens + refilled >= BurstOf(limit);
  });
}

size_t MerchantRateLimiter::buckets() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace topup::api
