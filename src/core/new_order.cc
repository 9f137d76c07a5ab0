#include "core/new_order.h"

#include "core/carrier.h"
#include "core/order_id.h"
#include "core/validation.h"

namespace topup {

Order NewAcceptedOrder(const OrderRequest& request, int64_t now_ms, int64_t deadline_after_ms,
                       int64_t redeliver_after_ms, Random& random) {
  Order order;
  order.order_id = NewOrderId(now_ms, random);
  order.merchant_id = request.merchant_id;
  order.merchant_order_id = request.merchant_order_id;
  order.phone = request.phone;
  order.carrier = CarrierOfPhone(request.phone);
  order.face_value_yuan = request.face_value_yuan;
  order.price_fen = PriceFenOfFaceValue(request.face_value_yuan);
  order.notify_url = request.notify_url;
  order.status = OrderStatus::kAccepted;
  order.created_ms = now_ms;
  order.updated_ms = now_ms;
  order.deadline_ms = now_ms + deadline_after_ms;
  order.next_check_ms = now_ms + redeliver_after_ms;
  return order;
}

}  // namespace topup
