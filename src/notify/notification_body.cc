#include "notify/notification_body.h"

#include <boost/json.hpp>

#include <cassert>
#include <cstdio>
#include <ctime>

namespace topup::notify {

std::string Rfc3339Utc(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return text;
}

std::string NotificationBody(const ClaimedNotification& claimed) {
  const Notification& notification = claimed.notification;
  const NotifiedOrder& order = claimed.order;
  assert(IsFinal(notification.order_status));
  boost::json::object body;
  body["order_id"] = notification.order_id;
  body["merchant_order_id"] = order.merchant_order_id;
  body["status"] = OrderStatusName(notification.order_status);
  body["face_value"] = order.face_value_yuan;
  body["price_fen"] = order.price_fen;
  body["created_at"] = Rfc3339Utc(order.created_ms);
  body["finished_at"] = Rfc3339Utc(order.finished_ms);
  if (!order.supplier_ref.empty()) body["supplier_ref"] = order.supplier_ref;
  return boost::json::serialize(body);
}

}  // namespace topup::notify
