#include "auth/request_authenticator.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>

#include "auth/request_signature.h"

namespace topup::auth {
namespace {

Status Unauthenticated(std::string reason, std::string message) {
  return Status(StatusCode::kUnauthenticated, std::move(reason), std::move(message));
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

RequestAuthenticator::RequestAuthenticator(Store* store, const SecretBox* box, const Clock* clock,
                                           RequestAuthenticatorOptions options)
    : store_(store), box_(box), clock_(clock), options_(options), nonces_(options.nonce_capacity) {}

Result<RequestAuthenticator::Headers> RequestAuthenticator::CheckHeaders(
    const http::HttpRequest& request, int64_t now_s) const {
  Headers headers;
  headers.key_id = request.Header("x-topup-key");
  headers.timestamp = request.Header("x-topup-timestamp");
  headers.nonce = request.Header("x-topup-nonce");
  headers.signature = request.Header("x-topup-signature");
  if (headers.key_id.empty() || headers.timestamp.empty() || headers.nonce.empty() ||
      headers.signature.empty()) {
    return Unauthenticated("missing_signature",
                           "merchant requests need the headers X-Topup-Key, X-Topup-Timestamp, "
                           "X-Topup-Nonce and X-Topup-Signature");
  }
  if (!IsValidNonce(headers.nonce)) {
    return Unauthenticated("missing_signature",
                           "X-Topup-Nonce must be 16-64 characters of [A-Za-z0-9_-]");
  }
  if (headers.signature.size() != 64 || !IsLowerHex(headers.signature)) {
    return Unauthenticated("missing_signature",
                           "X-Topup-Signature must be the lower-case hex of an HMAC-SHA256");
  }
  const char* end = headers.timestamp.data() + headers.timestamp.size();
  auto [ptr, error] = std::from_chars(headers.timestamp.data(), end, headers.timestamp_s);
  if (error != std::errc() || ptr != end || headers.timestamp.size() > 12 ||
      headers.timestamp_s < now_s - options_.max_skew_s ||
      headers.timestamp_s > now_s + options_.max_skew_s) {
    return Unauthenticated("stale_timestamp",
                           "X-Topup-Timestamp must be the current unix time in seconds, within " +
                               std::to_string(options_.max_skew_s) + " s");
  }
  return headers;
}

std::optional<RequestAuthenticator::CachedKey> RequestAuthenticator::Cached(std::string_view key_id,
                                                                            int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(std::string(key_id));
  if (it == keys_.end()) return std::nullopt;
  if (now_ms - it->second.fetched_ms >= options_.key_cache_ms || now_ms < it->second.fetched_ms) {
    keys_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

Result<std::string> RequestAuthenticator::Verify(const http::HttpRequest& request,
                                                 const Headers& headers, const CachedKey& key,
                                                 int64_t now_s) {
  if (key.revoked) return Unauthenticated("key_revoked", "this key was revoked");
  const std::string expected = RequestSignature(key.secret, request.method, request.target,
                                                headers.timestamp, headers.nonce, request.body);
  // Both are 64 characters (checked above), so nothing but equality shows in the timing.
  if (CRYPTO_memcmp(expected.data(), headers.signature.data(), expected.size()) != 0) {
    return Unauthenticated("bad_signature",
                           "the signature does not match the request (see the README for the "
                           "canonical string)");
  }
  // Only a correctly signed request may use up a nonce, so strangers cannot fill the cache.
  switch (nonces_.Record(headers.key_id, headers.nonce, headers.timestamp_s + options_.max_skew_s,
                         now_s)) {
    case NonceCache::Outcome::kFresh:
      return key.merchant_id;
    case NonceCache::Outcome::kReplayed:
      return Unauthenticated("replayed_nonce", "this nonce was already used with this key");
    case NonceCache::Outcome::kFull:
      break;
  }
  return Status(StatusCode::kResourceExhausted, "nonce_cache_full",
                "too many signed requests in the window; retry with a new nonce");
}

std::optional<Result<std::string>> RequestAuthenticator::TryAuthenticateCached(
    const http::HttpRequest& request) {
  const int64_t now_ms = clock_->NowMs();
  const int64_t now_s = now_ms / 1000;
  Result<Headers> headers = CheckHeaders(request, now_s);
  if (!headers.ok()) return Result<std::string>(headers.status());
  std::optional<CachedKey> key = Cached(headers->key_id, now_ms);
  if (!key.has_value()) return std::nullopt;
  return Verify(request, *headers, *key, now_s);
}

Result<std::string> RequestAuthenticator::Authenticate(const http::HttpRequest& request) {
  const int64_t now_ms = clock_->NowMs();
  const int64_t now_s = now_ms / 1000;
  Result<Headers> headers = CheckHeaders(request, now_s);
  if (!headers.ok()) return headers.status();
  std::optional<CachedKey> key = Cached(headers->key_id, now_ms);
  if (!key.has_value()) {
    Result<MerchantKey> stored = store_->GetMerchantKey(std::string(headers->key_id));
    if (!stored.ok()) {
      if (stored.status().code() == StatusCode::kNotFound) {
        return Unauthenticated("unknown_key", "no such key");
      }
      return stored.status();
    }
    Result<std::string> secret = box_->Open(stored->sealed_secret, stored->key_id);
    if (!secret.ok()) return secret.status();
    key = CachedKey{.merchant_id = stored->merchant_id,
                    .secret = std::move(*secret),
                    .revoked = stored->revoked_ms != 0,
                    .fetched_ms = now_ms};
    std::lock_guard lock(mu_);
    if (keys_.size() >= options_.key_cache_max) keys_.clear();
    keys_[stored->key_id] = *key;
  }
  return Verify(request, *headers, *key, now_s);
}

void RequestAuthenticator::Forget(const std::string& key_id) {
  std::lock_guard lock(mu_);
  keys_.erase(key_id);
}

}  // namespace topup::auth
