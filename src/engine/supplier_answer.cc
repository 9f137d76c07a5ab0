#include "engine/supplier_answer.h"

#include <boost/json.hpp>

namespace topup {
namespace {

namespace json = boost::json;

SupplierAnswer TransportFailure(const Status& status) {
  bool not_sent = status.reason() == "not_sent";
  return SupplierAnswer{not_sent ? SupplierOutcome::kNotSent : SupplierOutcome::kUnknown, "",
                        status.ToString()};
}

// Reads {"status": ..., "supplier_ref"?, "reason"?}. `allow_not_found` for queries.
SupplierAnswer ParseAnswer(const http::HttpResponse& response, bool allow_not_found) {
  boost::system::error_code error;
  json::value body = json::parse(response.body, error);
  const json::object* object = error ? nullptr : body.if_object();
  const json::value* status_value = object ? object->if_contains("status") : nullptr;
  const json::string* status = status_value ? status_value->if_string() : nullptr;
  if (status == nullptr) {
    return SupplierAnswer{SupplierOutcome::kUnknown, "",
                          "unreadable answer (HTTP " + std::to_string(response.status) + ")"};
  }
  SupplierAnswer answer;
  if (const json::value* ref = object->if_contains("supplier_ref"); ref && ref->is_string()) {
    answer.supplier_ref = json::value_to<std::string>(*ref);
  }
  if (const json::value* reason = object->if_contains("reason"); reason && reason->is_string()) {
    answer.reason = json::value_to<std::string>(*reason);
  }
  if (*status == "success") {
    answer.outcome = SupplierOutcome::kSuccess;
  } else if (*status == "failed") {
    answer.outcome = SupplierOutcome::kFailed;
  } else if (*status == "processing") {
    answer.outcome = SupplierOutcome::kProcessing;
  } else if (*status == "not_found" && allow_not_found) {
    answer.outcome = SupplierOutcome::kNotFound;
  } else {
    answer.outcome = SupplierOutcome::kUnknown;
    answer.reason = "unexpected status \"" + std::string(status->c_str()) + "\"";
  }
  return answer;
}

}  // namespace

// Maps the exchange of a submit to an answer.
SupplierAnswer SubmitAnswer(const Result<http::HttpResponse>& response) {
  if (!response.ok()) return TransportFailure(response.status());
  if (response->status >= 400 && response->status < 500) {
    return SupplierAnswer{SupplierOutcome::kFailed, "",
                          "rejected with HTTP " + std::to_string(response->status) + ": " +
                              response->body.substr(0, 200)};
  }
  if (response->status >= 500) {
    return SupplierAnswer{SupplierOutcome::kUnknown, "",
                          "HTTP " + std::to_string(response->status)};
  }
  return ParseAnswer(*response, /*allow_not_found=*/false);
}

// Maps the exchange of a query to an answer.
SupplierAnswer QueryAnswer(const Result<http::HttpResponse>& response) {
  if (!response.ok()) {
    // For a query, even "not sent" says nothing about the attempt.
    return SupplierAnswer{SupplierOutcome::kUnknown, "", response.status().ToString()};
  }
  if (response->status != 200) {
    return SupplierAnswer{SupplierOutcome::kUnknown, "",
                          "query answered HTTP " + std::to_string(response->status)};
  }
  return ParseAnswer(*response, /*allow_not_found=*/true);
}

}  // namespace topup
