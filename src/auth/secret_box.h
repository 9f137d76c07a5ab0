// SecretBox: seals small secrets (merchant API key secrets) for storage at rest, with AES-256-GCM
// under a 32-byte master key that never leaves the process.
//
// A sealed secret is lower-case hex of nonce (12 random bytes) | ciphertext | tag (16 bytes). The
// associated data (the key id) is authenticated but not stored: a sealed secret copied onto
// another key's row does not open.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "topup/status.h"

namespace topup::auth {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;

  // The master key from 64 hex characters. InvalidArgument("invalid_master_key") otherwise.
  static Result<SecretBox> FromHex(std::string_view master_key_hex);
  // A fresh random master key: what is sealed under it is lost with the process (--dev).
  static SecretBox Ephemeral();

  // Seals `plaintext`, bound to `associated_data`. Every call uses a fresh random nonce.
  std::string Seal(std::string_view plaintext, std::string_view associated_data) const;
  // The plaintext, or Internal("unsealable_secret") when `sealed` was not sealed by this master
  // key with this associated data, or was altered.
  Result<std::string> Open(std::string_view sealed, std::string_view associated_data) const;

 private:
  explicit SecretBox(const std::array<unsigned char, kKeyBytes>& key) : key_(key) {}

  std::array<unsigned char, kKeyBytes> key_;
};

// `bytes` bytes from OpenSSL's CSPRNG, as lower-case hex. Aborts if the CSPRNG fails: no secret
// may be made from anything weaker.
std::string RandomHex(size_t bytes);

// Lower-case hex of `data`.
std::string HexOf(std::string_view data);

}  // namespace topup::auth
