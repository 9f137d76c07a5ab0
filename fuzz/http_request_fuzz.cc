// libFuzzer target: the HTTP/1.1 request parser the server uses (Boost.Beast, with the server's
// header and body limits), then the checks the server makes on a parsed header: Transfer-Encoding
// exactly chunked, exactly one Host.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/http_message.h"

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  beast::error_code ec;
  boost::asio::const_buffer input(data, size);
  // Each pass consumes input or stops, so the loop is bounded by the input's size.
  while (input.size() > 0 && !parser.is_done()) {
    const size_t used = parser.put(input, ec);
    input += used;
    if (ec || used == 0) break;
  }
  if (!parser.is_header_done()) return 0;
  const auto& message = parser.get();
  const size_t encodings = message.count(bhttp::field::transfer_encoding);
  const bool smuggling =
      encodings > 0 &&
      (encodings != 1 || !beast::iequals(message[bhttp::field::transfer_encoding], "chunked"));
  const bool host_ok = message.version() < 11 || message.count(bhttp::field::host) == 1;
  (void)smuggling;
  (void)host_ok;
  std::string path;
  std::map<std::string, std::string> query;
  topup::http::ParseTarget(std::string(message.target()), &path, &query);
  return 0;
}
