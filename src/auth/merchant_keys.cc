#include "auth/merchant_keys.h"

namespace topup::auth {

Result<NewMerchantKey> CreateMerchantKey(Store& store, const SecretBox& box,
                                         const std::string& merchant_id, int64_t now_ms) {
  NewMerchantKey made;
  made.key_id = "k" + RandomHex(12);
  made.secret = RandomHex(32);
  made.created_ms = now_ms;
  MerchantKey key;
  key.key_id = made.key_id;
  key.merchant_id = merchant_id;
  key.sealed_secret = box.Seal(made.secret, made.key_id);
  key.created_ms = now_ms;
  if (Status added = store.AddMerchantKey(key); !added.ok()) return added;
  return made;
}

}  // namespace topup::auth
