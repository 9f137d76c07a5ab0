#include "auth/constant_time.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace topup::auth {

bool SecretsEqual(std::string_view a, std::string_view b) {
  unsigned char digest_a[SHA256_DIGEST_LENGTH];
  unsigned char digest_b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), digest_a);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), digest_b);
  return CRYPTO_memcmp(digest_a, digest_b, SHA256_DIGEST_LENGTH) == 0;
}

}  // namespace topup::auth
