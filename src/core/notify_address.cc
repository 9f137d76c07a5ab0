#include "core/notify_address.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <string>

#include "core/url.h"

namespace topup {
namespace {

Status Refused(std::string why) {
  return InvalidArgument("invalid_notify_url", "notify_url must reach a public address: " + why);
}

// `a` in host order.
Status CheckIpv4(uint32_t a) {
  auto in = [a](uint32_t net, int bits) {
    const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    return (a & mask) == net;
  };
  if (in(0x00000000, 8)) return Refused("unspecified or 'this network' address");
  if (in(0x7f000000, 8)) return Refused("loopback address");
  if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) {
    return Refused("private address");
  }
  if (in(0x64400000, 10)) return Refused("shared (carrier-grade NAT) address");
  if (in(0xa9fe0000, 16)) return Refused("link-local address");
  if (in(0xe0000000, 4)) return Refused("multicast address");
  if (in(0xf0000000, 4)) return Refused("reserved or broadcast address");
  return Status::Ok();
}

Status CheckIpv6(const std::array<uint8_t, 16>& b) {
  bool zero_prefix = true;  // the first 80 bits
  for (int i = 0; i < 10; ++i) zero_prefix = zero_prefix && b[i] == 0;
  const uint32_t low =
      (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) | uint32_t{b[15]};
  if (zero_prefix && b[10] == 0xff && b[11] == 0xff) return CheckIpv4(low);  // ::ffff:a.b.c.d
  if (zero_prefix && b[10] == 0 && b[11] == 0) {
    if (low == 0) return Refused("unspecified address");
    if (low == 1) return Refused("loopback address");
    return CheckIpv4(low);  // the deprecated IPv4-compatible form
  }
  if (b[0] == 0xff) return Refused("multicast address");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return Refused("link-local address");
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return Refused("site-local address");
  if ((b[0] & 0xfe) == 0xfc) return Refused("unique-local (private) address");
  return Status::Ok();
}

bool IsLocalName(std::string_view host) {
  std::string lower(host);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  while (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower == "localhost" || lower.ends_with(".localhost");
}

}  // namespace

Status CheckNotifyAddress(std::string_view address) {
  const std::string text(address);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return CheckIpv4(ntohl(v4.s_addr));
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return CheckIpv6(v6);
  return Refused("not an IP address");
}

Status CheckNotifyUrl(std::string_view url, bool allow_private) {
  Result<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) {
    return InvalidArgument("invalid_notify_url", "notify_url must be an http:// or https:// URL");
  }
  if (allow_private) return Status::Ok();
  const std::string text = parsed->host;
  in_addr v4{};
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1 ||
      inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) {
    return CheckNotifyAddress(text);
  }
  if (IsLocalName(text)) return Refused("a name of this machine");
  return Status::Ok();
}

}  // namespace topup
