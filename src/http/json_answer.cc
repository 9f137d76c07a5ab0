#include "http/json_answer.h"

#include <boost/json.hpp>

namespace topup::http {

namespace json = boost::json;

HttpResponse JsonAnswer(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse ErrorAnswer(const Status& status) {
  return JsonAnswer(HttpStatusOf(status), ErrorToJson(status));
}

HttpResponse NoRouteAnswer() {
  return ErrorAnswer(NotFound("no_such_route", "no route for this path"));
}

HttpResponse WrongMethodAnswer() {
  return JsonAnswer(405, ErrorToJson(Status(StatusCode::kInvalidArgument, "method_not_allowed",
                                            "this method is not allowed on this path")));
}

std::string ErrorToJson(const Status& status) {
  std::string code = status.reason().empty() ? std::string("internal") : status.reason();
  return json::serialize(json::object{{"code", code}, {"message", status.message()}});
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kPayloadTooLarge:
      return 413;
    case StatusCode::kFailedPrecondition:
      return 422;
    case StatusCode::kResourceExhausted:
      return 503;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::vector<std::string_view> PathSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return segments;
}

}  // namespace topup::http
