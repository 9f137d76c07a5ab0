// The Store contract (topup/store.h), checked the same way on every backend so that no backend can
// quietly differ. Each test gets a fresh, empty database. "Several nodes" are several stores
// opened on the same database, each with its own connections, used from several threads at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store_backends.h"
#include "topup/random.h"

namespace topup::store_conformance {
namespace {

using Attempt = Transition::Attempt;

class StoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<StoreBackend>> backend = MakeBackend(GetParam());
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  // Another store on the same database: another node.
  std::unique_ptr<Store> OpenStore() {
    Result<std::unique_ptr<Store>> store = backend_->Open();
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Creates a merchant holding `balance_fen`.
  void AddMerchant(const std::string& merchant_id, int64_t balance_fen) {
    ASSERT_TRUE(store_->CreateMerchant(merchant_id, "Merchant " + merchant_id, kT0Ms).ok());
    if (balance_fen > 0) {
      Result<int64_t> balance = store_->FundMerchant(merchant_id, balance_fen, "opening", kT0Ms);
      ASSERT_TRUE(balance.ok()) << balance.status().ToString();
      ASSERT_EQ(*balance, balance_fen);
    }
  }

  Order Accept(const Order& order) {
    Result<AcceptResult> accepted = store_->AcceptOrder(order);
    EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
    if (!accepted.ok()) return Order();
    EXPECT_TRUE(accepted->created);
    return accepted->order;
  }

  Order Get(const std::string& order_id) {
    Result<Order> order = store_->GetOrder(order_id);
    EXPECT_TRUE(order.ok()) << order.status().ToString();
    return order.ok() ? *order : Order();
  }

  int64_t Balance(const std::string& merchant_id) {
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    EXPECT_TRUE(merchant.ok()) << merchant.status().ToString();
    return merchant.ok() ? merchant->balance_fen : -1;
  }

  std::vector<LedgerEntry> Ledger(const std::string& merchant_id) {
    Result<std::vector<LedgerEntry>> entries = store_->ListLedger(merchant_id, 0, 100000);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? *entries : std::vector<LedgerEntry>();
  }

  size_t EventCount(const std::string& order_id) {
    Result<std::vector<OrderEvent>> events = store_->ListEvents(order_id);
    EXPECT_TRUE(events.ok()) << events.status().ToString();
    return events.ok() ? events->size() : 0;
  }

  void ExpectBalanced() {
    Result<LedgerAudit> audit = store_->AuditLedger();
    ASSERT_TRUE(audit.ok()) << audit.status().ToString();
    EXPECT_TRUE(audit->balanced) << audit->problems;
    EXPECT_EQ(audit->problems, "");
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

// Runs body(0) .. body(threads - 1) on as many threads, released together.
void RunTogether(int threads, const std::function<void(int)>& body) {
  std::latch start_line(threads);
  std::vector<std::thread> running;
  for (int i = 0; i < threads; ++i) {
    running.emplace_back([&, i] {
      start_line.arrive_and_wait();
      body(i);
    });
  }
  for (std::thread& t : running) t.join();
}

std::set<std::string> AsSet(const std::vector<std::string>& ids) {
  return std::set<std::string>(ids.begin(), ids.end());
}

// The answers of AcceptOrderAsync calls, by order id, with the thread each came on. Shared with
// the callbacks, which may outlive the test's locals if the test fails early.
struct AcceptAnswers {
  struct Answer {
    Result<AcceptResult> result;
    std::thread::id thread;
  };

  // Waits until `count` answers came, at most 60 s. Returns whether they did.
  bool WaitFor(size_t count) {
    std::unique_lock<std::mutex> lock(mu);
    return answered.wait_for(lock, std::chrono::seconds(60), [&] { return total >= count; });
  }

  std::mutex mu;
  std::condition_variable answered;
  std::map<std::string, std::vector<Answer>> by_order_id;  // guarded by mu
  size_t total = 0;                                        // guarded by mu
};

// A callback that files its answer under `order_id`.
AcceptCallback Record(const std::shared_ptr<AcceptAnswers>& answers, const std::string& order_id) {
  return [answers, order_id](Result<AcceptResult> result) {
    {
      std::lock_guard<std::mutex> lock(answers->mu);
      answers->by_order_id[order_id].push_back({std::move(result), std::this_thread::get_id()});
      answers->total += 1;
    }
    answers->answered.notify_all();
  };
}

// The one answer to the call for `order_id`. REQUIRES: every callback has run.
Result<AcceptResult> OnlyAnswer(AcceptAnswers& answers, const std::string& order_id) {
  std::lock_guard<std::mutex> lock(answers.mu);
  const std::vector<AcceptAnswers::Answer>& got = answers.by_order_id[order_id];
  EXPECT_EQ(got.size(), 1u) << "answers for " << order_id;
  if (got.empty()) return Internal("no answer for " + order_id);
  return got.front().result;
}

// --- Opening and migrations ---

TEST_P(StoreConformanceTest, NodesOpeningAFreshDatabaseAtOnceMigrateItOnce) {
  Result<std::unique_ptr<StoreBackend>> fresh = MakeBackend(GetParam());
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  constexpr int kNodes = 4;
  std::vector<std::unique_ptr<Store>> nodes(kNodes);
  std::vector<Status> opened(kNodes);
  RunTogether(kNodes, [&](int i) {
    Result<std::unique_ptr<Store>> store = (*fresh)->Open();
    opened[i] = store.status();
    if (store.ok()) nodes[i] = std::move(store).value();
  });
  for (const Status& status : opened) ASSERT_TRUE(status.ok()) << status.ToString();
  Result<int64_t> versions = (*fresh)->QueryInt("SELECT count(*) FROM schema_version");
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  Result<int64_t> highest = (*fresh)->QueryInt("SELECT max(version) FROM schema_version");
  ASSERT_TRUE(highest.ok());
  EXPECT_EQ(*versions, *highest) << "each migration recorded exactly once";
  EXPECT_GE(*versions, 1);

  // Every node works on the one schema.
  ASSERT_TRUE(nodes[0]->CreateMerchant("m1", "Shop", kT0Ms).ok());
  ASSERT_TRUE(nodes[1]->FundMerchant("m1", 5000, "", kT0Ms).ok());
  ASSERT_TRUE(nodes[2]->AcceptOrder(MakeOrder("o1", "m1", "mo-1")).ok());
  EXPECT_EQ(nodes[3]->GetMerchant("m1")->balance_fen, 4000);
}

TEST_P(StoreConformanceTest, RefusesADatabaseWrittenByANewerProgram) {
  store_.reset();
  ASSERT_TRUE(
      backend_->Execute("INSERT INTO schema_version (version, name) VALUES (999, 'future')").ok());
  Result<std::unique_ptr<Store>> store = backend_->Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.status().reason(), "schema_too_new");
}

// --- Merchants and money ---

TEST_P(StoreConformanceTest, CreateMerchantValidatesAndRefusesDuplicates) {
  EXPECT_TRUE(store_->CreateMerchant("m_1-A", "Shop", kT0Ms).ok());
  Status again = store_->CreateMerchant("m_1-A", "Other", kT0Ms);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.reason(), "merchant_exists");
  for (const std::string& bad : {std::string(""), std::string(65, 'a'), std::string("a b"),
                                 std::string("a.b"), std::string("x/y"), std::string("é")}) {
    Status status = store_->CreateMerchant(bad, "x", kT0Ms);
    EXPECT_EQ(status.reason(), "invalid_merchant_id") << "id '" << bad << "'";
  }
  EXPECT_EQ(store_->CreateMerchant("m2", std::string(5000, 'n'), kT0Ms).reason(),
            "invalid_merchant_name");
  EXPECT_TRUE(store_->CreateMerchant(std::string(64, 'z'), "Long", kT0Ms).ok());

  Result<Merchant> merchant = store_->GetMerchant("m_1-A");
  ASSERT_TRUE(merchant.ok());
  EXPECT_EQ(merchant->merchant_id, "m_1-A");
  EXPECT_EQ(merchant->name, "Shop");
  EXPECT_EQ(merchant->balance_fen, 0);
  EXPECT_EQ(merchant->created_ms, kT0Ms);
  EXPECT_EQ(store_->GetMerchant("nobody").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetMerchant("nobody").status().reason(), "unknown_merchant");
}

TEST_P(StoreConformanceTest, FundMerchantAddsWithALedgerRow) {
  AddMerchant("m1", 0);
  EXPECT_EQ(store_->FundMerchant("m1", 0, "", kT0Ms).status().reason(), "invalid_amount");
  EXPECT_EQ(store_->FundMerchant("m1", -5, "", kT0Ms).status().reason(), "invalid_amount");
  EXPECT_EQ(store_->FundMerchant("nobody", 5, "", kT0Ms).status().reason(), "unknown_merchant");

  Result<int64_t> first = store_->FundMerchant("m1", 500, "wire 1", kT0Ms + 1);
  Result<int64_t> second = store_->FundMerchant("m1", 250, "wire 2", kT0Ms + 2);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, 500);
  EXPECT_EQ(*second, 750);
  EXPECT_EQ(Balance("m1"), 750);

  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[0].kind, LedgerKind::kFund);
  EXPECT_EQ(ledger[0].merchant_id, "m1");
  EXPECT_EQ(ledger[0].amount_fen, 500);
  EXPECT_EQ(ledger[0].balance_after_fen, 500);
  EXPECT_EQ(ledger[0].order_id, "");
  EXPECT_EQ(ledger[0].note, "wire 1");
  EXPECT_EQ(ledger[0].created_ms, kT0Ms + 1);
  EXPECT_EQ(ledger[1].balance_after_fen, 750);
  EXPECT_LT(ledger[0].entry_id, ledger[1].entry_id);

  // Paging: entries after the first one.
  Result<std::vector<LedgerEntry>> page = store_->ListLedger("m1", ledger[0].entry_id, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].entry_id, ledger[1].entry_id);
  EXPECT_EQ(store_->ListLedger("m1", 0, 1)->size(), 1u);
  EXPECT_EQ(store_->ListLedger("m1", ledger[1].entry_id, 10)->size(), 0u);
  EXPECT_EQ(store_->ListLedger("nobody", 0, 10).status().reason(), "unknown_merchant");

  // The balance limit: reaching it is fine, passing it writes nothing.
  constexpr int64_t kLimitFen = 1'000'000'000'000'000;
  ASSERT_EQ(store_->FundMerchant("m1", kLimitFen - 750, "", kT0Ms).value(), kLimitFen);
  Result<int64_t> over = store_->FundMerchant("m1", 1, "", kT0Ms);
  EXPECT_EQ(over.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(over.status().reason(), "balance_limit");
  EXPECT_EQ(Balance("m1"), kLimitFen);
  EXPECT_EQ(Ledger("m1").size(), 3u);
  ExpectBalanced();
}

// --- AcceptOrder ---

