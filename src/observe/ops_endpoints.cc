#include "observe/ops_endpoints.h"

#include <boost/json.hpp>

namespace topup::observe {
namespace {

http::HttpResponse Json(int status, std::string body) {
  http::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

}  // namespace

std::optional<http::HttpResponse> OpsEndpoints::Answer(const http::HttpRequest& request) const {
  const bool is_metrics = request.path == "/metrics" && metrics_ != nullptr;
  const bool is_ready = request.path == "/readyz" && readiness_ != nullptr;
  if (!is_metrics && !is_ready && request.path != "/healthz") return std::nullopt;
  if (request.method != "GET" && request.method != "HEAD") {
    return Json(405, R"({"code":"method_not_allowed","message":"only GET is allowed here"})");
  }
  if (request.path == "/healthz") return Json(200, R"({"status":"ok"})");
  if (is_metrics) {
    http::HttpResponse response;
    response.content_type = std::string(kMetricsContentType);
    response.body = metrics_->Serialize();
    return response;
  }
  std::vector<std::string> reasons = readiness_->Reasons();
  if (reasons.empty()) return Json(200, R"({"status":"ready"})");
  boost::json::array list;
  for (std::string& reason : reasons) list.emplace_back(std::move(reason));
  return Json(503, boost::json::serialize(
                       boost::json::object{{"status", "not_ready"}, {"reasons", std::move(list)}}));
}

}  // namespace topup::observe
