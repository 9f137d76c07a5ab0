#include "core/hmac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

namespace topup {
namespace {

// OpenSSL 3's one-shot HMAC() looks the MAC and the digest up by name, and builds and frees a
// context, on every call; on the order path that cost more than the hashing. Instead each thread
// keeps one context, keyed with the last key it saw: a call with the same key only resets it.
struct MacContextFree {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};

struct ThreadMac {
  ~ThreadMac() { OPENSSL_cleanse(key.data(), key.size()); }
  std::unique_ptr<EVP_MAC_CTX, MacContextFree> context;
  std::string key;  // what `context` is keyed with, if `keyed`
  bool keyed = false;
};

EVP_MAC* HmacAlgorithm() {
  // Fetched once, kept for the life of the process.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  return mac;
}

// The thread's context, ready for a message under `key`; null if OpenSSL failed.
EVP_MAC_CTX* ContextFor(std::string_view key) {
  thread_local ThreadMac mac;
  if (mac.context == nullptr) {
    if (HmacAlgorithm() == nullptr) return nullptr;
    std::unique_ptr<EVP_MAC_CTX, MacContextFree> context(EVP_MAC_CTX_new(HmacAlgorithm()));
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_END};
    if (context == nullptr || EVP_MAC_CTX_set_params(context.get(), params) != 1) return nullptr;
    mac.context = std::move(context);
  }
  // Compared in constant time: the keys are secrets.
  const bool same_key = mac.keyed && ConstantTimeEquals(mac.key, key);
  // With a null key, EVP_MAC_init starts a new message under the key set before.
  static constexpr unsigned char kEmptyKey[1] = {0};
  const auto* bytes = key.empty() ? kEmptyKey : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(mac.context.get(), same_key ? nullptr : bytes, same_key ? 0 : key.size(),
                   nullptr) != 1) {
    mac.keyed = false;
    return nullptr;
  }
  if (!same_key) {
    OPENSSL_cleanse(mac.key.data(), mac.key.size());
    mac.key.assign(key);
    mac.keyed = true;
  }
  return mac.context.get();
}

}  // namespace

// Empty if OpenSSL fails (out of memory), as HMAC() gave before: it matches no signature.
std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  EVP_MAC_CTX* context = ContextFor(key);
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t digest_length = 0;
  if (context == nullptr ||
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      EVP_MAC_final(context, digest, &digest_length, sizeof(digest)) != 1) {
    return std::string();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest_length * 2);
  for (size_t i = 0; i < digest_length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace topup
