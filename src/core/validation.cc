#include "core/validation.h"

#include <algorithm>
#include <array>

#include "core/url.h"

namespace topup {
namespace {

constexpr std::array<int32_t, 8> kFaceValuesYuan = {10, 20, 30, 50, 100, 200, 300, 500};
constexpr size_t kNotifyUrlMaxBytes = 512;

bool IsMainlandMobile(std::string_view phone) {
  if (phone.size() != 11 || phone[0] != '1' || phone[1] < '3' || phone[1] > '9') return false;
  return std::all_of(phone.begin(), phone.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::span<const int32_t> SupportedFaceValuesYuan() { return kFaceValuesYuan; }

bool IsValidIdentifier(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool IsValidMerchantId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

int64_t PriceFenOfFaceValue(int32_t face_value_yuan) {
  return static_cast<int64_t>(face_value_yuan) * 100;
}

Status ValidateOrderRequest(const OrderRequest& request) {
  if (!IsValidMerchantId(request.merchant_id)) {
    return InvalidArgument("invalid_merchant_id",
                           "merchant_id must be 1-64 characters of letters, digits, '_', '-'");
  }
  if (!IsValidIdentifier(request.merchant_order_id)) {
    return InvalidArgument(
        "invalid_merchant_order_id",
        "merchant_order_id must be 1-64 characters of letters, digits, '_', '-', '.'");
  }
  if (!IsMainlandMobile(request.phone)) {
    return InvalidArgument("invalid_phone",
                           "phone must be a mainland China mobile number: 11 digits, 1[3-9]...");
  }
  if (std::find(kFaceValuesYuan.begin(), kFaceValuesYuan.end(), request.face_value_yuan) ==
      kFaceValuesYuan.end()) {
    return InvalidArgument("unsupported_face_value",
                           "face_value must be one of 10, 20, 30, 50, 100, 200, 300, 500 (yuan)");
  }
  const std::string& url = request.notify_url;
  if (!url.empty() && (url.size() > kNotifyUrlMaxBytes || !ParseUrl(url).ok())) {
    return InvalidArgument("invalid_notify_url",
                           "notify_url must be an http:// or https:// URL with a host, of at most "
                           "512 bytes, without spaces or control characters");
  }
  return Status::Ok();
}

}  // namespace topup