TEST_P(StoreConformanceTest, AcceptDebitsAndRecords) {
  AddMerchant("m1", 10'000);
  Order order = MakeOrder("o1", "m1", "mo-1", 980);
  Order stored = Accept(order);
  EXPECT_EQ(stored.order_id, "o1");
  EXPECT_EQ(stored.status, OrderStatus::kAccepted);

  Order read = Get("o1");
  EXPECT_EQ(read.order_id, "o1");
  EXPECT_EQ(read.merchant_id, "m1");
  EXPECT_EQ(read.merchant_order_id, "mo-1");
  EXPECT_EQ(read.phone, order.phone);
  EXPECT_EQ(read.carrier, Carrier::kChinaMobile);
  EXPECT_EQ(read.face_value_yuan, 10);
  EXPECT_EQ(read.price_fen, 980);
  EXPECT_EQ(read.notify_url, order.notify_url);
  EXPECT_EQ(read.status, OrderStatus::kAccepted);
  EXPECT_EQ(read.attempt_count, 0);
  EXPECT_EQ(read.supplier_order_id, "");
  EXPECT_EQ(read.created_ms, kT0Ms);
  EXPECT_EQ(read.deadline_ms, kT0Ms + 180'000);
  EXPECT_EQ(read.updated_ms, kT0Ms);
  EXPECT_EQ(read.next_check_ms, kT0Ms);
  EXPECT_EQ(read.finished_ms, 0);
  EXPECT_EQ(read.lease_owner, "");
  EXPECT_EQ(read.lease_expires_ms, 0);

  EXPECT_EQ(Balance("m1"), 10'000 - 980);
  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[1].kind, LedgerKind::kDebit);
  EXPECT_EQ(ledger[1].order_id, "o1");
  EXPECT_EQ(ledger[1].amount_fen, -980);
  EXPECT_EQ(ledger[1].balance_after_fen, 10'000 - 980);
  EXPECT_EQ(ledger[1].created_ms, kT0Ms);

  Result<std::vector<OrderEvent>> events = store_->ListEvents("o1");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, "accepted");
  EXPECT_EQ((*events)[0].order_id, "o1");
  EXPECT_EQ((*events)[0].at_ms, kT0Ms);
  EXPECT_EQ((*events)[0].from, OrderStatus::kAccepted);
  EXPECT_EQ((*events)[0].to, OrderStatus::kAccepted);

  Result<Order> found = store_->FindOrderByMerchantOrderId("m1", "mo-1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->order_id, "o1");
  EXPECT_EQ(store_->FindOrderByMerchantOrderId("m1", "mo-2").status().reason(), "order_not_found");
  EXPECT_EQ(store_->FindOrderByMerchantOrderId("m2", "mo-1").status().reason(), "order_not_found");
  EXPECT_EQ(store_->GetOrder("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetOrder("nope").status().reason(), "order_not_found");
  EXPECT_EQ(store_->ListEvents("nope").status().reason(), "order_not_found");
  ExpectBalanced();
}

TEST_P(StoreConformanceTest, AcceptIsIdempotentOnMerchantOrderId) {
  AddMerchant("m1", 10'000);
  Accept(MakeOrder("o1", "m1", "mo-1"));

  // The same request again, under a new order id as the API would generate: the first order.
  Result<AcceptResult> again = store_->AcceptOrder(MakeOrder("o2", "m1", "mo-1"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->order.order_id, "o1");
  EXPECT_EQ(again->order.price_fen, 1000);
  EXPECT_EQ(Balance("m1"), 9'000);
  EXPECT_EQ(store_->GetOrder("o2").status().reason(), "order_not_found");
  EXPECT_EQ(EventCount("o1"), 1u);

  // Same merchant order id, different content: a conflict, nothing written.
  Order other_phone = MakeOrder("o3", "m1", "mo-1");
  other_phone.phone = "13900139000";
  Order other_value = MakeOrder("o4", "m1", "mo-1");
  other_value.face_value_yuan = 50;
  Order other_url = MakeOrder("o5", "m1", "mo-1");
  other_url.notify_url = "";
  for (const Order& conflicting : {other_phone, other_value, other_url}) {
    Result<AcceptResult> conflict = store_->AcceptOrder(conflicting);
    ASSERT_FALSE(conflict.ok());
    EXPECT_EQ(conflict.status().code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(conflict.status().reason(), "merchant_order_id_conflict");
  }

  // Another merchant may reuse the merchant order id.
  AddMerchant("m2", 10'000);
  Accept(MakeOrder("o6", "m2", "mo-1"));

  // A taken order id is refused, not overwritten.
  Result<AcceptResult> taken = store_->AcceptOrder(MakeOrder("o1", "m2", "mo-7"));
  EXPECT_EQ(taken.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(taken.status().reason(), "order_id_exists");
  EXPECT_EQ(Get("o1").merchant_id, "m1");

  // A replay is answered from the stored order even once the balance could not pay again.
  ASSERT_TRUE(store_->AcceptOrder(MakeOrder("o7", "m2", "mo-2", 9'000)).ok());
  EXPECT_EQ(Balance("m2"), 0);
  Result<AcceptResult> replay = store_->AcceptOrder(MakeOrder("o8", "m2", "mo-2", 9'000));
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_FALSE(replay->created);
  EXPECT_EQ(replay->order.order_id, "o7");

  EXPECT_EQ(Balance("m1"), 9'000);
  EXPECT_EQ(Ledger("m1").size(), 2u);
  EXPECT_EQ(Ledger("m2").size(), 3u);
  ExpectBalanced();
}

TEST_P(StoreConformanceTest, RefusedAcceptsWriteNothing) {
  Result<AcceptResult> unknown = store_->AcceptOrder(MakeOrder("o1", "nobody", "mo-1"));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().reason(), "unknown_merchant");

  AddMerchant("m1", 1500);
  Accept(MakeOrder("o1", "m1", "mo-1", 1000));
  Result<AcceptResult> poor = store_->AcceptOrder(MakeOrder("o2", "m1", "mo-2", 1000));
  ASSERT_FALSE(poor.ok());
  EXPECT_EQ(poor.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(poor.status().reason(), "insufficient_balance");

  // Invalid orders: not accepted, with no attempt, without an id, with a negative price.
  Order started = MakeOrder("o3", "m1", "mo-3");
  started.status = OrderStatus::kCharging;
  Order no_id = MakeOrder("", "m1", "mo-3");
  Order negative = MakeOrder("o3", "m1", "mo-3", -1);
  Order no_merchant_order_id = MakeOrder("o3", "m1", "");
  Order zero_value = MakeOrder("o3", "m1", "mo-3");
  zero_value.face_value_yuan = 0;
  for (const Order& bad : {started, no_id, negative, no_merchant_order_id, zero_value}) {
    Result<AcceptResult> refused = store_->AcceptOrder(bad);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(refused.status().reason(), "invalid_order");
  }

  // Nothing of the refused orders exists: no order, no ledger row, no event, same balance.
  EXPECT_EQ(Balance("m1"), 500);
  EXPECT_EQ(Ledger("m1").size(), 2u);
  for (const char* id : {"o2", "o3"}) {
    EXPECT_EQ(store_->GetOrder(id).status().reason(), "order_not_found");
    EXPECT_EQ(store_->ListEvents(id).status().reason(), "order_not_found");
  }
  EXPECT_EQ(store_->FindOrderByMerchantOrderId("m1", "mo-2").status().reason(), "order_not_found");
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], 1);

  // Exactly the balance is enough.
  Accept(MakeOrder("o4", "m1", "mo-4", 500));
  EXPECT_EQ(Balance("m1"), 0);
  ExpectBalanced();
}

// Merchants retry: the same request arrives at several nodes at once. One order is created and
// paid for; every other answer is that order.
TEST_P(StoreConformanceTest, ConcurrentIdenticalAcceptsCreateOneOrder) {
  constexpr int kThreads = 8;
  constexpr int kRequests = 30;
  AddMerchant("m1", 1'000'000);
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(OpenStore());
  std::vector<std::vector<std::pair<std::string, bool>>> answers(kThreads);  // order id, created
  std::atomic<int> errors{0};
  RunTogether(kThreads, [&](int t) {
    Store& node = *nodes[t % nodes.size()];
    for (int r = 0; r < kRequests; ++r) {
      const std::string merchant_order_id = "mo-" + std::to_string(r);
      Order order = MakeOrder("o" + std::to_string(r) + "-t" + std::to_string(t), "m1",
                              merchant_order_id, 100 + r);
      Result<AcceptResult> accepted = node.AcceptOrder(order);
      if (!accepted.ok()) {
        ADD_FAILURE() << accepted.status().ToString();
        errors.fetch_add(1);
        answers[t].emplace_back("", false);
        continue;
      }
      answers[t].emplace_back(accepted->order.order_id, accepted->created);
    }
  });
  ASSERT_EQ(errors.load(), 0);
  int64_t paid_fen = 0;
  for (int r = 0; r < kRequests; ++r) {
    std::set<std::string> ids;
    int created = 0;
    for (int t = 0; t < kThreads; ++t) {
      ids.insert(answers[t][r].first);
      created += answers[t][r].second ? 1 : 0;
    }
    EXPECT_EQ(created, 1) << "request " << r;
    EXPECT_EQ(ids.size(), 1u) << "request " << r << " answered with different orders";
    paid_fen += 100 + r;
  }
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], kRequests);
  EXPECT_EQ(Balance("m1"), 1'000'000 - paid_fen);
  EXPECT_EQ(Ledger("m1").size(), 1u + kRequests);
  ExpectBalanced();
}

// Many nodes debiting one merchant at once never take the balance below zero, and exactly as many
// orders as it can pay for get through.
TEST_P(StoreConformanceTest, ConcurrentAcceptsNeverOverdraw) {
  constexpr int kThreads = 8;
  constexpr int kOrdersPerThread = 8;
  constexpr int64_t kPriceFen = 700;
  constexpr int kAffordable = 21;
  AddMerchant("m1", kAffordable * kPriceFen + kPriceFen / 2);
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 2; ++n) nodes.push_back(OpenStore());
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  RunTogether(kThreads, [&](int t) {
    Store& node = *nodes[t % nodes.size()];
    for (int i = 0; i < kOrdersPerThread; ++i) {
      const std::string id = "o" + std::to_string(t) + "-" + std::to_string(i);
      Result<AcceptResult> accepted = node.AcceptOrder(MakeOrder(id, "m1", id, kPriceFen));
      if (accepted.ok() && accepted->created) {
        created.fetch_add(1);
      } else if (accepted.status().reason() == "insufficient_balance") {
        refused.fetch_add(1);
      } else {
        ADD_FAILURE() << accepted.status().ToString();
      }
    }
  });
  EXPECT_EQ(created.load(), kAffordable);
  EXPECT_EQ(refused.load(), kThreads * kOrdersPerThread - kAffordable);
  EXPECT_EQ(Balance("m1"), kPriceFen / 2);
  EXPECT_EQ(Ledger("m1").size(), 1u + kAffordable);
  ExpectBalanced();
}

// --- AcceptOrderAsync ---

// The commit observer (behind /metrics' store commit figures) is told of the batched writes: the
// accepts written together and the transitions applied together.
TEST_P(StoreConformanceTest, TheCommitObserverIsToldOfAcceptAndTransitionBatches) {
  struct Told {
    std::atomic<int64_t> commits{0};
    std::atomic<int64_t> writes{0};
    std::atomic<int64_t> micros{0};
  };
  auto told = std::make_shared<Told>();
  std::unique_ptr<Store> store = OpenStore();  // observed from its first write
  ASSERT_NE(store, nullptr);
  store->SetCommitObserver([told](size_t writes, std::chrono::microseconds took) {
    told->commits++;
    told->writes += static_cast<int64_t>(writes);
    told->micros += took.count();
  });
  ASSERT_TRUE(store->CreateMerchant("m1", "Merchant m1", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m1", 100'000, "opening", kT0Ms).ok());
  const int64_t before_writes = told->writes.load();

  auto answers = std::make_shared<AcceptAnswers>();
  for (int i = 0; i < 3; ++i) {
    Order order = MakeOrder("o" + std::to_string(i), "m1", "mo-" + std::to_string(i));
    store->AcceptOrderAsync(order, Record(answers, order.order_id));
  }
  ASSERT_TRUE(answers->WaitFor(3));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(OnlyAnswer(*answers, "o" + std::to_string(i)).ok());
  std::vector<Transition> transitions;
  for (int i = 0; i < 3; ++i) {
    transitions.push_back(
        StartAttempt(*store->GetOrder("o" + std::to_string(i)), OrderStatus::kCharging, kT0Ms));
  }
  for (const Result<bool>& applied : store->ApplyTransitions(transitions)) {
    ASSERT_TRUE(applied.ok() && *applied);
  }
  // Three accepts and three transitions, however they were grouped.
  EXPECT_GE(told->writes.load() - before_writes, 6);
  EXPECT_GE(told->commits.load(), 2);
  EXPECT_GT(told->micros.load(), 0) << "a durable commit takes some time";
}

TEST_P(StoreConformanceTest, AsyncAcceptAnswersAsAcceptWould) {
  AddMerchant("m1", 1500);
  auto answers = std::make_shared<AcceptAnswers>();
  size_t calls = 0;
  // Each call is answered before the next is made, so that the outcomes do not depend on order.
  auto accept = [&](const Order& order) -> Result<AcceptResult> {
    store_->AcceptOrderAsync(order, Record(answers, order.order_id));
    calls += 1;
    if (!answers->WaitFor(calls)) return Internal("no answer within 60 s");
    return OnlyAnswer(*answers, order.order_id);
  };

  Order order = MakeOrder("o1", "m1", "mo-1", 1000);
  Result<AcceptResult> created = accept(order);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->order.order_id, "o1");
  EXPECT_EQ(created->order.merchant_order_id, "mo-1");
  EXPECT_EQ(created->order.status, OrderStatus::kAccepted);
  EXPECT_EQ(created->order.price_fen, 1000);
  {
    std::lock_guard<std::mutex> lock(answers->mu);
    EXPECT_NE(answers->by_order_id["o1"].front().thread, std::this_thread::get_id())
        << "the callback runs on a thread of the store's";
  }
  // Durable and complete once answered.
  EXPECT_EQ(Get("o1").status, OrderStatus::kAccepted);
  EXPECT_EQ(Balance("m1"), 500);
  EXPECT_EQ(EventCount("o1"), 1u);

  // The same request again: the first order, nothing written.
  Result<AcceptResult> again = accept(MakeOrder("o2", "m1", "mo-1", 1000));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->order.order_id, "o1");
  EXPECT_EQ(store_->GetOrder("o2").status().reason(), "order_not_found");

  Order other_phone = MakeOrder("o3", "m1", "mo-1", 1000);
  other_phone.phone = "13900139000";
  Result<AcceptResult> conflict = accept(other_phone);
  EXPECT_EQ(conflict.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(conflict.status().reason(), "merchant_order_id_conflict");

  Result<AcceptResult> poor = accept(MakeOrder("o4", "m1", "mo-4", 1000));
  EXPECT_EQ(poor.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(poor.status().reason(), "insufficient_balance");

  Result<AcceptResult> unknown = accept(MakeOrder("o5", "nobody", "mo-5", 10));
  EXPECT_EQ(unknown.status().reason(), "unknown_merchant");
  Result<AcceptResult> invalid = accept(MakeOrder("o6", "m1", "mo-6", -1));
  EXPECT_EQ(invalid.status().reason(), "invalid_order");

  EXPECT_EQ(Balance("m1"), 500);
  EXPECT_EQ(Ledger("m1").size(), 2u);
  for (const char* id : {"o3", "o4", "o5", "o6"}) {
    EXPECT_EQ(store_->GetOrder(id).status().reason(), "order_not_found") << id;
  }
  ExpectBalanced();
}

// HTTP threads hand accepts over without waiting: many at once, for a merchant that can pay for
// all, one that can pay for half, and requests every thread repeats. Each call is answered exactly
// once, as AcceptOrder would have answered it.
TEST_P(StoreConformanceTest, ConcurrentAsyncAcceptsAreEachAnsweredOnce) {
  constexpr int kThreads = 8;
  constexpr int kRichPerThread = 30;
  constexpr int kShared = 10;  // requests every thread sends, each under its own order id
  constexpr int kPoorPerThread = 5;
  constexpr int kPoorAffordable = 20;
  constexpr int64_t kPriceFen = 100;
  constexpr size_t kCalls = kThreads * (kRichPerThread + kShared + kPoorPerThread);
  AddMerchant("rich", 1'000'000);
  AddMerchant("poor", kPoorAffordable * kPriceFen + kPriceFen / 2);
  auto answers = std::make_shared<AcceptAnswers>();
  auto rich_id = [](int t, int i) { return "r" + std::to_string(t) + "-" + std::to_string(i); };
  auto shared_id = [](int t, int k) { return "s" + std::to_string(k) + "-" + std::to_string(t); };
  auto poor_id = [](int t, int i) { return "p" + std::to_string(t) + "-" + std::to_string(i); };
  RunTogether(kThreads, [&](int t) {
    for (int i = 0; i < kRichPerThread; ++i) {
      const std::string id = rich_id(t, i);
      store_->AcceptOrderAsync(MakeOrder(id, "rich", id, kPriceFen), Record(answers, id));
      if (i < kShared) {
        const std::string repeated = shared_id(t, i);
        store_->AcceptOrderAsync(
            MakeOrder(repeated, "rich", "shared-" + std::to_string(i), kPriceFen),
            Record(answers, repeated));
      }
      if (i < kPoorPerThread) {
        const std::string poor = poor_id(t, i);
        store_->AcceptOrderAsync(MakeOrder(poor, "poor", poor, kPriceFen), Record(answers, poor));
      }
    }
  });
  ASSERT_TRUE(answers->WaitFor(kCalls)) << "not every call was answered";
  // Closing the store lets every callback that is still to come run: none may.
  store_.reset();
  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(answers->total, kCalls);

  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kRichPerThread; ++i) {
      Result<AcceptResult> answer = OnlyAnswer(*answers, rich_id(t, i));
      ASSERT_TRUE(answer.ok()) << answer.status().ToString();
      EXPECT_TRUE(answer->created);
      EXPECT_EQ(answer->order.order_id, rich_id(t, i));
    }
  }
  for (int k = 0; k < kShared; ++k) {
    std::set<std::string> orders;
    int created = 0;
    for (int t = 0; t < kThreads; ++t) {
      Result<AcceptResult> answer = OnlyAnswer(*answers, shared_id(t, k));
      ASSERT_TRUE(answer.ok()) << answer.status().ToString();
      orders.insert(answer->order.order_id);
      created += answer->created ? 1 : 0;
    }
    EXPECT_EQ(created, 1) << "shared request " << k;
    EXPECT_EQ(orders.size(), 1u) << "shared request " << k << " answered with different orders";
  }
  int poor_created = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPoorPerThread; ++i) {
      Result<AcceptResult> answer = OnlyAnswer(*answers, poor_id(t, i));
      if (answer.ok() && answer->created) {
        poor_created += 1;
      } else {
        EXPECT_EQ(answer.status().reason(), "insufficient_balance") << answer.status().ToString();
      }
    }
  }
  EXPECT_EQ(poor_created, kPoorAffordable);

  const int rich_orders = kThreads * kRichPerThread + kShared;
  EXPECT_EQ(Balance("rich"), 1'000'000 - rich_orders * kPriceFen);
  EXPECT_EQ(Balance("poor"), kPriceFen / 2);
  EXPECT_EQ(Ledger("rich").size(), 1u + rich_orders);
  EXPECT_EQ(Ledger("poor").size(), 1u + kPoorAffordable);
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], rich_orders + kPoorAffordable);
  ExpectBalanced();
}

// A burst of accepts for one merchant, fired without waiting, so that they are written together:
// requests repeated within the burst (identical, and with a different phone), and more orders
// than the balance pays for. Each is answered as AcceptOrder would have answered it in some order
// of the calls, and exactly the orders reported created exist.
TEST_P(StoreConformanceTest, AsyncAcceptBurstForOneMerchantAnswersEachOnItsOwn) {
  constexpr int kRequests = 300;    // distinct merchant order ids
  constexpr int kAffordable = 200;  // orders the balance pays for
  constexpr int kRepeatEvery = 3;   // request i is sent again, twice, when i % kRepeatEvery == 0
  constexpr int64_t kPriceFen = 100;
  AddMerchant("busy", kAffordable * kPriceFen + kPriceFen / 2);
  auto answers = std::make_shared<AcceptAnswers>();
  auto request = [](int i, const std::string& suffix) {
    const std::string id = "b" + std::to_string(i) + suffix;
    return MakeOrder(id, "busy", "mo-" + std::to_string(i), kPriceFen);
  };
  size_t calls = 0;
  auto send = [&](Order order) {
    const std::string id = order.order_id;
    store_->AcceptOrderAsync(std::move(order), Record(answers, id));
    calls += 1;
  };
  for (int i = 0; i < kRequests; ++i) {
    send(request(i, ""));
    if (i % kRepeatEvery == 0) {
      send(request(i, "-again"));
      Order other_phone = request(i, "-other");
      other_phone.phone = "13900139000";
      send(other_phone);
    }
    if (i == kRequests / 2) {
      send(MakeOrder("stranger", "nobody", "mo-x", kPriceFen));
      send(MakeOrder("invalid", "busy", "mo-invalid", -1));
    }
  }
  ASSERT_TRUE(answers->WaitFor(calls)) << "not every call was answered";
  EXPECT_EQ(OnlyAnswer(*answers, "stranger").status().reason(), "unknown_merchant");
  EXPECT_EQ(OnlyAnswer(*answers, "invalid").status().reason(), "invalid_order");

  // Balances only go down, so for each merchant order id either one call created its order and
  // every other call found it (or conflicts with it), or the balance was short for every call.
  std::set<std::string> created;
  for (int i = 0; i < kRequests; ++i) {
    std::vector<std::string> ids = {request(i, "").order_id};
    if (i % kRepeatEvery == 0) {
      ids.push_back(request(i, "-again").order_id);
      ids.push_back(request(i, "-other").order_id);
    }
    std::map<std::string, Result<AcceptResult>> got;
    std::string winner;
    for (const std::string& id : ids) {
      Result<AcceptResult> answer = OnlyAnswer(*answers, id);
      if (answer.ok() && answer->created) {
        EXPECT_EQ(winner, "") << "two orders created for request " << i;
        EXPECT_EQ(answer->order.order_id, id);
        winner = id;
        created.insert(id);
      }
      got.emplace(id, std::move(answer));
    }
    const bool winner_has_other_phone = winner.ends_with("-other");
    for (const auto& [id, answer] : got) {
      if (id == winner) continue;
      if (winner.empty()) {
        EXPECT_EQ(answer.status().reason(), "insufficient_balance") << id;
      } else if (id.ends_with("-other") == winner_has_other_phone) {
        ASSERT_TRUE(answer.ok()) << id << ": " << answer.status().ToString();
        EXPECT_FALSE(answer->created) << id;
        EXPECT_EQ(answer->order.order_id, winner) << id;
      } else {
        EXPECT_EQ(answer.status().reason(), "merchant_order_id_conflict") << id;
      }
    }
  }
  EXPECT_EQ(created.size(), static_cast<size_t>(kAffordable));
  EXPECT_EQ(Balance("busy"), kPriceFen / 2);
  EXPECT_EQ(Ledger("busy").size(), 1u + kAffordable);

  std::set<std::string> stored;
  for (std::string after;;) {
    Result<std::vector<Order>> page = store_->ListOrders(after, 100);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    if (page->empty()) break;
    for (const Order& order : *page) stored.insert(order.order_id);
    after = page->back().order_id;
  }
  EXPECT_EQ(stored, created);
  for (const std::string& id : created) EXPECT_EQ(EventCount(id), 1u) << id;
  ExpectBalanced();
}

// A burst of accepts of different prices for one merchant that cannot pay for them all: exactly
// the orders whose price exceeded what was left at their turn are refused. Balances only go
// down, so each refused price is above the final balance, and the created prices add up to what
// the balance lost.
TEST_P(StoreConformanceTest, AsyncAcceptBurstRefusesExactlyTheOrdersThatExceedTheBalance) {
  constexpr int kOrders = 200;
  constexpr int64_t kFundedFen = 20'000;
  AddMerchant("thin", kFundedFen);
  auto answers = std::make_shared<AcceptAnswers>();
  std::map<std::string, int64_t> price_of;
  for (int i = 0; i < kOrders; ++i) {
    const std::string id = "t" + std::to_string(i);
    price_of[id] = 50 + (i * 37) % 400;  // 50..449 fen, mixed
    store_->AcceptOrderAsync(MakeOrder(id, "thin", id, price_of[id]), Record(answers, id));
  }
  ASSERT_TRUE(answers->WaitFor(kOrders)) << "not every call was answered";
  const int64_t final_fen = Balance("thin");
  int64_t created_fen = 0;
  int created = 0, refused = 0;
  for (const auto& [id, price_fen] : price_of) {
    Result<AcceptResult> answer = OnlyAnswer(*answers, id);
    if (answer.ok()) {
      EXPECT_TRUE(answer->created) << id;
      created_fen += price_fen;
      created += 1;
      EXPECT_EQ(EventCount(id), 1u) << id;
    } else {
      EXPECT_EQ(answer.status().reason(), "insufficient_balance") << id;
      EXPECT_GT(price_fen, final_fen) << id << " was refused with enough balance left";
      EXPECT_EQ(store_->GetOrder(id).status().reason(), "order_not_found") << id;
      refused += 1;
    }
  }
  EXPECT_GT(refused, 0) << "the balance should not cover every order";
  EXPECT_GE(final_fen, 0);
  EXPECT_EQ(created_fen, kFundedFen - final_fen);
  EXPECT_EQ(Ledger("thin").size(), 1u + created);
  ExpectBalanced();
}

// Two nodes take the same requests at once, each through its own batches: for each merchant order
// id one order is created, debited once, and every answer on either node names it.
TEST_P(StoreConformanceTest, TwoNodesRacingTheSameMerchantOrderIdsCreateEachOnce) {
  constexpr int kRequests = 150;
  constexpr int kSendsPerNode = 2;  // each node sends each request this many times
  constexpr int64_t kPriceFen = 100;
  AddMerchant("m1", 1'000'000);
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 2; ++n) nodes.push_back(OpenStore());
  auto answers = std::make_shared<AcceptAnswers>();
  auto call_id = [](int n, int s, int i) {
    return "n" + std::to_string(n) + "-" + std::to_string(s) + "-" + std::to_string(i);
  };
  RunTogether(2, [&](int n) {
    for (int i = 0; i < kRequests; ++i) {
      for (int s = 0; s < kSendsPerNode; ++s) {
        const std::string id = call_id(n, s, i);
        nodes[n]->AcceptOrderAsync(MakeOrder(id, "m1", "mo-" + std::to_string(i), kPriceFen),
                                   Record(answers, id));
      }
    }
  });
  ASSERT_TRUE(answers->WaitFor(2 * kSendsPerNode * kRequests)) << "not every call was answered";
  for (int i = 0; i < kRequests; ++i) {
    std::set<std::string> named;
    int created = 0;
    for (int n = 0; n < 2; ++n) {
      for (int s = 0; s < kSendsPerNode; ++s) {
        Result<AcceptResult> answer = OnlyAnswer(*answers, call_id(n, s, i));
        ASSERT_TRUE(answer.ok()) << answer.status().ToString();
        named.insert(answer->order.order_id);
        created += answer->created ? 1 : 0;
      }
    }
    EXPECT_EQ(created, 1) << "request " << i;
    EXPECT_EQ(named.size(), 1u) << "request " << i << " answered with different orders";
  }
  EXPECT_EQ(Balance("m1"), 1'000'000 - kRequests * kPriceFen);
  EXPECT_EQ(Ledger("m1").size(), 1u + kRequests);
  ExpectBalanced();
}

// An order id already stored, or repeated within a burst, is refused as order_id_exists without
// writing anything of that order; the burst's other orders are created as usual.
TEST_P(StoreConformanceTest, AsyncAcceptRefusesATakenOrderIdAndKeepsTheRest) {
  AddMerchant("m1", 100'000);
  AddMerchant("m2", 100'000);
  ASSERT_TRUE(store_->AcceptOrder(MakeOrder("taken", "m2", "m2-first", 100)).ok());
  auto answers = std::make_shared<AcceptAnswers>();
  constexpr int kOthers = 40;
  for (int i = 0; i < kOthers; ++i) {
    const std::string id = "ok" + std::to_string(i);
    store_->AcceptOrderAsync(MakeOrder(id, "m1", id, 100), Record(answers, id));
    if (i == kOthers / 2) {
      store_->AcceptOrderAsync(MakeOrder("taken", "m1", "mo-taken", 100), Record(answers, "taken"));
      store_->AcceptOrderAsync(MakeOrder("ok0", "m1", "mo-repeat", 100),
                               Record(answers, "ok0-repeat"));
    }
  }
  ASSERT_TRUE(answers->WaitFor(kOthers + 2)) << "not every call was answered";
  EXPECT_EQ(OnlyAnswer(*answers, "taken").status().reason(), "order_id_exists");
  // Which of the two calls for ok0 came first depends on the batches' timing: one of them.
  Result<AcceptResult> first = OnlyAnswer(*answers, "ok0");
  Result<AcceptResult> repeat = OnlyAnswer(*answers, "ok0-repeat");
  EXPECT_NE(first.ok(), repeat.ok());
  EXPECT_EQ((first.ok() ? repeat : first).status().reason(), "order_id_exists");
  for (int i = 1; i < kOthers; ++i) {
    Result<AcceptResult> answer = OnlyAnswer(*answers, "ok" + std::to_string(i));
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_TRUE(answer->created);
  }
  EXPECT_EQ(Get("taken").merchant_id, "m2");
  EXPECT_EQ(Balance("m1"), 100'000 - kOthers * 100);
  EXPECT_EQ(Ledger("m1").size(), 1u + kOthers);
  EXPECT_EQ(Balance("m2"), 100'000 - 100);
  ExpectBalanced();
}

// --- ApplyTransition ---

TEST_P(StoreConformanceTest, TransitionsSetTheDocumentedFields) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));
  ASSERT_TRUE(store_->ClaimOrders(std::vector<std::string>{"o1"}, "w1", kT0Ms, 10'000).ok());

  // accepted -> charging, attempt 1 starts.
  Transition start = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 10, "chan-a");
  ASSERT_EQ(store_->ApplyTransition(start).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kCharging);
  EXPECT_EQ(order.attempt_count, 1);
  EXPECT_EQ(order.supplier_order_id, "o1-1");
  EXPECT_EQ(order.channel, "chan-a");
  EXPECT_EQ(order.attempt_sent_ms, kT0Ms + 10);
  EXPECT_EQ(order.updated_ms, kT0Ms + 10);
  EXPECT_EQ(order.next_check_ms, kT0Ms + 10 + 5000);
  EXPECT_EQ(order.lease_owner, "w1");  // not released
  EXPECT_EQ(order.lease_expires_ms, kT0Ms + 10'000);

  // charging -> unknown, keeping the attempt, storing the supplier's ref, releasing the lease.
  Transition unknown = Move(order, OrderStatus::kUnknown, kT0Ms + 20, Attempt::kKeep, "timeout");
  unknown.supplier_ref = "ref-9";
  unknown.event_detail = "no answer in 5 s";
  unknown.release_lease = true;
  ASSERT_EQ(store_->ApplyTransition(unknown).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kUnknown);
  EXPECT_EQ(order.supplier_order_id, "o1-1");
  EXPECT_EQ(order.attempt_sent_ms, kT0Ms + 10);
  EXPECT_EQ(order.supplier_ref, "ref-9");
  EXPECT_EQ(order.lease_owner, "");
  EXPECT_EQ(order.lease_expires_ms, 0);

  // A schedule-only change needs no event and appends none.
  Transition poll = Move(order, OrderStatus::kUnknown, kT0Ms + 30, Attempt::kKeep, "");
  poll.next_check_ms = kT0Ms + 99'000;
  ASSERT_EQ(store_->ApplyTransition(poll).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.next_check_ms, kT0Ms + 99'000);
  EXPECT_EQ(order.updated_ms, kT0Ms + 30);
  EXPECT_EQ(order.supplier_ref, "ref-9");  // an empty ref does not erase the known one

  // unknown -> charging with the attempt confirmed failed: cleared.
  Transition clear = Move(order, OrderStatus::kCharging, kT0Ms + 40, Attempt::kClear, "failed");
  ASSERT_EQ(store_->ApplyTransition(clear).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kCharging);
  EXPECT_EQ(order.supplier_order_id, "");
  EXPECT_EQ(order.attempt_sent_ms, 0);
  EXPECT_EQ(order.channel, "chan-a");
  EXPECT_EQ(order.attempt_count, 1);

  // charging -> charging, attempt 2, then success.
  ASSERT_EQ(
      store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 50, "b")).value(),
      true);
  order = Get("o1");
  EXPECT_EQ(order.attempt_count, 2);
  EXPECT_EQ(order.supplier_order_id, "o1-2");
  EXPECT_EQ(order.channel, "b");
  Transition success = Move(order, OrderStatus::kSuccess, kT0Ms + 60, Attempt::kKeep, "succeeded");
  success.next_check_ms = 0;
  ASSERT_EQ(store_->ApplyTransition(success).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kSuccess);
  EXPECT_EQ(order.finished_ms, kT0Ms + 60);
  EXPECT_EQ(order.fail_reason, "");
  EXPECT_EQ(order.supplier_order_id, "o1-2");

  Result<std::vector<OrderEvent>> events = store_->ListEvents("o1");
  ASSERT_TRUE(events.ok());
  std::vector<std::string> kinds;
  for (const OrderEvent& e : *events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"accepted", "attempt_started", "timeout", "failed",
                                             "attempt_started", "succeeded"}));
  for (size_t i = 1; i < events->size(); ++i) {
    EXPECT_LT((*events)[i - 1].event_id, (*events)[i].event_id);
  }
  EXPECT_EQ((*events)[1].from, OrderStatus::kAccepted);
  EXPECT_EQ((*events)[1].to, OrderStatus::kCharging);
  EXPECT_EQ((*events)[1].attempt_no, 1);
  EXPECT_EQ((*events)[2].detail, "no answer in 5 s");
  EXPECT_EQ((*events)[2].from, OrderStatus::kCharging);
  EXPECT_EQ((*events)[2].to, OrderStatus::kUnknown);
  EXPECT_EQ((*events)[4].attempt_no, 2);
  EXPECT_EQ((*events)[5].at_ms, kT0Ms + 60);
  EXPECT_EQ((*events)[5].to, OrderStatus::kSuccess);

  // Nothing leaves a final state.
  Result<bool> after_final =
      store_->ApplyTransition(Move(order, OrderStatus::kCharging, kT0Ms + 70, Attempt::kKeep, "x"));
  EXPECT_EQ(after_final.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Balance("m1"), 9'000);  // success keeps the money
  ExpectBalanced();
}

TEST_P(StoreConformanceTest, TransitionsAreValidated) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));

  Transition skip = Move(order, OrderStatus::kSuccess, kT0Ms + 1, Attempt::kKeep, "succeeded");
  EXPECT_EQ(store_->ApplyTransition(skip).status().reason(), "invalid_transition");

  Transition silent = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1);
  silent.event_kind = "";
  EXPECT_EQ(store_->ApplyTransition(silent).status().reason(), "invalid_transition");

  Transition wrong_id = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1);
  wrong_id.supplier_order_id = "o1-7";
  EXPECT_EQ(store_->ApplyTransition(wrong_id).status().reason(), "invalid_transition");

  Transition no_channel = StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1);
  no_channel.channel = "";
  EXPECT_EQ(store_->ApplyTransition(no_channel).status().reason(), "invalid_transition");

  Transition no_time = StartAttempt(order, OrderStatus::kCharging, 0);
  EXPECT_EQ(store_->ApplyTransition(no_time).status().reason(), "invalid_transition");

  // A well-formed transition of an order that does not exist is a lost compare-and-set.
  Transition missing = StartAttempt(MakeOrder("o9", "m1", "mo-9"), OrderStatus::kCharging, kT0Ms);
  Result<bool> result = store_->ApplyTransition(missing);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_FALSE(*result);

  EXPECT_EQ(Get("o1").status, OrderStatus::kAccepted);
  EXPECT_EQ(EventCount("o1"), 1u);
}

TEST_P(StoreConformanceTest, AnAcceptedOrderWaitsForAChannelWithoutMoving) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));

  // accepted -> accepted: only the schedule changes, with or without an event.
  Transition wait = Move(order, OrderStatus::kAccepted, kT0Ms + 5, Attempt::kKeep, "");
  wait.next_check_ms = kT0Ms + 505;
  ASSERT_EQ(store_->ApplyTransition(wait).value(), true);
  order = Get("o1");
  Transition noted =
      Move(order, OrderStatus::kAccepted, kT0Ms + 10, Attempt::kKeep, "waiting_for_channel");
  noted.event_detail = "channels_busy";
  noted.next_check_ms = kT0Ms + 1'010;
  ASSERT_EQ(store_->ApplyTransition(noted).value(), true);
  order = Get("o1");
  EXPECT_EQ(order.status, OrderStatus::kAccepted);
  EXPECT_EQ(order.attempt_count, 0);
  EXPECT_EQ(order.next_check_ms, kT0Ms + 1'010);
  EXPECT_EQ(EventCount("o1"), 2u);

  // A started attempt always makes the order charging.
  Transition start_in_place = StartAttempt(order, OrderStatus::kAccepted, kT0Ms + 20);
  EXPECT_EQ(store_->ApplyTransition(start_in_place).status().reason(), "invalid_transition");
  EXPECT_EQ(Get("o1").attempt_count, 0);
}

