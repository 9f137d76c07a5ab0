#include "core/url.h"

#include <algorithm>
#include <charconv>

namespace topup {
namespace {

Status Invalid(std::string message) { return InvalidArgument("invalid_url", std::move(message)); }

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 3986 unreserved, sub-delims, ':', '@', '/', '?' and '%' (escapes are checked apart).
bool IsTargetChar(char c) {
  if (IsAlnum(c)) return true;
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?%";
  return kAllowed.find(c) != std::string_view::npos;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

Result<Url> ParseUrl(std::string_view text) {
  if (text.size() > 2048) return Invalid("the URL is longer than 2048 bytes");
  if (std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte >= 0x7f;
      })) {
    return Invalid("the URL holds a space, a control character or a non-ASCII byte");
  }
  Url url;
  const size_t separator = text.find("://");
  if (separator == std::string_view::npos) return Invalid("the URL needs http:// or https://");
  std::string scheme(text.substr(0, separator));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  if (scheme != "http" && scheme != "https") return Invalid("the URL needs http:// or https://");
  url.scheme = scheme;
  std::string_view rest = text.substr(separator + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return Invalid("the URL may not hold user information");
  }
  std::string_view host = authority;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Invalid("the URL's IPv6 host is not closed");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return Invalid("the URL's host is malformed");
      port_text = after.substr(1);
      if (port_text.empty()) return Invalid("the URL's port is empty");
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return IsHexDigit(c) || c == ':' || c == '.';
        })) {
      return Invalid("the URL's IPv6 host is malformed");
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return Invalid("the URL's port is empty");
    }
    if (host.empty()) return Invalid("the URL has no host");
    if (host.size() > 253 || !std::all_of(host.begin(), host.end(), [](char c) {
          return IsAlnum(c) || c == '-' || c == '.';
        })) {
      return Invalid("the URL's host is not a name or an address");
    }
  }
  url.host = std::string(host);
  url.port = url.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (error != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return Invalid("the URL's port is not in 1..65535");
    }
    url.port = static_cast<uint16_t>(value);
  }
  const size_t hash = target.find('#');
  std::string_view fragment =
      hash == std::string_view::npos ? std::string_view() : target.substr(hash + 1);
  target = target.substr(0, hash);
  for (std::string_view part : {target, fragment}) {
    for (size_t i = 0; i < part.size(); ++i) {
      if (!IsTargetChar(part[i])) return Invalid("the URL holds a character it may not hold");
      if (part[i] == '%' &&
          (i + 2 >= part.size() || !IsHexDigit(part[i + 1]) || !IsHexDigit(part[i + 2]))) {
        return Invalid("the URL holds a malformed %-escape");
      }
    }
  }
  // Appended, not insert(0, "/"): in that GCC 12 at -O3 sees a false overlap (-Wrestrict).
  url.target = target.starts_with('/') ? std::string(target) : std::string("/").append(target);
  return url;
}

}  // namespace topup
