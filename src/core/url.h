// Absolute http:// and https:// URLs, parsed strictly: what is not plainly a URL is refused
// rather than guessed at.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "topup/status.h"

namespace topup {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // a name, an IPv4 address, or an IPv6 address without its brackets
  uint16_t port = 0;   // the explicit port, or 80 / 443
  std::string target;  // path and query, "/" when absent; never holds a fragment
};

// Parses scheme "://" host [":" port] [path] ["?" query] ["#" fragment]. Refuses control
// characters (CR, LF, NUL, ...), spaces and bytes outside ASCII anywhere; user information
// ("user@"); an empty host; a port outside 1..65535; and characters a URL may not hold.
// InvalidArgument("invalid_url") with a message that does not repeat the input.
Result<Url> ParseUrl(std::string_view text);

}  // namespace topup
