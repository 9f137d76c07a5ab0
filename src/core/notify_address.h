// Where a merchant notification may go: the guard against a notify_url that points the server at
// itself or at its private network (server-side request forgery).
#pragma once

#include <string_view>

#include "topup/status.h"

namespace topup {

// OK when `address` (IPv4 dotted quad or IPv6 text, no brackets) is a public unicast address.
// InvalidArgument("invalid_notify_url") for anything else: loopback, unspecified, link-local,
// private (RFC 1918, unique-local fc00::/7, shared 100.64/10), multicast, broadcast, and IPv6
// forms of those IPv4 ranges (mapped ::ffff:a.b.c.d). Text that is no address is refused too.
Status CheckNotifyAddress(std::string_view address);

// The check made when an order is accepted: `url` must parse (core/url.h) as http or https and,
// unless `allow_private`, its host must not be an address CheckNotifyAddress refuses nor a name
// of this machine ("localhost", "*.localhost"). Other names are not resolved here (that would
// block the accepting thread); their addresses are checked when the notifier connects.
Status CheckNotifyUrl(std::string_view url, bool allow_private);

}  // namespace topup
