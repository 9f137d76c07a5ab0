// The signature of a merchant request.
//
//   X-Topup-Key:       <key id>
//   X-Topup-Timestamp: <unix seconds>
//   X-Topup-Nonce:     <16-64 characters of [A-Za-z0-9_-]>
//   X-Topup-Signature: <lower-case hex HMAC-SHA256(secret, canonical)>
//
//   canonical = METHOD "\n" target "\n" timestamp "\n" nonce "\n" hex(SHA-256(body))
//
// where target is the path with its raw query string exactly as sent, and the body hash of an
// empty body (GET) is that of the empty string. The HMAC key is the secret as shown when the key
// was made (its 64 characters).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace topup::auth {

inline constexpr std::string_view kKeyHeader = "X-Topup-Key";
inline constexpr std::string_view kTimestampHeader = "X-Topup-Timestamp";
inline constexpr std::string_view kNonceHeader = "X-Topup-Nonce";
inline constexpr std::string_view kSignatureHeader = "X-Topup-Signature";

// Lower-case hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);

std::string CanonicalRequest(std::string_view method, std::string_view target,
                             std::string_view timestamp, std::string_view nonce,
                             std::string_view body);

// Lower-case hex HMAC-SHA256(secret, CanonicalRequest(...)).
std::string RequestSignature(std::string_view secret, std::string_view method,
                             std::string_view target, std::string_view timestamp,
                             std::string_view nonce, std::string_view body);

// True for 16..64 characters of [A-Za-z0-9_-].
bool IsValidNonce(std::string_view nonce);

// The four headers of a request signed at unix time `now_s` with `nonce`.
// REQUIRES: IsValidNonce(nonce).
std::vector<std::pair<std::string, std::string>> SignatureHeaders(
    std::string_view key_id, std::string_view secret, std::string_view method,
    std::string_view target, std::string_view body, int64_t now_s, std::string_view nonce);

// A fresh nonce: 32 random hex characters from OpenSSL's CSPRNG.
std::string NewNonce();

}  // namespace topup::auth
