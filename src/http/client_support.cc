#include "http/client_support.h"

#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>

namespace topup::http::client_support {
namespace {

namespace bhttp = boost::beast::http;

bool IsFramingHeader(bhttp::field field) {
  return field == bhttp::field::content_type || field == bhttp::field::content_length ||
         field == bhttp::field::transfer_encoding || field == bhttp::field::connection;
}

}  // namespace

HttpResponse FromBeast(bhttp::response<bhttp::string_body>&& message) {
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = std::string(message[bhttp::field::content_type]);
  for (const auto& field : message) {
    if (IsFramingHeader(field.name())) continue;
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = std::move(message.body());
  return response;
}

bool IdleSocketIsUsable(int fd) {
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace topup::http::client_support
