// Fills a store with final orders, as a long-running deployment's store holds them, so that
// `topup bench --store` can be measured against it: `count` orders of merchant "prefill", each
// accepted, attempted and succeeded `age` ago (no notify_url), with their ledger rows and events,
// written through the Store API (accepts batched by the store, transitions in batches).
//
//   build/prefill_store STORE_URL [count] [age]      e.g. build/prefill_store big.db 1000000 2d
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backends.h"
#include "core/duration_text.h"
#include "topup/clock.h"

namespace topup {
namespace {

constexpr char kMerchantId[] = "prefill";
constexpr int64_t kPriceFen = 1000;
constexpr size_t kChunk = 4096;  // orders accepted, then moved, together: store_rules' id bound

Order PrefillOrder(int64_t n, int64_t created_ms) {
  Order order;
  order.order_id = "prefill-" + std::to_string(1'000'000'000 + n);
  order.merchant_id = kMerchantId;
  order.merchant_order_id = order.order_id;
  order.phone = "13800138000";
  order.carrier = Carrier::kChinaMobile;
  order.face_value_yuan = 10;
  order.price_fen = kPriceFen;
  order.status = OrderStatus::kAccepted;
  order.created_ms = created_ms;
  order.deadline_ms = created_ms + 180'000;
  order.updated_ms = created_ms;
  order.next_check_ms = created_ms + 60'000;
  return order;
}

// Accepts orders [first, first + count) and waits for every answer. False on any refusal.
bool AcceptChunk(Store& store, int64_t first, size_t count, int64_t created_ms) {
  std::mutex mu;
  std::condition_variable done;
  size_t answered = 0;
  bool ok = true;
  for (size_t i = 0; i < count; ++i) {
    store.AcceptOrderAsync(PrefillOrder(first + static_cast<int64_t>(i), created_ms),
                           [&](Result<AcceptResult> result) {
                             std::lock_guard<std::mutex> lock(mu);
                             if (!result.ok()) {
                               std::cerr << result.status().ToString() << "\n";
                               ok = false;
                             }
                             if (++answered == count) done.notify_one();
                           });
  }
  std::unique_lock<std::mutex> lock(mu);
  done.wait(lock, [&] { return answered == count; });
  return ok;
}

// Moves the accepted orders [first, first + count) to charging, then to success at finished_ms.
bool FinishChunk(Store& store, int64_t first, size_t count, int64_t finished_ms) {
  std::vector<Transition> starts, ends;
  for (size_t i = 0; i < count; ++i) {
    const std::string order_id = PrefillOrder(first + static_cast<int64_t>(i), 0).order_id;
    Transition& start = starts.emplace_back();
    start.order_id = order_id;
    start.from = OrderStatus::kAccepted;
    start.to = OrderStatus::kCharging;
    start.now_ms = finished_ms - 1;
    start.attempt = Transition::Attempt::kStart;
    start.supplier_order_id = SupplierOrderId(order_id, 1);
    start.channel = "sim";
    start.next_check_ms = finished_ms + 5000;
    start.event_kind = "attempt_started";
    Transition& end = ends.emplace_back();
    end.order_id = order_id;
    end.from = OrderStatus::kCharging;
    end.from_attempt_count = 1;
    end.to = OrderStatus::kSuccess;
    end.now_ms = finished_ms;
    end.release_lease = true;
    end.event_kind = "succeeded";
  }
  for (const std::vector<Transition>* batch : {&starts, &ends}) {
    for (const Result<bool>& applied : store.ApplyTransitions(*batch)) {
      if (!applied.ok() || !*applied) {
        std::cerr << (applied.ok() ? "a transition did not apply" : applied.status().ToString())
                  << "\n";
        return false;
      }
    }
  }
  return true;
}

int Run(const std::string& store_url, int64_t count, int64_t age_ms) {
  Result<std::unique_ptr<Store>> store = OpenStore(store_url);
  if (!store.ok()) {
    std::cerr << store.status().ToString() << "\n";
    return 1;
  }
  const int64_t now_ms = SystemClock()->NowMs();
  const int64_t finished_ms = now_ms - age_ms;
  const int64_t created_ms = finished_ms - 1000;
  if (Status s = (*store)->CreateMerchant(kMerchantId, "prefilled orders", created_ms); !s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  if (Result<int64_t> funded =
          (*store)->FundMerchant(kMerchantId, count * kPriceFen, "prefill", created_ms);
      !funded.ok()) {
    std::cerr << funded.status().ToString() << "\n";
    return 1;
  }
  const auto started = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < count; first += static_cast<int64_t>(kChunk)) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(kChunk, count - first));
    if (!AcceptChunk(**store, first, n, created_ms) ||
        !FinishChunk(**store, first, n, finished_ms)) {
      return 1;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "prefilled " << count << " orders in " << seconds << " s\n";
  return 0;
}

}  // namespace
}  // namespace topup

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: prefill_store STORE_URL [count] [age]\n";
    return 2;
  }
  const int64_t count = argc > 2 ? std::atoll(argv[2]) : 1'000'000;
  topup::Result<int64_t> age_ms = topup::ParseDurationMs(argc > 3 ? argv[3] : "2d");
  if (count <= 0 || !age_ms.ok()) {
    std::cerr << "usage: prefill_store STORE_URL [count > 0] [age such as 2d]\n";
    return 2;
  }
  return topup::Run(argv[1], count, *age_ms);
}
