// The merchant and admin APIs behind one router, as `topup serve` assembles them (without the
// engine's callback route), for tests that speak HTTP to both.
#pragma once

#include <string>

#include "api/admin_api.h"
#include "api/merchant_api.h"
#include "http/router.h"
#include "observe/ops_endpoints.h"

namespace topup::api {

class ApiUnderTest {
 public:
  ApiUnderTest(Store* store, Queue* queue, Clock* clock, Random* random, const auth::SecretBox* box,
               MerchantApiOptions merchant_options, std::string admin_token)
      : merchant_(store, queue, clock, random, box, std::move(merchant_options)),
        admin_(store, clock, box,
               AdminApiOptions{.admin_token = std::move(admin_token),
                               .key_revoked = [this](const std::string& key_id) {
                                 merchant_.ForgetKey(key_id);
                               }}) {
    router_.Add("/healthz", [this](http::HttpRequest request, http::Responder respond) {
      respond(*ops_.Answer(request));
    });
    router_.Add("/v1/admin", [this](http::HttpRequest request, http::Responder respond) {
      admin_.Handle(std::move(request), std::move(respond));
    });
    for (const char* path : {"/v1/orders", "/v1/balance", "/v1/ledger"}) {
      router_.Add(path, [this](http::HttpRequest request, http::Responder respond) {
        merchant_.Handle(std::move(request), std::move(respond));
      });
    }
  }

  void Handle(http::HttpRequest request, http::Responder respond) {
    router_.Handle(std::move(request), std::move(respond));
  }

 private:
  MerchantApi merchant_;
  AdminApi admin_;
  const observe::OpsEndpoints ops_{nullptr, nullptr};
  http::Router router_;
};

}  // namespace topup::api
