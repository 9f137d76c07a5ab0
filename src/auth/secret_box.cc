#include "auth/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>
#include <vector>

namespace topup::auth {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
// Bounds what Open will try to decrypt; key secrets are 64 characters.
constexpr size_t kMaxPlaintextBytes = 4096;

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes hex into *out; false if `hex` is not an even number of hex digits.
bool DecodeHex(std::string_view hex, std::vector<unsigned char>* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = HexValue(hex[i]);
    const int low = HexValue(hex[i + 1]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<unsigned char>(high * 16 + low));
  }
  return true;
}

void FillRandom(unsigned char* out, size_t bytes) {
  if (RAND_bytes(out, static_cast<int>(bytes)) != 1) std::abort();
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string HexOf(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(data.size() * 2);
  for (char c : data) {
    const auto byte = static_cast<unsigned char>(c);
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  FillRandom(reinterpret_cast<unsigned char*>(raw.data()), bytes);
  return HexOf(raw);
}

Result<SecretBox> SecretBox::FromHex(std::string_view master_key_hex) {
  std::vector<unsigned char> bytes;
  if (master_key_hex.size() != 2 * kKeyBytes || !DecodeHex(master_key_hex, &bytes)) {
    return InvalidArgument("invalid_master_key", "the master key must be 64 hex characters");
  }
  std::array<unsigned char, kKeyBytes> key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return SecretBox(key);
}

SecretBox SecretBox::Ephemeral() {
  std::array<unsigned char, kKeyBytes> key;
  FillRandom(key.data(), key.size());
  return SecretBox(key);
}

std::string SecretBox::Seal(std::string_view plaintext, std::string_view associated_data) const {
  std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  FillRandom(out, kNonceBytes);
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  // Only allocation failures can make these fail; sealing nothing is never an option.
  if (!context ||
      EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key_.data(), out) != 1 ||
      EVP_EncryptUpdate(context.get(), nullptr, &length, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_EncryptUpdate(context.get(), out + kNonceBytes, &length, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(context.get(), out + kNonceBytes + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          out + kNonceBytes + plaintext.size()) != 1) {
    std::abort();
  }
  return HexOf(sealed);
}

Result<std::string> SecretBox::Open(std::string_view sealed,
                                    std::string_view associated_data) const {
  const Status unsealable =
      Status(StatusCode::kInternal, "unsealable_secret",
             "the stored secret does not open under this master key (wrong key, or "
             "altered)");
  std::vector<unsigned char> bytes;
  if (!DecodeHex(sealed, &bytes) || bytes.size() < kNonceBytes + kTagBytes ||
      bytes.size() > kNonceBytes + kTagBytes + kMaxPlaintextBytes) {
    return unsealable;
  }
  const size_t plaintext_bytes = bytes.size() - kNonceBytes - kTagBytes;
  std::string plaintext(plaintext_bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  if (!context ||
      EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key_.data(), bytes.data()) !=
          1 ||
      EVP_DecryptUpdate(context.get(), nullptr, &length, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_DecryptUpdate(context.get(), out, &length, bytes.data() + kNonceBytes,
                        static_cast<int>(plaintext_bytes)) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          bytes.data() + kNonceBytes + plaintext_bytes) != 1) {
    return unsealable;
  }
  // Verifies the tag: nothing decrypted is returned unless it is authentic.
  if (EVP_DecryptFinal_ex(context.get(), out + length, &length) != 1) return unsealable;
  return plaintext;
}

}  // namespace topup::auth