TEST_P(StoreConformanceTest, TheFirstStepAfterTheDeadlineRecordsWhyItIsLate) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));
  Transition late =
      Move(order, OrderStatus::kFailed, kT0Ms + 200'000, Attempt::kKeep, "failed_refunded");
  late.fail_reason = "no channel";
  late.deadline_missed_detail = "no channel admitted it for 180 s";
  ASSERT_EQ(store_->ApplyTransition(late).value(), true);
  Result<std::vector<OrderEvent>> events = store_->ListEvents("o1");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[1].kind, "failed_refunded");
  EXPECT_EQ((*events)[2].kind, kDeadlineMissedEvent);
  EXPECT_EQ((*events)[2].detail, "no channel admitted it for 180 s");
  EXPECT_EQ((*events)[2].at_ms, kT0Ms + 200'000);
  EXPECT_EQ((*events)[2].to, OrderStatus::kFailed);
  ExpectBalanced();

  // Batched transitions record it the same way, also on a schedule-only step.
  Order open = Accept(MakeOrder("o2", "m1", "mo-2"));
  Transition poll = Move(open, OrderStatus::kAccepted, kT0Ms + 190'000, Attempt::kKeep, "");
  poll.deadline_missed_detail = "still waiting for a channel";
  std::vector<Result<bool>> applied = store_->ApplyTransitions(std::vector<Transition>{poll});
  ASSERT_TRUE(applied[0].ok()) << applied[0].status().ToString();
  EXPECT_TRUE(*applied[0]);
  events = store_->ListEvents("o2");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].kind, kDeadlineMissedEvent);
  EXPECT_EQ((*events)[1].detail, "still waiting for a channel");
}

