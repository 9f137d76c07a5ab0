#include "api/merchant_key_routes.h"

#include <boost/json.hpp>

#include "auth/merchant_keys.h"
#include "http/json_answer.h"

namespace topup::api {
namespace {

namespace json = boost::json;

json::object KeyToJson(const MerchantKey& key) {
  return json::object{
      {"key_id", key.key_id},
      {"merchant_id", key.merchant_id},
      {"created_ms", key.created_ms},
      {"revoked_ms", key.revoked_ms == 0 ? json::value(nullptr) : json::value(key.revoked_ms)},
      {"active", key.revoked_ms == 0}};
}

}  // namespace

http::HttpResponse MerchantKeyRoutes::Answer(const http::HttpRequest& request,
                                             const std::string& merchant_id) {
  using http::ErrorAnswer;
  using http::JsonAnswer;
  const std::vector<std::string_view> segments =
      http::PathSegments(request.path);  // v1 admin merchants id keys ...
  const int64_t now_ms = clock_->NowMs();
  if (segments.size() == 5 && request.method == "POST") {
    Result<auth::NewMerchantKey> made =
        auth::CreateMerchantKey(*store_, *secret_box_, merchant_id, now_ms);
    if (!made.ok()) return ErrorAnswer(made.status());
    // The only answer that ever holds the secret.
    return JsonAnswer(201, json::serialize(json::object{{"key_id", made->key_id},
                                                        {"merchant_id", merchant_id},
                                                        {"secret", made->secret},
                                                        {"created_ms", made->created_ms}}));
  }
  if (segments.size() == 5 && request.method == "GET") {
    Result<std::vector<MerchantKey>> keys = store_->ListMerchantKeys(merchant_id);
    if (!keys.ok()) return ErrorAnswer(keys.status());
    json::array list;
    for (const MerchantKey& key : *keys) list.push_back(KeyToJson(key));
    return JsonAnswer(200, json::serialize(json::object{{"keys", std::move(list)}}));
  }
  if (segments.size() == 6 && request.method == "DELETE") {
    std::string key_id(segments[5]);
    if (Status revoked = store_->RevokeMerchantKey(merchant_id, key_id, now_ms); !revoked.ok()) {
      return ErrorAnswer(revoked);
    }
    key_revoked_(key_id);
    Result<MerchantKey> key = store_->GetMerchantKey(key_id);
    return key.ok() ? JsonAnswer(200, json::serialize(KeyToJson(*key))) : ErrorAnswer(key.status());
  }
  return http::WrongMethodAnswer();
}

}  // namespace topup::api
