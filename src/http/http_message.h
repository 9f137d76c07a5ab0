// Plain HTTP/1.1 request and response values, so that only the transport files see Boost.Beast.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topup::http {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as received: path plus optional "?query"
  std::string path;                            // target without the query, not percent-decoded
  std::map<std::string, std::string> query;    // percent-decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  // A header value by lower-case name, or empty.
  std::string_view Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Splits a target into path and percent-decoded query parameters.
void ParseTarget(std::string_view target, std::string* path,
                 std::map<std::string, std::string>* query);

}  // namespace topup::http