TEST_P(StoreConformanceTest, FailingWithALiveAttemptIsRefused) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1"));
  ASSERT_TRUE(store_->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1)).ok());
  order = Get("o1");

  Result<bool> refused = store_->ApplyTransition(
      Move(order, OrderStatus::kFailed, kT0Ms + 2, Attempt::kKeep, "gave_up"));
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().reason(), "live_attempt");
  EXPECT_EQ(Get("o1").status, OrderStatus::kCharging);
  EXPECT_EQ(Balance("m1"), 9'000);
  EXPECT_EQ(EventCount("o1"), 2u);

  // A stale view of the order is a lost compare-and-set, live attempt or not.
  Transition stale = Move(order, OrderStatus::kFailed, kT0Ms + 2, Attempt::kKeep, "gave_up");
  stale.from_attempt_count = 0;
  EXPECT_EQ(store_->ApplyTransition(stale).value(), false);

  ASSERT_EQ(
      store_
          ->ApplyTransition(Move(order, OrderStatus::kFailed, kT0Ms + 3, Attempt::kClear, "failed"))
          .value(),
      true);
  EXPECT_EQ(Get("o1").supplier_order_id, "");
  EXPECT_EQ(Balance("m1"), 10'000);
  ExpectBalanced();
}

TEST_P(StoreConformanceTest, FailedRefundsExactlyOnce) {
  AddMerchant("m1", 10'000);
  Order order = Accept(MakeOrder("o1", "m1", "mo-1", 1234));
  EXPECT_EQ(Balance("m1"), 10'000 - 1234);

  Transition fail = Move(order, OrderStatus::kFailed, kT0Ms + 5, Attempt::kKeep, "expired");
  fail.fail_reason = "deadline_passed";
  ASSERT_EQ(store_->ApplyTransition(fail).value(), true);
  // The same compare-and-set again is a lost race, not a second refund.
  EXPECT_EQ(store_->ApplyTransition(fail).value(), false);

  Order failed = Get("o1");
  EXPECT_EQ(failed.status, OrderStatus::kFailed);
  EXPECT_EQ(failed.fail_reason, "deadline_passed");
  EXPECT_EQ(failed.finished_ms, kT0Ms + 5);
  EXPECT_EQ(Balance("m1"), 10'000);

  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger[2].kind, LedgerKind::kRefund);
  EXPECT_EQ(ledger[2].order_id, "o1");
  EXPECT_EQ(ledger[2].amount_fen, 1234);
  EXPECT_EQ(ledger[2].balance_after_fen, 10'000);
  EXPECT_EQ(ledger[2].created_ms, kT0Ms + 5);
  EXPECT_EQ(ledger[2].note, "deadline_passed");
  EXPECT_EQ(EventCount("o1"), 2u);
  ExpectBalanced();
}

// Workers on several nodes that saw the same (accepted, 0) race: half start an attempt, half fail
// the order. Exactly one wins each race, and only its writes exist.
TEST_P(StoreConformanceTest, ConcurrentCompareAndSetHasExactlyOneWinner) {
  constexpr int kOrders = 40;
  constexpr int kRacers = 6;
  AddMerchant("m1", 1'000'000);
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(OpenStore());
  for (int i = 0; i < kOrders; ++i) {
    Accept(MakeOrder("o" + std::to_string(i), "m1", "mo-" + std::to_string(i)));
  }
  int failed = 0;
  for (int i = 0; i < kOrders; ++i) {
    Order order = Get("o" + std::to_string(i));
    std::vector<Result<bool>> results(kRacers, Result<bool>(false));
    RunTogether(kRacers, [&](int r) {
      Transition t = r % 2 == 0 ? StartAttempt(order, OrderStatus::kCharging, kT0Ms + 100 + r)
                                : Move(order, OrderStatus::kFailed, kT0Ms + 100 + r, Attempt::kKeep,
                                       "expired");
      results[r] = nodes[r % nodes.size()]->ApplyTransition(t);
    });
    int winners = 0;
    for (const Result<bool>& result : results) {
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      winners += *result ? 1 : 0;
    }
    EXPECT_EQ(winners, 1) << "order " << order.order_id;
    Order after = Get(order.order_id);
    EXPECT_EQ(EventCount(order.order_id), 2u);  // accepted + the winner's
    if (after.status == OrderStatus::kCharging) {
      EXPECT_EQ(after.attempt_count, 1);
    } else {
      EXPECT_EQ(after.status, OrderStatus::kFailed);
      EXPECT_EQ(after.attempt_count, 0);
      ++failed;
    }
  }
  int refunds = 0;
  for (const LedgerEntry& entry : Ledger("m1")) refunds += entry.kind == LedgerKind::kRefund;
  EXPECT_EQ(refunds, failed);
  ExpectBalanced();
}

// A seeded random walk of many orders through the state machine, with stale compare-and-sets
// mixed in. Whatever the path, the money must balance and exactly the failed orders are refunded.
TEST_P(StoreConformanceTest, RandomTransitionsKeepTheLedgerBalanced) {
  constexpr int kOrders = 150;
  constexpr int kSteps = 1500;
  const std::vector<std::string> merchants = {"m1", "m2", "m3"};
  for (const std::string& m : merchants) AddMerchant(m, 10'000'000);

  SeededRandom random(20240611);
  std::vector<std::string> ids;
  std::map<std::string, int64_t> price;
  for (int i = 0; i < kOrders; ++i) {
    std::string id = "o" + std::to_string(1000 + i);
    int64_t price_fen = 100 + static_cast<int64_t>(random.NextBelow(5000));
    Accept(MakeOrder(id, merchants[random.NextBelow(merchants.size())], "mo-" + id, price_fen));
    ids.push_back(id);
    price[id] = price_fen;
  }

  int64_t now_ms = kT0Ms + 1;
  int applied = 0;
  int lost = 0;
  std::map<std::string, size_t> events;  // expected events per order
  for (const std::string& id : ids) events[id] = 1;
  for (int step = 0; step < kSteps; ++step) {
    const std::string& id = ids[random.NextBelow(ids.size())];
    Order order = Get(id);
    now_ms += 1;
    Transition t;
    const bool live = !order.supplier_order_id.empty();
    switch (order.status) {
      case OrderStatus::kAccepted:
        t = random.Chance(0.8)
                ? StartAttempt(order, OrderStatus::kCharging, now_ms)
                : Move(order, OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired");
        break;
      case OrderStatus::kCharging:
      case OrderStatus::kUnknown: {
        uint64_t pick = random.NextBelow(6);
        if (pick == 0) {
          t = StartAttempt(order, OrderStatus::kCharging, now_ms);
        } else if (pick == 1) {
          t = Move(order, OrderStatus::kUnknown, now_ms, Attempt::kKeep, "timeout");
        } else if (pick == 2) {
          t = Move(order, OrderStatus::kSuccess, now_ms, Attempt::kKeep, "succeeded");
        } else if (pick == 3) {
          t = Move(order, OrderStatus::kCharging, now_ms, Attempt::kClear, "attempt_failed");
        } else {
          t = Move(order, OrderStatus::kFailed, now_ms, live ? Attempt::kClear : Attempt::kKeep,
                   "failed");
        }
        break;
      }
      case OrderStatus::kSuccess:
      case OrderStatus::kFailed:
        continue;
    }
    const bool stale = random.Chance(0.2);
    if (stale) t.from_attempt_count += 1;  // a worker acting on an outdated read
    if (t.attempt == Attempt::kStart) {
      t.supplier_order_id = SupplierOrderId(t.order_id, t.from_attempt_count + 1);
    }
    Result<bool> result = store_->ApplyTransition(t);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(*result, !stale);
    (*result ? applied : lost) += 1;
    if (*result) events[id] += 1;
  }
  // Most orders reach a final state early, after which steps on them are skipped.
  EXPECT_GT(applied, kOrders);
  EXPECT_GT(lost, 0);

  // Independent bookkeeping: each merchant keeps the price of every order that did not fail.
  std::map<std::string, int64_t> expected_balance;
  for (const std::string& m : merchants) expected_balance[m] = 10'000'000;
  int failed = 0;
  for (const std::string& id : ids) {
    Order order = Get(id);
    EXPECT_EQ(EventCount(id), events[id]) << id;
    if (order.status == OrderStatus::kFailed) {
      ++failed;
      EXPECT_EQ(order.supplier_order_id, "");
    } else {
      expected_balance[order.merchant_id] -= price[id];
    }
  }
  EXPECT_GT(failed, 0);
  int refunds = 0;
  for (const std::string& m : merchants) {
    EXPECT_EQ(Balance(m), expected_balance[m]) << m;
    for (const LedgerEntry& entry : Ledger(m)) refunds += entry.kind == LedgerKind::kRefund;
  }
  EXPECT_EQ(refunds, failed);
  Result<LedgerAudit> audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
  EXPECT_EQ(audit->merchants, 3);
  EXPECT_EQ(audit->funded_fen, 30'000'000);
  EXPECT_EQ(audit->balance_fen + audit->open_and_succeeded_price_fen, audit->funded_fen);
  EXPECT_EQ(audit->funded_fen - audit->debited_fen + audit->refunded_fen, audit->balance_fen);
}

// The same walk with real races: workers on several nodes move shared orders at once, each from
// its own latest read. Lost races are expected; every applied transition has its event, and the
// money balances with exactly one refund per failed order.
TEST_P(StoreConformanceTest, RacingWorkersOnSeveralNodesKeepTheLedgerBalanced) {
  constexpr int kOrders = 60;
  constexpr int kThreads = 8;
  constexpr int kStepsPerThread = 150;
  AddMerchant("m1", 10'000'000);
  AddMerchant("m2", 10'000'000);
  std::vector<std::string> ids;
  for (int i = 0; i < kOrders; ++i) {
    ids.push_back("o" + std::to_string(i));
    Accept(MakeOrder(ids.back(), i % 2 == 0 ? "m1" : "m2", ids.back(), 100 + i));
  }
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(OpenStore());
  std::mutex mu;
  std::map<std::string, size_t> applied_events;  // guarded by mu
  std::atomic<int> lost{0};
  RunTogether(kThreads, [&](int thread) {
    Store& node = *nodes[thread % nodes.size()];
    SeededRandom random(7000 + static_cast<uint64_t>(thread));
    for (int step = 0; step < kStepsPerThread; ++step) {
      const std::string& id = ids[random.NextBelow(ids.size())];
      Result<Order> read = node.GetOrder(id);
      if (!read.ok()) {
        ADD_FAILURE() << read.status().ToString();
        return;
      }
      const Order& order = *read;
      const int64_t now_ms = kT0Ms + 1 + step;
      Transition t;
      const uint64_t pick = random.NextBelow(6);
      if (order.status == OrderStatus::kAccepted) {
        t = pick == 0 ? Move(order, OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired")
                      : StartAttempt(order, OrderStatus::kCharging, now_ms);
      } else if (order.status == OrderStatus::kCharging || order.status == OrderStatus::kUnknown) {
        if (pick == 0) {
          t = Move(order, OrderStatus::kSuccess, now_ms, Attempt::kKeep, "succeeded");
        } else if (pick == 1) {
          t = Move(order, OrderStatus::kFailed, now_ms,
                   order.supplier_order_id.empty() ? Attempt::kKeep : Attempt::kClear, "failed");
        } else if (pick == 2) {
          t = Move(order, OrderStatus::kUnknown, now_ms, Attempt::kKeep, "timeout");
        } else if (pick == 3) {
          t = StartAttempt(order, OrderStatus::kCharging, now_ms);
        } else {
          t = Move(order, OrderStatus::kCharging, now_ms, Attempt::kClear, "attempt_failed");
        }
      } else {
        continue;
      }
      // A worker whose read is stale loses the compare-and-set; a failure keeps a live attempt
      // only when the read showed none, and starting one changes attempt_count, so no refusal.
      Result<bool> result = node.ApplyTransition(t);
      if (!result.ok()) {
        ADD_FAILURE() << result.status().ToString();
        return;
      }
      if (*result) {
        std::lock_guard<std::mutex> lock(mu);
        applied_events[id] += 1;
      } else {
        lost.fetch_add(1);
      }
    }
  });
  int failed = 0;
  for (const std::string& id : ids) {
    Order order = Get(id);
    EXPECT_EQ(EventCount(id), 1 + applied_events[id]) << id;
    failed += order.status == OrderStatus::kFailed ? 1 : 0;
  }
  int refunds = 0;
  for (const char* m : {"m1", "m2"}) {
    for (const LedgerEntry& entry : Ledger(m)) refunds += entry.kind == LedgerKind::kRefund;
  }
  EXPECT_EQ(refunds, failed);
  EXPECT_GT(lost.load(), 0) << "the workers never raced; the test proves nothing";
  ExpectBalanced();
}

// --- ApplyTransitions ---

// One batch, in no particular order, mixing every outcome: each result is that of its transition
// alone, what did not apply wrote nothing, and each failed order is refunded once.
TEST_P(StoreConformanceTest, ApplyTransitionsAnswersEachTransitionOnItsOwn) {
  AddMerchant("m1", 100'000);
  AddMerchant("m2", 100'000);
  std::map<std::string, Order> orders;
  for (int i = 1; i <= 9; ++i) {
    const std::string id = "o" + std::to_string(i);
    orders[id] = Accept(MakeOrder(id, i % 2 == 1 ? "m1" : "m2", "mo-" + id, 1000 + i));
  }
  // o3 and o9 have a live attempt.
  for (const char* id : {"o3", "o9"}) {
    ASSERT_EQ(store_->ApplyTransition(StartAttempt(orders[id], OrderStatus::kCharging, kT0Ms + 1))
                  .value(),
              true);
    orders[id] = Get(id);
  }

  const int64_t now_ms = kT0Ms + 100;
  Order stale_o4 = orders["o4"];
  stale_o4.status = OrderStatus::kCharging;
  Order stale_o6 = orders["o6"];
  stale_o6.status = OrderStatus::kUnknown;
  stale_o6.attempt_count = 2;
  Transition expire_o7 =
      Move(orders["o7"], OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired");
  expire_o7.fail_reason = "deadline_passed";
  const std::vector<Transition> batch = {
      expire_o7,                                                                      // 0: applies
      StartAttempt(orders["o2"], OrderStatus::kCharging, now_ms, "chan-b"),           // 1: applies
      Move(stale_o4, OrderStatus::kUnknown, now_ms, Attempt::kKeep, "timeout"),       // 2: lost
      Move(orders["o3"], OrderStatus::kFailed, now_ms, Attempt::kKeep, "gave_up"),    // 3: live
      Move(orders["o5"], OrderStatus::kSuccess, now_ms, Attempt::kKeep, "ok"),        // 4: invalid
      Move(stale_o6, OrderStatus::kFailed, now_ms, Attempt::kClear, "failed"),        // 5: lost
      Move(orders["o1"], OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired"),    // 6: applies
      StartAttempt(MakeOrder("o99", "m1", "mo-99"), OrderStatus::kCharging, now_ms),  // 7: none
      Move(orders["o8"], OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired"),    // 8: applies
      Move(orders["o9"], OrderStatus::kFailed, now_ms, Attempt::kClear, "failed"),    // 9: applies
  };
  std::vector<Result<bool>> results = store_->ApplyTransitions(batch);
  ASSERT_EQ(results.size(), batch.size());
  const std::vector<bool> applied = {true,  true, false, false, false,
                                     false, true, false, true,  true};
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i == 3 || i == 4) continue;
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    EXPECT_EQ(*results[i], applied[i]) << "transition " << i << " of " << batch[i].order_id;
  }
  EXPECT_EQ(results[3].status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(results[3].status().reason(), "live_attempt");
  EXPECT_EQ(results[4].status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(results[4].status().reason(), "invalid_transition");

  // What applied, with its event.
  Order o7 = Get("o7");
  EXPECT_EQ(o7.status, OrderStatus::kFailed);
  EXPECT_EQ(o7.fail_reason, "deadline_passed");
  EXPECT_EQ(o7.finished_ms, now_ms);
  Order o2 = Get("o2");
  EXPECT_EQ(o2.status, OrderStatus::kCharging);
  EXPECT_EQ(o2.attempt_count, 1);
  EXPECT_EQ(o2.supplier_order_id, "o2-1");
  EXPECT_EQ(o2.channel, "chan-b");
  EXPECT_EQ(o2.attempt_sent_ms, now_ms);
  EXPECT_EQ(Get("o1").status, OrderStatus::kFailed);
  EXPECT_EQ(Get("o8").status, OrderStatus::kFailed);
  Order o9 = Get("o9");
  EXPECT_EQ(o9.status, OrderStatus::kFailed);
  EXPECT_EQ(o9.supplier_order_id, "");
  for (const char* id : {"o1", "o2", "o7", "o8"}) EXPECT_EQ(EventCount(id), 2u) << id;
  EXPECT_EQ(EventCount("o9"), 3u);
  // What did not apply is as it was.
  for (const char* id : {"o4", "o5", "o6"}) {
    Order order = Get(id);
    EXPECT_EQ(order.status, OrderStatus::kAccepted) << id;
    EXPECT_EQ(order.updated_ms, kT0Ms) << id;
    EXPECT_EQ(EventCount(id), 1u) << id;
  }
  Order o3 = Get("o3");
  EXPECT_EQ(o3.status, OrderStatus::kCharging);
  EXPECT_EQ(o3.supplier_order_id, "o3-1");
  EXPECT_EQ(EventCount("o3"), 2u);
  EXPECT_EQ(store_->GetOrder("o99").status().reason(), "order_not_found");

  // Refunds: o1, o7 and o9 to m1, o8 to m2, each once, at the time of its transition.
  auto refunds = [&](const std::string& merchant_id) {
    std::map<std::string, LedgerEntry> by_order;
    for (const LedgerEntry& entry : Ledger(merchant_id)) {
      if (entry.kind != LedgerKind::kRefund) continue;
      EXPECT_EQ(by_order.count(entry.order_id), 0u) << "second refund of " << entry.order_id;
      by_order[entry.order_id] = entry;
    }
    return by_order;
  };
  std::map<std::string, LedgerEntry> m1_refunds = refunds("m1");
  std::map<std::string, LedgerEntry> m2_refunds = refunds("m2");
  EXPECT_EQ(m1_refunds.size(), 3u);
  EXPECT_EQ(m2_refunds.size(), 1u);
  EXPECT_EQ(m1_refunds["o1"].amount_fen, 1001);
  EXPECT_EQ(m1_refunds["o7"].amount_fen, 1007);
  EXPECT_EQ(m1_refunds["o7"].note, "deadline_passed");
  EXPECT_EQ(m1_refunds["o7"].created_ms, now_ms);
  EXPECT_EQ(m1_refunds["o9"].amount_fen, 1009);
  EXPECT_EQ(m2_refunds["o8"].amount_fen, 1008);
  const int64_t m1_fen = 100'000 - (1003 + 1005);  // o3 and o5 keep their price
  const int64_t m2_fen = 100'000 - (1002 + 1004 + 1006);
  EXPECT_EQ(Balance("m1"), m1_fen);
  EXPECT_EQ(Balance("m2"), m2_fen);
  ExpectBalanced();

  // The same batch again: every compare-and-set loses, and nothing is refunded twice.
  results = store_->ApplyTransitions(batch);
  ASSERT_EQ(results.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i == 3 || i == 4) continue;
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().ToString();
    EXPECT_FALSE(*results[i]) << "transition " << i << " of " << batch[i].order_id;
  }
  EXPECT_EQ(results[3].status().reason(), "live_attempt");
  EXPECT_EQ(results[4].status().reason(), "invalid_transition");
  EXPECT_EQ(Balance("m1"), m1_fen);
  EXPECT_EQ(Balance("m2"), m2_fen);
  EXPECT_EQ(Ledger("m1").size(), 1u + 5 + 3);
  EXPECT_EQ(Ledger("m2").size(), 1u + 4 + 1);
  EXPECT_EQ(EventCount("o7"), 2u);

  EXPECT_TRUE(store_->ApplyTransitions({}).empty());
  ExpectBalanced();
}

// A transition whose write fails (here: its refund would be a second one, against the ledger's
// once-per-order rule) fails alone, writes nothing, and leaves the rest of the batch applied.
TEST_P(StoreConformanceTest, ApplyTransitionsKeepsTheOthersWhenOneFailsToWrite) {
  AddMerchant("m1", 10'000);
  Order o1 = Accept(MakeOrder("o1", "m1", "mo-1", 1000));
  Order o2 = Accept(MakeOrder("o2", "m1", "mo-2", 1000));
  Order o3 = Accept(MakeOrder("o3", "m1", "mo-3", 1000));
  ASSERT_TRUE(backend_
                  ->Execute("INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, "
                            "balance_after_fen, created_ms, note) "
                            "VALUES ('m1', 'o2', 2, 1, 7001, 1, 'early refund')")
                  .ok());
  const std::vector<Transition> batch = {
      Move(o1, OrderStatus::kFailed, kT0Ms + 1, Attempt::kKeep, "expired"),
      Move(o2, OrderStatus::kFailed, kT0Ms + 1, Attempt::kKeep, "expired"),
      StartAttempt(o3, OrderStatus::kCharging, kT0Ms + 1),
  };
  std::vector<Result<bool>> results = store_->ApplyTransitions(batch);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_TRUE(*results[0]);
  EXPECT_FALSE(results[1].ok());
  ASSERT_TRUE(results[2].ok()) << results[2].status().ToString();
  EXPECT_TRUE(*results[2]);

  EXPECT_EQ(Get("o1").status, OrderStatus::kFailed);
  EXPECT_EQ(Get("o2").status, OrderStatus::kAccepted);
  EXPECT_EQ(EventCount("o2"), 1u);
  EXPECT_EQ(Get("o3").status, OrderStatus::kCharging);
  EXPECT_EQ(Balance("m1"), 10'000 - 2000);  // o1 refunded, o2 not
  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 6u);  // fund, 3 debits, the early refund, o1's refund
  EXPECT_EQ(ledger[5].order_id, "o1");
  EXPECT_EQ(ledger[5].kind, LedgerKind::kRefund);
  EXPECT_EQ(ledger[5].balance_after_fen, 10'000 - 2000);
}

// Batches from several nodes race for the same orders of several merchants, each batch listing
// them in its own order, as batches built from different queues would. Exactly one batch moves
// each order, each refund is written once, and no transition fails. Batches that took their locks
// in the order they were given would deadlock here; PostgreSQL takes a second (deadlock_timeout)
// to find each deadlock, so even batches that retried would be far slower than the bound below.
TEST_P(StoreConformanceTest, ConcurrentBatchesOnSeveralNodesHaveOneWinnerPerOrder) {
  constexpr int kOrders = 90;
  constexpr int kThreads = 6;
  const std::vector<std::string> merchants = {"m1", "m2", "m3"};
  for (const std::string& m : merchants) AddMerchant(m, 1'000'000);
  std::vector<std::string> ids;
  for (int i = 0; i < kOrders; ++i) {
    ids.push_back("o" + std::to_string(i));
    Accept(MakeOrder(ids.back(), merchants[i % merchants.size()], ids.back(), 100 + i));
  }
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(OpenStore());

  // Round 0 from accepted: each batch fails half of the orders and starts attempts on the others,
  // which half depending on the thread. Round 1 from charging: fail (clearing the attempt) or
  // succeed, the same way. Whichever batches win, some orders fail and some do not.
  std::map<std::string, int> winners;
  for (int round = 0; round < 2; ++round) {
    std::vector<Order> before;
    for (const std::string& id : ids) before.push_back(Get(id));
    std::vector<std::vector<std::string>> batch_ids(kThreads);
    std::vector<std::vector<Result<bool>>> results(kThreads);
    RunTogether(kThreads, [&](int t) {
      std::vector<int> mine(kOrders);
      for (int i = 0; i < kOrders; ++i) mine[i] = i;
      std::rotate(mine.begin(), mine.begin() + (t * 17) % kOrders, mine.end());
      if (t % 2 == 1) std::reverse(mine.begin(), mine.end());
      const int64_t now_ms = kT0Ms + 1000 * (round + 1) + t;
      std::vector<Transition> batch;
      for (int i : mine) {
        const Order& order = before[i];
        const bool fail = (t + i) % 2 == 0;
        if (order.status == OrderStatus::kAccepted) {
          batch.push_back(fail
                              ? Move(order, OrderStatus::kFailed, now_ms, Attempt::kKeep, "expired")
                              : StartAttempt(order, OrderStatus::kCharging, now_ms));
        } else if (order.status == OrderStatus::kCharging) {
          batch.push_back(
              fail ? Move(order, OrderStatus::kFailed, now_ms, Attempt::kClear, "failed")
                   : Move(order, OrderStatus::kSuccess, now_ms, Attempt::kKeep, "succeeded"));
        } else {
          continue;
        }
        batch_ids[t].push_back(order.order_id);
      }
      results[t] = nodes[t % nodes.size()]->ApplyTransitions(batch);
    });
    std::map<std::string, int> moved;
    for (int t = 0; t < kThreads; ++t) {
      ASSERT_EQ(results[t].size(), batch_ids[t].size());
      for (size_t i = 0; i < results[t].size(); ++i) {
        ASSERT_TRUE(results[t][i].ok()) << results[t][i].status().ToString();
        moved[batch_ids[t][i]] += *results[t][i] ? 1 : 0;
      }
    }
    for (const auto& [id, count] : moved) {
      EXPECT_EQ(count, 1) << id << " in round " << round;
      winners[id] += count;
    }
  }

  int failed = 0;
  for (const std::string& id : ids) {
    Order order = Get(id);
    EXPECT_TRUE(IsFinal(order.status) || order.status == OrderStatus::kCharging) << id;
    EXPECT_EQ(EventCount(id), 1u + winners[id]) << id;
    failed += order.status == OrderStatus::kFailed ? 1 : 0;
  }
  int refunds = 0;
  for (const std::string& m : merchants) {
    for (const LedgerEntry& entry : Ledger(m)) refunds += entry.kind == LedgerKind::kRefund;
  }
  EXPECT_EQ(refunds, failed);
  EXPECT_GT(failed, 0);
  ExpectBalanced();
}

// A batch larger than a backend is likely to write in one transaction, of orders accepted without
// waiting.
TEST_P(StoreConformanceTest, ApplyTransitionsTakesALargeBatch) {
  constexpr int kOrders = 700;
  constexpr int64_t kPriceFen = 100;
  AddMerchant("m1", kOrders * kPriceFen);
  auto answers = std::make_shared<AcceptAnswers>();
  std::vector<std::string> ids;
  for (int i = 0; i < kOrders; ++i) {
    char id[8];
    snprintf(id, sizeof(id), "o%03d", i);
    ids.push_back(id);
    store_->AcceptOrderAsync(MakeOrder(id, "m1", id, kPriceFen), Record(answers, id));
  }
  ASSERT_TRUE(answers->WaitFor(kOrders));
  std::vector<Transition> batch;
  for (int i = kOrders - 1; i >= 0; --i) {
    Result<AcceptResult> accepted = OnlyAnswer(*answers, ids[i]);
    ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
    ASSERT_TRUE(accepted->created);
    batch.push_back(i % 3 == 0 ? Move(accepted->order, OrderStatus::kFailed, kT0Ms + 1,
                                      Attempt::kKeep, "expired")
                               : StartAttempt(accepted->order, OrderStatus::kCharging, kT0Ms + 1));
  }
  std::vector<Result<bool>> results = store_->ApplyTransitions(batch);
  ASSERT_EQ(results.size(), batch.size());
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << batch[i].order_id << ": " << results[i].status().ToString();
    EXPECT_TRUE(*results[i]) << batch[i].order_id;
  }
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  const int failed = (kOrders + 2) / 3;
  EXPECT_EQ((*counts)[OrderStatus::kFailed], failed);
  EXPECT_EQ((*counts)[OrderStatus::kCharging], kOrders - failed);
  EXPECT_EQ(Balance("m1"), failed * kPriceFen);
  EXPECT_EQ(Ledger("m1").size(), 1u + kOrders + failed);
  ExpectBalanced();
}

// --- Leases and the sweeper ---

TEST_P(StoreConformanceTest, ClaimOrdersRespectsLeasesAndTheyLapse) {
  AddMerchant("m1", 100'000);
  for (const char* id : {"o1", "o2", "o3"}) Accept(MakeOrder(id, "m1", std::string("mo-") + id));
  Order o3 = Get("o3");
  ASSERT_TRUE(
      store_->ApplyTransition(Move(o3, OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
          .ok());

  const std::vector<std::string> ids = {"o2", "o1", "o3", "missing", "o1"};
  Result<std::vector<Order>> a = store_->ClaimOrders(ids, "worker-a", kT0Ms, 1000);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::vector<std::string> claimed;
  for (const Order& o : *a) {
    claimed.push_back(o.order_id);
    EXPECT_EQ(o.lease_owner, "worker-a");
    EXPECT_EQ(o.lease_expires_ms, kT0Ms + 1000);
    EXPECT_EQ(o.status, OrderStatus::kAccepted);
    EXPECT_EQ(o.merchant_id, "m1");
  }
  // Final and unknown ids skipped, duplicates claimed once, in the order asked.
  EXPECT_EQ(claimed, (std::vector<std::string>{"o2", "o1"}));

  // Held by a: b gets nothing until the lease lapses.
  Result<std::vector<Order>> b = store_->ClaimOrders(ids, "worker-b", kT0Ms + 999, 1000);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
  // a may claim again (and so extend) its own lease.
  Result<std::vector<Order>> a_again =
      store_->ClaimOrders(std::vector<std::string>{"o1"}, "worker-a", kT0Ms + 500, 1000);
  ASSERT_TRUE(a_again.ok());
  ASSERT_EQ(a_again->size(), 1u);
  EXPECT_EQ((*a_again)[0].lease_expires_ms, kT0Ms + 1500);

  // o2's lease lapses at kT0Ms + 1000; o1's at kT0Ms + 1500.
  b = store_->ClaimOrders(ids, "worker-b", kT0Ms + 1000, 1000);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].order_id, "o2");
  EXPECT_EQ(Get("o2").lease_owner, "worker-b");

  // a no longer holds o2: renewing does nothing to it, but extends o1.
  ASSERT_TRUE(
      store_->RenewLeases(std::vector<std::string>{"o1", "o2"}, "worker-a", kT0Ms + 1200, 5000)
          .ok());
  EXPECT_EQ(Get("o1").lease_expires_ms, kT0Ms + 6200);
  EXPECT_EQ(Get("o2").lease_owner, "worker-b");
  EXPECT_EQ(Get("o2").lease_expires_ms, kT0Ms + 2000);
  EXPECT_TRUE(store_->RenewLeases(std::vector<std::string>{}, "worker-a", kT0Ms, 5000).ok());

  // Releasing through a transition frees the order at once.
  Order o1 = Get("o1");
  Transition start = StartAttempt(o1, OrderStatus::kCharging, kT0Ms + 1300);
  start.release_lease = true;
  ASSERT_EQ(store_->ApplyTransition(start).value(), true);
  b = store_->ClaimOrders(std::vector<std::string>{"o1"}, "worker-b", kT0Ms + 1301, 1000);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].status, OrderStatus::kCharging);
  EXPECT_EQ((*b)[0].attempt_count, 1);

  EXPECT_EQ(store_->ClaimOrders(ids, "", kT0Ms, 1000).status().reason(), "invalid_lease");
  EXPECT_EQ(store_->ClaimOrders(ids, "w", kT0Ms, 0).status().reason(), "invalid_lease");
  EXPECT_EQ(store_->RenewLeases(ids, "", kT0Ms, 1000).reason(), "invalid_lease");
  std::vector<std::string> too_many(4097, "o1");
  EXPECT_EQ(store_->ClaimOrders(too_many, "w", kT0Ms, 1000).status().reason(), "too_many_orders");
  EXPECT_TRUE(store_->ClaimOrders(std::vector<std::string>{}, "w", kT0Ms, 1000)->empty());
}

// A node shutting down hands its leases back: the orders are free and due at once, for any
// sweeper, instead of after their leases would have lapsed.
TEST_P(StoreConformanceTest, ReleaseLeasesFreesOnlyTheOwnersOpenOrdersAndMakesThemDue) {
  AddMerchant("m1", 100'000);
  for (const char* id : {"o1", "o2", "o3", "o4"}) {
    Order order = MakeOrder(id, "m1", std::string("mo-") + id);
    order.next_check_ms = kT0Ms + 50'000;
    Accept(order);
  }
  ASSERT_EQ(
      store_->ClaimOrders(std::vector<std::string>{"o1", "o2", "o4"}, "worker-a", kT0Ms, 60'000)
          ->size(),
      3u);
  ASSERT_EQ(store_->ClaimOrders(std::vector<std::string>{"o3"}, "worker-b", kT0Ms, 60'000)->size(),
            1u);
  Order o4 = Get("o4");
  ASSERT_TRUE(
      store_->ApplyTransition(Move(o4, OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
          .ok());

  const int64_t now_ms = kT0Ms + 100;
  Result<int64_t> released = store_->ReleaseLeases("worker-a", now_ms);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(*released, 2);
  for (const char* id : {"o1", "o2"}) {
    const Order order = Get(id);
    EXPECT_EQ(order.lease_owner, "") << id;
    EXPECT_EQ(order.lease_expires_ms, 0) << id;
    EXPECT_EQ(order.next_check_ms, now_ms) << id;
  }
  EXPECT_EQ(Get("o3").lease_owner, "worker-b");  // someone else's
  EXPECT_EQ(Get("o3").next_check_ms, kT0Ms + 50'000);
  EXPECT_EQ(Get("o4").status, OrderStatus::kFailed);  // final: left as it is
  EXPECT_EQ(store_->ReleaseLeases("worker-a", now_ms).value(), 0);

  // Due and unleased at once: the sweeper takes them, and another worker claims them, long
  // before the released leases would have lapsed.
  Result<DueOrders> due = store_->TakeDueOrders(now_ms, 100, 5'000);
  ASSERT_TRUE(due.ok()) << due.status().ToString();
  EXPECT_EQ(AsSet(due->order_ids), (std::set<std::string>{"o1", "o2"}));
  EXPECT_EQ(due->lapsed_leases, 0) << "handed back, not lapsed";
  EXPECT_EQ(
      store_->ClaimOrders(std::vector<std::string>{"o1"}, "worker-c", now_ms + 1, 60'000)->size(),
      1u);

  // The sweep moved the next check to now_ms + 5 s: a release before then makes the order due at
  // the release, one after it leaves the earlier time.
  ASSERT_EQ(store_->ReleaseLeases("worker-c", now_ms + 500).value(), 1);
  EXPECT_EQ(Get("o1").next_check_ms, now_ms + 500);
  EXPECT_EQ(
      store_->ClaimOrders(std::vector<std::string>{"o2"}, "worker-c", now_ms + 1, 60'000)->size(),
      1u);
  ASSERT_EQ(store_->ReleaseLeases("worker-c", now_ms + 9'000).value(), 1);
  EXPECT_EQ(Get("o2").next_check_ms, now_ms + 5'000);

  EXPECT_EQ(store_->ReleaseLeases("", now_ms).status().reason(), "invalid_lease");
}

// The engine's first write of an order: one compare-and-set that takes the lease and starts the
// attempt, refused (writing nothing) while another node holds the lease.
TEST_P(StoreConformanceTest, AStartThatClaimsTakesTheLeaseUnlessAnotherNodeHoldsIt) {
  AddMerchant("m1", 100'000);
  for (const char* id : {"o1", "o2", "o3"}) Accept(MakeOrder(id, "m1", std::string("mo-") + id));
  std::unique_ptr<Store> other = OpenStore();
  ASSERT_EQ(other->ClaimOrders(std::vector<std::string>{"o2"}, "node-b", kT0Ms, 1000)->size(), 1u);

  auto claiming_start = [&](const std::string& order_id, int64_t now_ms) {
    Transition start = StartAttempt(Get(order_id), OrderStatus::kCharging, now_ms);
    start.claim_owner = "node-a";
    start.claim_lease_ms = 5000;
    return start;
  };
  ASSERT_EQ(store_->ApplyTransition(claiming_start("o1", kT0Ms + 10)).value(), true);
  Order o1 = Get("o1");
  EXPECT_EQ(o1.status, OrderStatus::kCharging);
  EXPECT_EQ(o1.attempt_count, 1);
  EXPECT_EQ(o1.lease_owner, "node-a");
  EXPECT_EQ(o1.lease_expires_ms, kT0Ms + 10 + 5000);
  EXPECT_EQ(EventCount("o1"), 2u);  // accepted, attempt_started

  // node-b's lease on o2 is live until kT0Ms + 1000: nothing is written, in one call or a batch.
  const size_t o2_events = EventCount("o2");
  EXPECT_EQ(store_->ApplyTransition(claiming_start("o2", kT0Ms + 999)).value(), false);
  const std::vector<Transition> batch = {claiming_start("o2", kT0Ms + 999),
                                         claiming_start("o3", kT0Ms + 999)};
  std::vector<Result<bool>> results = store_->ApplyTransitions(batch);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].value(), false);
  EXPECT_EQ(results[1].value(), true);
  Order o2 = Get("o2");
  EXPECT_EQ(o2.status, OrderStatus::kAccepted);
  EXPECT_EQ(o2.attempt_count, 0);
  EXPECT_EQ(o2.lease_owner, "node-b");
  EXPECT_EQ(o2.lease_expires_ms, kT0Ms + 1000);
  EXPECT_EQ(EventCount("o2"), o2_events);
  EXPECT_EQ(Get("o3").lease_owner, "node-a");

  // Once it lapses, the start claims it.
  ASSERT_EQ(store_->ApplyTransition(claiming_start("o2", kT0Ms + 1000)).value(), true);
  EXPECT_EQ(Get("o2").lease_owner, "node-a");
  EXPECT_EQ(Get("o2").attempt_count, 1);

  // The holder's own claim applies, and release_lease wins over the claim.
  Transition done = Move(Get("o1"), OrderStatus::kSuccess, kT0Ms + 2000, Attempt::kKeep, "ok");
  done.claim_owner = "node-a";
  done.claim_lease_ms = 5000;
  done.release_lease = true;
  ASSERT_EQ(store_->ApplyTransition(done).value(), true);
  EXPECT_EQ(Get("o1").lease_owner, "");
  EXPECT_EQ(Get("o1").lease_expires_ms, 0);
  // node-b's claim of an order node-a holds is refused.
  Transition stolen = Move(Get("o3"), OrderStatus::kSuccess, kT0Ms + 2000, Attempt::kKeep, "ok");
  stolen.claim_owner = "node-b";
  stolen.claim_lease_ms = 5000;
  EXPECT_EQ(other->ApplyTransition(stolen).value(), false);
  EXPECT_EQ(Get("o3").status, OrderStatus::kCharging);

  Transition no_lease = claiming_start("o3", kT0Ms + 3000);
  no_lease.claim_lease_ms = 0;
  EXPECT_EQ(store_->ApplyTransition(no_lease).status().reason(), "invalid_transition");
  ExpectBalanced();
}

TEST_P(StoreConformanceTest, ReadOrdersReadsInTheCallersOrderAndWritesNothing) {
  AddMerchant("m1", 100'000);
  for (const char* id : {"o1", "o2"}) Accept(MakeOrder(id, "m1", std::string("mo-") + id));
  const StoreWriteCounts before = store_->WriteCounts();
  Result<std::vector<Order>> read =
      store_->ReadOrders(std::vector<std::string>{"o2", "missing", "o1", "o2"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].order_id, "o2");
  EXPECT_EQ((*read)[1].order_id, "o1");
  EXPECT_EQ((*read)[1].merchant_id, "m1");
  EXPECT_EQ((*read)[1].status, OrderStatus::kAccepted);
  EXPECT_TRUE(store_->ReadOrders(std::vector<std::string>{})->empty());
  std::vector<std::string> too_many(4097, "o1");
  EXPECT_EQ(store_->ReadOrders(too_many).status().reason(), "too_many_orders");
  EXPECT_EQ(store_->WriteCounts().write_calls, before.write_calls);
  EXPECT_EQ(store_->WriteCounts().order_writes, before.order_writes);
}

// What the bench divides by the orders: each call that writes orders, and each order it names.
TEST_P(StoreConformanceTest, WriteCountsCountCallsAndOrderRows) {
  AddMerchant("m1", 100'000);
  const StoreWriteCounts start = store_->WriteCounts();
  for (const char* id : {"o1", "o2"}) Accept(MakeOrder(id, "m1", std::string("mo-") + id));
  const std::vector<std::string> ids = {"o1", "o2"};
  ASSERT_EQ(store_->ClaimOrders(ids, "w", kT0Ms, 1000)->size(), 2u);
  ASSERT_TRUE(store_->RenewLeases(ids, "w", kT0Ms, 1000).ok());
  const std::vector<Transition> starts = {StartAttempt(Get("o1"), OrderStatus::kCharging, kT0Ms),
                                          StartAttempt(Get("o2"), OrderStatus::kCharging, kT0Ms)};
  for (const Result<bool>& applied : store_->ApplyTransitions(starts)) {
    EXPECT_EQ(applied.value(), true);
  }
  const StoreWriteCounts end = store_->WriteCounts();
  // Two accepts, a claim, a renewal and a batch of transitions.
  EXPECT_EQ(end.write_calls - start.write_calls, 5);
  EXPECT_EQ(end.order_writes - start.order_writes, 8);
}

// Workers on several nodes claim the same orders at the same moment: each order gets one owner.
TEST_P(StoreConformanceTest, ConcurrentClaimsGiveEachOrderOneOwner) {
  constexpr int kOrders = 60;
  constexpr int kThreads = 8;
  AddMerchant("m1", 1'000'000);
  std::vector<std::string> ids;
  for (int i = 0; i < kOrders; ++i) {
    ids.push_back("o" + std::to_string(i));
    Accept(MakeOrder(ids.back(), "m1", ids.back()));
  }
  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 3; ++n) nodes.push_back(OpenStore());
  std::vector<std::vector<std::string>> claimed(kThreads);
  RunTogether(kThreads, [&](int t) {
    // Each worker asks in its own order, as batches from different queues would.
    std::vector<std::string> mine = ids;
    std::rotate(mine.begin(), mine.begin() + (t * 7) % kOrders, mine.end());
    if (t % 2 == 1) std::reverse(mine.begin(), mine.end());
    Result<std::vector<Order>> got =
        nodes[t % nodes.size()]->ClaimOrders(mine, "worker-" + std::to_string(t), kT0Ms, 30'000);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    for (const Order& o : *got) claimed[t].push_back(o.order_id);
  });
  std::map<std::string, int> owners;
  for (int t = 0; t < kThreads; ++t) {
    for (const std::string& id : claimed[t]) {
      owners[id] += 1;
      EXPECT_EQ(Get(id).lease_owner, "worker-" + std::to_string(t));
    }
  }
  EXPECT_EQ(owners.size(), static_cast<size_t>(kOrders));
  for (const auto& [id, count] : owners) EXPECT_EQ(count, 1) << id;
}

TEST_P(StoreConformanceTest, TakeDueOrdersSkipsLeasedAndFinalAndDoesNotRepeat) {
  AddMerchant("m1", 1'000'000);
  // o0..o9 due at kT0Ms + i*100.
  for (int i = 0; i < 10; ++i) {
    Order order = MakeOrder("o" + std::to_string(i), "m1", "mo-" + std::to_string(i));
    order.next_check_ms = kT0Ms + i * 100;
    Accept(order);
  }
  // o1 is leased, o2 has failed, o3 succeeded.
  ASSERT_EQ(store_->ClaimOrders(std::vector<std::string>{"o1"}, "w", kT0Ms, 60'000)->size(), 1u);
  ASSERT_TRUE(
      store_
          ->ApplyTransition(Move(Get("o2"), OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
          .ok());
  Order o3 = Get("o3");
  ASSERT_TRUE(store_->ApplyTransition(StartAttempt(o3, OrderStatus::kCharging, kT0Ms)).ok());
  o3 = Get("o3");
  Transition done = Move(o3, OrderStatus::kSuccess, kT0Ms, Attempt::kKeep, "succeeded");
  done.next_check_ms = kT0Ms;  // still "due": only the status keeps it out
  ASSERT_TRUE(store_->ApplyTransition(done).ok());
  EXPECT_EQ(Get("o2").next_check_ms, kT0Ms + 5000);

  constexpr int64_t kRedeliverMs = 30'000;
  const int64_t now_ms = kT0Ms + 450;  // o0..o4 are due
  Result<DueOrders> due = store_->TakeDueOrders(now_ms, 100, kRedeliverMs);
  ASSERT_TRUE(due.ok()) << due.status().ToString();
  EXPECT_EQ(AsSet(due->order_ids), (std::set<std::string>{"o0", "o4"}));
  EXPECT_EQ(due->order_ids.size(), 2u);
  EXPECT_EQ(Get("o0").next_check_ms, now_ms + kRedeliverMs);

  // Within redeliver_after: the taken ones are not returned again, newly due ones are.
  Result<DueOrders> later = store_->TakeDueOrders(kT0Ms + 650, 100, kRedeliverMs);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(AsSet(later->order_ids), (std::set<std::string>{"o5", "o6"}));

  // The limit holds, earliest due first.
  Result<DueOrders> limited = store_->TakeDueOrders(kT0Ms + 10'000, 2, kRedeliverMs);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(AsSet(limited->order_ids), (std::set<std::string>{"o7", "o8"}));

  // Once redeliver_after has passed since an order was taken, it comes back if still open; o1
  // only once its lease lapsed.
  Result<DueOrders> again = store_->TakeDueOrders(now_ms + kRedeliverMs, 100, kRedeliverMs);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(AsSet(again->order_ids), (std::set<std::string>{"o0", "o4", "o9"}));
  Result<DueOrders> lapsed = store_->TakeDueOrders(kT0Ms + 60'000, 100, kRedeliverMs);
  ASSERT_TRUE(lapsed.ok());
  EXPECT_EQ(AsSet(lapsed->order_ids), (std::set<std::string>{"o1", "o5", "o6", "o7", "o8"}));
  // o1's lease lapsed without being released: counted, and cleared so that it counts once.
  EXPECT_EQ(lapsed->lapsed_leases, 1);
  EXPECT_EQ(Get("o1").lease_owner, "");
  EXPECT_EQ(
      due->lapsed_leases + later->lapsed_leases + limited->lapsed_leases + again->lapsed_leases, 0);
  EXPECT_EQ(store_->TakeDueOrders(kT0Ms, 10, 0).status().reason(), "invalid_redelivery");
  EXPECT_TRUE(store_->TakeDueOrders(kT0Ms + 99'000, 0, kRedeliverMs)->order_ids.empty());
  // Final orders never come back.
  Result<DueOrders> much_later = store_->TakeDueOrders(kT0Ms + 10'000'000, 100, kRedeliverMs);
  ASSERT_TRUE(much_later.ok());
  EXPECT_EQ(much_later->order_ids.size(), 8u);
  EXPECT_EQ(much_later->lapsed_leases, 0);
  EXPECT_EQ(AsSet(much_later->order_ids).count("o2") + AsSet(much_later->order_ids).count("o3"),
            0u);
}

// Sweepers on several nodes run at once, several threads each: within one redelivery window no
// order is handed out twice, and every due order is handed out.
TEST_P(StoreConformanceTest, ConcurrentSweepersOnSeveralNodesNeverTakeTheSameOrder) {
  constexpr int kOrders = 300;
  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  constexpr size_t kBatch = 7;
  AddMerchant("m1", 10'000'000);
  for (int i = 0; i < kOrders; ++i) {
    Accept(MakeOrder("o" + std::to_string(i), "m1", std::to_string(i)));
  }
  // Some orders are leased by a worker and must not be handed out at all.
  std::vector<std::string> leased;
  for (int i = 0; i < kOrders; i += 10) leased.push_back("o" + std::to_string(i));
  ASSERT_EQ(store_->ClaimOrders(leased, "busy", kT0Ms, 60'000)->size(), leased.size());

  std::vector<std::unique_ptr<Store>> nodes;
  for (int n = 0; n < 4; ++n) nodes.push_back(OpenStore());
  std::vector<std::vector<std::string>> taken(kThreads);
  RunTogether(kThreads, [&](int s) {
    for (int round = 0; round < kRounds; ++round) {
      Result<DueOrders> due =
          nodes[s % nodes.size()]->TakeDueOrders(kT0Ms + 1 + round, kBatch, 60'000);
      ASSERT_TRUE(due.ok()) << due.status().ToString();
      EXPECT_LE(due->order_ids.size(), kBatch);
      taken[s].insert(taken[s].end(), due->order_ids.begin(), due->order_ids.end());
    }
  });
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& ids : taken) {
    total += ids.size();
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(total, all.size()) << "an order was taken twice";
  for (const std::string& id : leased) EXPECT_EQ(all.count(id), 0u) << id << " is leased";
  // SKIP LOCKED may make a sweep return short, so the rounds take at most, not exactly, their
  // batches; what they leave is still due and is taken by the next sweep.
  const size_t open = kOrders - leased.size();
  EXPECT_LE(total, open);
  Result<DueOrders> rest = store_->TakeDueOrders(kT0Ms + 100, 4096, 60'000);
  ASSERT_TRUE(rest.ok());
  for (const std::string& id : rest->order_ids)
    EXPECT_EQ(all.count(id), 0u) << id << " taken twice";
  EXPECT_EQ(total + rest->order_ids.size(), open);
}

// --- Listing and counting ---

TEST_P(StoreConformanceTest, ListAndCountOrders) {
  AddMerchant("m1", 1'000'000);
  // Byte order, not a locale's: upper case before lower case, '-' before digits.
  const std::vector<std::string> odd_ids = {"O-1", "o-2", "oA", "oa"};
  for (int i = 0; i < 25; ++i) {
    char id[8];
    snprintf(id, sizeof(id), "o%02d", i);
    Accept(MakeOrder(id, "m1", id));
  }
  for (const std::string& id : odd_ids) Accept(MakeOrder(id, "m1", id));
  ASSERT_TRUE(store_
                  ->ApplyTransition(
                      Move(Get("o03"), OrderStatus::kFailed, kT0Ms, Attempt::kKeep, "expired"))
                  .ok());
  std::vector<std::string> seen;
  std::string after;
  for (int page_no = 0; page_no < 100; ++page_no) {
    Result<std::vector<Order>> page = store_->ListOrders(after, 10);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    EXPECT_LE(page->size(), 10u);
    for (const Order& o : *page) seen.push_back(o.order_id);
    after = page->back().order_id;
  }
  ASSERT_EQ(seen.size(), 29u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << "not in byte order";
  EXPECT_EQ(seen.front(), "O-1");
  EXPECT_EQ(store_->ListOrders("", 0)->size(), 0u);
  Result<OrderCounts> counts = store_->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], 28);
  EXPECT_EQ((*counts)[OrderStatus::kFailed], 1);
  EXPECT_EQ((*counts)[OrderStatus::kSuccess], 0);
  EXPECT_EQ(counts->size(), 5u);
}

TEST_P(StoreConformanceTest, SummarizeOpenOrdersCountsOnlyOpenOrders) {
  AddMerchant("m1", 1'000'000);
  Result<OpenOrdersSummary> empty = store_->SummarizeOpenOrders(kT0Ms);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->open_by_status.size(), 3u);
  EXPECT_EQ(empty->oldest_created_ms, 0);
  EXPECT_EQ(empty->held_fen, 0);

  Accept(MakeOrder("o1", "m1", "mo-1", 1000, kT0Ms + 10));
  Accept(MakeOrder("o2", "m1", "mo-2", 2000, kT0Ms + 20));
  Accept(MakeOrder("o3", "m1", "mo-3", 4000, kT0Ms + 30));
  Accept(MakeOrder("o4", "m1", "mo-4", 8000, kT0Ms + 40));
  ASSERT_TRUE(store_
                  ->ApplyTransition(
                      Move(Get("o1"), OrderStatus::kFailed, kT0Ms + 50, Attempt::kKeep, "expired"))
                  .ok());
  ASSERT_TRUE(
      store_->ApplyTransition(StartAttempt(Get("o2"), OrderStatus::kCharging, kT0Ms + 60)).ok());
  // o3's lease lapses at kT0Ms + 1'100; o4's is live until kT0Ms + 100'000.
  ASSERT_TRUE(store_->ClaimOrders(std::vector<std::string>{"o3"}, "w1", kT0Ms + 100, 1'000).ok());
  ASSERT_TRUE(store_->ClaimOrders(std::vector<std::string>{"o4"}, "w1", kT0Ms + 100, 100'000).ok());

  Result<OpenOrdersSummary> summary = store_->SummarizeOpenOrders(kT0Ms + 2'000);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->open_by_status[OrderStatus::kAccepted], 2);
  EXPECT_EQ(summary->open_by_status[OrderStatus::kCharging], 1);
  EXPECT_EQ(summary->open_by_status[OrderStatus::kUnknown], 0);
  EXPECT_EQ(summary->open_by_status.count(OrderStatus::kFailed), 0u);
  EXPECT_EQ(summary->oldest_created_ms, kT0Ms + 20);
  EXPECT_EQ(summary->held_fen, 2000 + 4000 + 8000);
  EXPECT_EQ(summary->lapsed_leases, 1);
}

TEST_P(StoreConformanceTest, ProbeCommitSucceedsOnAWorkingStore) {
  EXPECT_TRUE(store_->ProbeCommit().ok());
  AddMerchant("m1", 1000);  // and writes still work afterwards
  EXPECT_EQ(Balance("m1"), 1000);
}

// --- Durability and the audit ---

// The writes are made by a child process that is then SIGKILLed with its store open.
TEST_P(StoreConformanceTest, EverythingSurvivesACrashAndReopening) {
  store_.reset();
  Status crashed = backend_->CrashAfter([&]() -> Store* {
    store_ = OpenStore();
    if (store_ == nullptr) return nullptr;
    AddMerchant("m1", 5000);
    if (!store_->AcceptOrder(MakeOrder("o1", "m1", "mo-1", 1000)).ok() ||
        !store_->AcceptOrder(MakeOrder("o2", "m1", "mo-2", 1000)).ok()) {
      return nullptr;
    }
    Order o2 = Get("o2");
    if (!store_->ApplyTransition(StartAttempt(o2, OrderStatus::kCharging, kT0Ms + 1)).ok()) {
      return nullptr;
    }
    o2 = Get("o2");
    if (!store_
             ->ApplyTransition(Move(o2, OrderStatus::kFailed, kT0Ms + 2, Attempt::kClear, "failed"))
             .ok()) {
      return nullptr;
    }
    Result<std::vector<Order>> claimed =
        store_->ClaimOrders(std::vector<std::string>{"o1"}, "w", kT0Ms, 9000);
    if (!claimed.ok() || claimed->size() != 1 || HasFailure()) return nullptr;
    return store_.get();
  });
  ASSERT_TRUE(crashed.ok()) << crashed.ToString();

  store_ = OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Balance("m1"), 4000);
  Order o1 = Get("o1");
  EXPECT_EQ(o1.status, OrderStatus::kAccepted);
  EXPECT_EQ(o1.lease_owner, "w");
  EXPECT_EQ(o1.lease_expires_ms, kT0Ms + 9000);
  Order o2 = Get("o2");
  EXPECT_EQ(o2.status, OrderStatus::kFailed);
  EXPECT_EQ(o2.attempt_count, 1);
  EXPECT_EQ(o2.channel, "sim");
  EXPECT_EQ(EventCount("o2"), 3u);
  EXPECT_EQ(Ledger("m1").size(), 4u);  // fund, debit, debit, refund
  Result<LedgerAudit> audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
  EXPECT_EQ(audit->funded_fen, 5000);
  EXPECT_EQ(audit->debited_fen, 2000);
  EXPECT_EQ(audit->refunded_fen, 1000);
  EXPECT_EQ(audit->balance_fen, 4000);
  EXPECT_EQ(audit->open_and_succeeded_price_fen, 1000);
  EXPECT_EQ(audit->merchants, 1);
  // Idempotency holds across the restart too.
  Result<AcceptResult> retry = store_->AcceptOrder(MakeOrder("o9", "m1", "mo-1", 1000));
  ASSERT_TRUE(retry.ok());
  EXPECT_FALSE(retry->created);
  EXPECT_EQ(retry->order.order_id, "o1");
  // The ledger goes on from where it was.
  Accept(MakeOrder("o3", "m1", "mo-3", 500));
  std::vector<LedgerEntry> ledger = Ledger("m1");
  ASSERT_EQ(ledger.size(), 5u);
  EXPECT_GT(ledger[4].entry_id, ledger[3].entry_id);
  ExpectBalanced();
}

TEST_P(StoreConformanceTest, AuditFindsTamperingAndTheLedgerIsAppendOnly) {
  AddMerchant("m1", 10'000);
  AddMerchant("m2", 10'000);
  Accept(MakeOrder("o1", "m1", "mo-1"));
  ExpectBalanced();

  EXPECT_FALSE(backend_->Execute("UPDATE ledger SET amount_fen = 0").ok());
  EXPECT_FALSE(backend_->Execute("DELETE FROM ledger").ok());
  EXPECT_FALSE(backend_->Execute("DELETE FROM order_events").ok());
  EXPECT_FALSE(backend_->Execute("UPDATE order_events SET kind = 'x'").ok());
  EXPECT_FALSE(
      backend_->Execute("UPDATE merchants SET balance_fen = -1 WHERE merchant_id = 'm1'").ok());
  EXPECT_FALSE(backend_
                   ->Execute("INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, "
                             "balance_after_fen, created_ms, note) "
                             "VALUES ('m1', 'o1', 1, -1000, 8000, 1, 'second debit')")
                   .ok());
  ExpectBalanced();

  // Money appearing from nowhere, and an order that escaped its debit's bookkeeping.
  ASSERT_TRUE(
      backend_
          ->Execute("UPDATE merchants SET balance_fen = balance_fen + 7 WHERE merchant_id = 'm2'")
          .ok());
  ASSERT_TRUE(backend_->Execute("UPDATE orders SET price_fen = 999 WHERE order_id = 'o1'").ok());
  Result<LedgerAudit> audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_FALSE(audit->balanced);
  EXPECT_NE(audit->problems.find("merchant m2"), std::string::npos) << audit->problems;
  EXPECT_NE(audit->problems.find("order o1"), std::string::npos) << audit->problems;
}

// --- Load ---

// 16 threads accepting at once, first all for one merchant (every debit takes the same balance
// row, the worst case), then each for its own. Prints the rates; checks that every fen is
// accounted for.
TEST_P(StoreConformanceTest, SixteenThreadsAcceptingStayBalanced) {
  constexpr int kThreads = 16;
  constexpr int kOrdersPerThread = 250;
  constexpr int64_t kPriceFen = 1000;
  AddMerchant("shared", kThreads * kOrdersPerThread * kPriceFen);
  for (int t = 0; t < kThreads; ++t) {
    AddMerchant("own" + std::to_string(t), kOrdersPerThread * kPriceFen + 1);
  }
  for (bool shared : {true, false}) {
    std::atomic<int> errors{0};
    const auto start = std::chrono::steady_clock::now();
    RunTogether(kThreads, [&](int t) {
      const std::string merchant_id = shared ? "shared" : "own" + std::to_string(t);
      for (int i = 0; i < kOrdersPerThread; ++i) {
        const std::string id = merchant_id + "-" + std::to_string(t) + "-" + std::to_string(i);
        Result<AcceptResult> accepted =
            store_->AcceptOrder(MakeOrder(id, merchant_id, id, kPriceFen));
        if (!accepted.ok() || !accepted->created) errors.fetch_add(1);
      }
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ %-8s ] %d accepts, %d threads, %s: %.2f s, %.0f accepts/s\n", GetParam().c_str(),
                kThreads * kOrdersPerThread, kThreads,
                shared ? "one merchant" : "a merchant per thread", seconds,
                kThreads * kOrdersPerThread / seconds);
    EXPECT_EQ(errors.load(), 0);
  }
  EXPECT_EQ(Balance("shared"), 0);
  EXPECT_EQ(store_->AcceptOrder(MakeOrder("extra", "shared", "extra", kPriceFen)).status().reason(),
            "insufficient_balance");
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(Balance("own" + std::to_string(t)), 1);
  Result<LedgerAudit> audit = store_->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
  EXPECT_EQ(audit->debited_fen, int64_t{2} * kThreads * kOrdersPerThread * kPriceFen);
  EXPECT_EQ(audit->balance_fen, kThreads);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest, ::testing::ValuesIn(BackendNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace topup::store_conformance
