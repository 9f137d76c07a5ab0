#include "api/log_level_route.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "api/strict_json.h"
#include "http/json_answer.h"
#include "observe/log_setup.h"

namespace topup::api {
namespace {

namespace json = boost::json;

http::HttpResponse CurrentLevel() {
  return http::JsonAnswer(
      200, json::serialize(json::object{{"level", observe::LogLevelName(spdlog::get_level())}}));
}

}  // namespace

http::HttpResponse LogLevelAnswer(const http::HttpRequest& request) {
  if (request.method == "GET") return CurrentLevel();
  if (request.method != "PUT") return http::WrongMethodAnswer();
  Result<json::value> body = ParseJsonStrict(request.body);
  if (!body.ok()) return http::ErrorAnswer(body.status());
  const json::value* level = body->is_object() ? body->as_object().if_contains("level") : nullptr;
  if (level == nullptr || !level->is_string()) {
    return http::ErrorAnswer(
        InvalidArgument("missing_field", "field 'level' (string) is required"));
  }
  Result<spdlog::level::level_enum> parsed = observe::ParseLogLevel(level->as_string());
  if (!parsed.ok()) return http::ErrorAnswer(parsed.status());
  observe::ChangeLogLevel(*parsed);
  return CurrentLevel();
}

}  // namespace topup::api
