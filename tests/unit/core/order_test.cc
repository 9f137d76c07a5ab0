#include "topup/order.h"

#include <gtest/gtest.h>

#include "core/carrier.h"
#include "core/order_id.h"
#include "core/validation.h"

namespace topup {
namespace {

constexpr OrderStatus kAll[] = {OrderStatus::kAccepted, OrderStatus::kCharging,
                                OrderStatus::kUnknown, OrderStatus::kSuccess, OrderStatus::kFailed};

TEST(OrderStatusTest, NamesRoundTrip) {
  for (OrderStatus s : kAll) EXPECT_EQ(ParseOrderStatus(OrderStatusName(s)), s);
  EXPECT_EQ(ParseOrderStatus("refunded"), std::nullopt);
}

TEST(OrderStatusTest, NothingLeavesAFinalState) {
  for (OrderStatus to : kAll) {
    EXPECT_FALSE(IsAllowedTransition(OrderStatus::kSuccess, to));
    EXPECT_FALSE(IsAllowedTransition(OrderStatus::kFailed, to));
  }
}

TEST(OrderStatusTest, Edges) {
  using S = OrderStatus;
  EXPECT_TRUE(IsAllowedTransition(S::kAccepted, S::kCharging));
  EXPECT_TRUE(IsAllowedTransition(S::kAccepted, S::kFailed));
  EXPECT_FALSE(IsAllowedTransition(S::kAccepted, S::kSuccess));  // success needs an attempt
  EXPECT_FALSE(IsAllowedTransition(S::kAccepted, S::kUnknown));
  EXPECT_TRUE(IsAllowedTransition(S::kAccepted, S::kAccepted));  // waiting for a channel
  EXPECT_FALSE(IsAllowedTransition(S::kCharging, S::kAccepted));
  EXPECT_TRUE(IsAllowedTransition(S::kCharging, S::kUnknown));
  EXPECT_TRUE(IsAllowedTransition(S::kUnknown, S::kCharging));
  EXPECT_TRUE(IsAllowedTransition(S::kUnknown, S::kSuccess));
  EXPECT_TRUE(IsAllowedTransition(S::kCharging, S::kFailed));
  EXPECT_TRUE(IsFinal(S::kSuccess));
  EXPECT_TRUE(IsFinal(S::kFailed));
  EXPECT_FALSE(IsFinal(S::kUnknown));
}

TEST(SupplierOrderIdTest, RoundTrip) {
  EXPECT_EQ(SupplierOrderId("abc", 3), "abc-3");
  EXPECT_EQ(OrderIdOfSupplierOrderId("abc-3"), "abc");
  EXPECT_EQ(OrderIdOfSupplierOrderId("a-b-12"), "a-b");
  EXPECT_EQ(OrderIdOfSupplierOrderId("abc"), std::nullopt);
  EXPECT_EQ(OrderIdOfSupplierOrderId("abc-"), std::nullopt);
  EXPECT_EQ(OrderIdOfSupplierOrderId("abc-0"), std::nullopt);
  EXPECT_EQ(OrderIdOfSupplierOrderId("abc-1x"), std::nullopt);
  EXPECT_EQ(OrderIdOfSupplierOrderId("-1"), std::nullopt);
}

OrderRequest GoodRequest() { return OrderRequest{"m1", "mo-1", "13800138000", 50, ""}; }

TEST(ValidationTest, AcceptsAGoodRequest) { EXPECT_TRUE(ValidateOrderRequest(GoodRequest()).ok()); }

TEST(ValidationTest, RejectsBadPhones) {
  for (const char* phone : {"", "1380013800", "138001380001", "12800138000", "23800138000",
                            "1380013800a", "+8613800138000", "10086"}) {
    OrderRequest request = GoodRequest();
    request.phone = phone;
    Status status = ValidateOrderRequest(request);
    EXPECT_EQ(status.reason(), "invalid_phone") << phone;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  }
}

TEST(ValidationTest, FaceValues) {
  for (int32_t yuan : {10, 20, 30, 50, 100, 200, 300, 500}) {
    OrderRequest request = GoodRequest();
    request.face_value_yuan = yuan;
    EXPECT_TRUE(ValidateOrderRequest(request).ok()) << yuan;
  }
  for (int32_t yuan : {0, -10, 1, 40, 1000, 499}) {
    OrderRequest request = GoodRequest();
    request.face_value_yuan = yuan;
    EXPECT_EQ(ValidateOrderRequest(request).reason(), "unsupported_face_value") << yuan;
  }
  EXPECT_EQ(PriceFenOfFaceValue(50), 5000);
}

TEST(ValidationTest, IdentifiersAndUrls) {
  OrderRequest request = GoodRequest();
  request.merchant_order_id = std::string(65, 'a');
  EXPECT_EQ(ValidateOrderRequest(request).reason(), "invalid_merchant_order_id");
  request = GoodRequest();
  request.merchant_id = "m 1";
  EXPECT_EQ(ValidateOrderRequest(request).reason(), "invalid_merchant_id");
  request = GoodRequest();
  request.notify_url = "ftp://example.com/x";
  EXPECT_EQ(ValidateOrderRequest(request).reason(), "invalid_notify_url");
  request.notify_url = "https://merchant.example/notify";
  EXPECT_TRUE(ValidateOrderRequest(request).ok());
}

TEST(CarrierTest, Segments) {
  EXPECT_EQ(CarrierOfPhone("13800138000"), Carrier::kChinaMobile);
  EXPECT_EQ(CarrierOfPhone("13012345678"), Carrier::kChinaUnicom);
  EXPECT_EQ(CarrierOfPhone("18912345678"), Carrier::kChinaTelecom);
  EXPECT_EQ(CarrierOfPhone("19212345678"), Carrier::kChinaBroadnet);
  EXPECT_EQ(CarrierOfPhone("13412345678"), Carrier::kChinaMobile);
  EXPECT_EQ(CarrierOfPhone("13491234567"), Carrier::kChinaTelecom);  // longest prefix wins
  EXPECT_EQ(CarrierOfPhone("17031234567"), Carrier::kChinaMobile);
  EXPECT_EQ(CarrierOfPhone("17001234567"), Carrier::kChinaTelecom);
  EXPECT_EQ(CarrierOfPhone("14012345678"), Carrier::kUnknown);
}

TEST(OrderIdTest, UniqueAndTimeOrdered) {
  SeededRandom random(7);
  std::string a = NewOrderId(1'700'000'000'000, random);
  std::string b = NewOrderId(1'700'000'000'000, random);
  std::string c = NewOrderId(1'700'000'000'001, random);
  EXPECT_EQ(a.size(), 22u);
  EXPECT_NE(a, b);
  EXPECT_LT(std::max(a, b), c);
}

}  // namespace
}  // namespace topup
