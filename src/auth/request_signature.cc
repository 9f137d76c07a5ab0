#include "auth/request_signature.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cassert>

#include "auth/secret_box.h"
#include "core/hmac.h"

namespace topup::auth {

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return HexOf(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string CanonicalRequest(std::string_view method, std::string_view target,
                             std::string_view timestamp, std::string_view nonce,
                             std::string_view body) {
  std::string canonical;
  canonical.reserve(method.size() + target.size() + timestamp.size() + nonce.size() + 68);
  canonical.append(method).append("\n");
  canonical.append(target).append("\n");
  canonical.append(timestamp).append("\n");
  canonical.append(nonce).append("\n");
  canonical.append(Sha256Hex(body));
  return canonical;
}

std::string RequestSignature(std::string_view secret, std::string_view method,
                             std::string_view target, std::string_view timestamp,
                             std::string_view nonce, std::string_view body) {
  return HmacSha256Hex(secret, CanonicalRequest(method, target, timestamp, nonce, body));
}

bool IsValidNonce(std::string_view nonce) {
  if (nonce.size() < 16 || nonce.size() > 64) return false;
  return std::all_of(nonce.begin(), nonce.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::vector<std::pair<std::string, std::string>> SignatureHeaders(
    std::string_view key_id, std::string_view secret, std::string_view method,
    std::string_view target, std::string_view body, int64_t now_s, std::string_view nonce) {
  assert(IsValidNonce(nonce));
  const std::string timestamp = std::to_string(now_s);
  return {{std::string(kKeyHeader), std::string(key_id)},
          {std::string(kTimestampHeader), timestamp},
          {std::string(kNonceHeader), std::string(nonce)},
          {std::string(kSignatureHeader),
           RequestSignature(secret, method, target, timestamp, nonce, body)}};
}

std::string NewNonce() { return RandomHex(16); }

}  // namespace topup::auth
