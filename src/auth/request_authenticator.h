// RequestAuthenticator: checks the signature of a merchant request (auth/request_signature.h) and
// says which merchant sent it. The key decides the merchant; nothing in the request body does.
//
// Failures, each Unauthenticated with its own reason:
//   missing_signature  a signature header is absent or malformed
//   stale_timestamp    X-Topup-Timestamp is not unix seconds within max_skew_s of the clock
//   unknown_key        no such key
//   key_revoked        the key was revoked
//   bad_signature      the signature does not match (compared in constant time)
//   replayed_nonce     this key already used this nonce within the window (this process only)
// and ResourceExhausted("nonce_cache_full") when the nonce cache is full, Unavailable when the
// store is.
//
// Keys read from the store are kept for key_cache_ms, so the hot path reads neither the store nor
// decrypts: a key revoked through another process stops working within key_cache_ms here (at
// once when revoked through this process's Forget). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/nonce_cache.h"
#include "auth/secret_box.h"
#include "http/http_message.h"
#include "topup/clock.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::auth {

struct RequestAuthenticatorOptions {
  int64_t max_skew_s = 300;           // accepted distance between a request's timestamp and now
  size_t nonce_capacity = 2'000'000;  // live nonces at most (about 150 bytes each)
  int64_t key_cache_ms = 1'000;       // how long a key read from the store is trusted
  size_t key_cache_max = 10'000;      // keys kept at most; the cache is emptied when full
};

class RequestAuthenticator {
 public:
  // The pointers must outlive the authenticator.
  RequestAuthenticator(Store* store, const SecretBox* box, const Clock* clock,
                       RequestAuthenticatorOptions options);

  // The merchant id of the request's key, or one of the failures above. May read the store, so
  // it may block.
  Result<std::string> Authenticate(const http::HttpRequest& request);
  // Authenticate without blocking: nullopt when the answer needs a read of the store.
  std::optional<Result<std::string>> TryAuthenticateCached(const http::HttpRequest& request);
  // Drops a cached key, so that its revocation applies at once in this process.
  void Forget(const std::string& key_id);

 private:
  struct CachedKey {
    std::string merchant_id;
    std::string secret;
    bool revoked = false;
    int64_t fetched_ms = 0;
  };
  struct Headers {
    std::string_view key_id, timestamp, nonce, signature;
    int64_t timestamp_s = 0;
  };

  // The headers, or missing_signature / stale_timestamp.
  Result<Headers> CheckHeaders(const http::HttpRequest& request, int64_t now_s) const;
  // Checks the request against `key` and records its nonce.
  Result<std::string> Verify(const http::HttpRequest& request, const Headers& headers,
                             const CachedKey& key, int64_t now_s);
  std::optional<CachedKey> Cached(std::string_view key_id, int64_t now_ms);

  Store* const store_;
  const SecretBox* const box_;
  const Clock* const clock_;
  const RequestAuthenticatorOptions options_;
  NonceCache nonces_;

  std::mutex mu_;
  std::unordered_map<std::string, CachedKey> keys_;  // GUARDED_BY(mu_)
};

}  // namespace topup::auth
