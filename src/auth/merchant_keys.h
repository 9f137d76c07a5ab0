// Making merchant API keys: a key id and a 32-byte random secret, the secret sealed before it
// reaches the store. The secret in clear exists only in the returned value, to be shown once.
#pragma once

#include <cstdint>
#include <string>

#include "auth/secret_box.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::auth {

struct NewMerchantKey {
  std::string key_id;  // "k" + 24 random hex characters
  std::string secret;  // 64 hex characters (32 random bytes): the HMAC key of the signatures
  int64_t created_ms = 0;
};

// Makes a key for `merchant_id` and stores it sealed under `box`. Errors of Store::AddMerchantKey.
Result<NewMerchantKey> CreateMerchantKey(Store& store, const SecretBox& box,
                                         const std::string& merchant_id, int64_t now_ms);

}  // namespace topup::auth
