// The admin routes of merchant API keys:
//
//   POST   /v1/admin/merchants/{id}/keys            a new key; its secret is in this answer only
//   GET    /v1/admin/merchants/{id}/keys            the keys, without secrets
//   DELETE /v1/admin/merchants/{id}/keys/{key_id}   revokes it
#pragma once

#include <functional>
#include <string>

#include "auth/secret_box.h"
#include "http/http_message.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::api {

class MerchantKeyRoutes {
 public:
  // The pointers must outlive this. `key_revoked` is told the id of each key revoked here, so
  // that what caches keys forgets it.
  MerchantKeyRoutes(Store* store, const auth::SecretBox* secret_box, Clock* clock,
                    std::function<void(const std::string& key_id)> key_revoked)
      : store_(store),
        secret_box_(secret_box),
        clock_(clock),
        key_revoked_(std::move(key_revoked)) {}

  // REQUIRES: the admin token was checked; the path is /v1/admin/merchants/{merchant_id}/keys
  // or below it. Blocks on the store.
  http::HttpResponse Answer(const http::HttpRequest& request, const std::string& merchant_id);

 private:
  Store* const store_;
  const auth::SecretBox* const secret_box_;
  Clock* const clock_;
  const std::function<void(const std::string&)> key_revoked_;
};

}  // namespace topup::api
