// What the blocking and the asynchronous HTTP clients share: the response body bound, the
// conversion of Beast's response, and the check that a kept-alive connection is still usable.
// Private to src/http.
#pragma once

#include <cstddef>

#include <boost/beast/http.hpp>

#include "http/http_message.h"

namespace topup::http::client_support {

// Larger response bodies fail the exchange as "broken".
constexpr size_t kMaxResponseBodyBytes = 256 * 1024 * 1024;

// The response without its framing headers (Content-Type has a field of its own).
HttpResponse FromBeast(boost::beast::http::response<boost::beast::http::string_body>&& message);

// Whether a kept-alive connection can carry another request: the peer has not closed or reset it
// and sent nothing unasked. A non-blocking peek costs one system call and turns the common stale
// connection (closed by the server while idle) into a fresh connect instead of a request that
// might be lost after it was sent.
bool IdleSocketIsUsable(int fd);

}  // namespace topup::http::client_support
